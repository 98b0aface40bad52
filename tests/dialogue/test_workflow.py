"""The booking workflow: every table row, then whole conversations and edge cases."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.base.events import ToolCall
from agent.business.company import EXAMPLE_COMPANIES, CompanyProfile, parse_company
from agent.dialogue.slots import Intent, Slots, TimeWindow
from agent.dialogue.tools import InvalidToolCall, ToolResult
from agent.dialogue.workflow import (
    ANY,
    FINAL_STATES,
    TABLE,
    BookingWorkflow,
    Dtmf,
    Kind,
    Say,
    Silence,
    Start,
    State,
    Utterance,
    WorkflowConfig,
)
from agent.dialogue.workflow_build import ACTION_NAMES

TZ = ZoneInfo("Europe/London")
DATA = json.loads(EXAMPLE_COMPANIES.read_text())
PLUMBER = parse_company(DATA["companies"][0])  # emergency -> transfer to on-call
SPARKS = parse_company(DATA["companies"][1])  # emergency -> priority booking
_lonely = copy.deepcopy(DATA["companies"][1])
_lonely["transfer_targets"] = []
LONELY = parse_company(_lonely)  # nobody to transfer to

TUESDAY_10 = datetime(2025, 5, 13, 10, 0, tzinfo=TZ).timestamp()  # open (BST)
SUNDAY_10 = datetime(2025, 5, 18, 10, 0, tzinfo=TZ).timestamp()  # closed
SLOT_A = ("2025-05-14T09:00:00+01:00", "2025-05-14T11:00:00+01:00")
SLOT_B = ("2025-05-14T11:00:00+01:00", "2025-05-14T13:00:00+01:00")
SLOTS = {"slots": [{"start": a, "end": b} for a, b in (SLOT_A, SLOT_B)]}
WINDOW = TimeWindow(TUESDAY_10 + 86400, TUESDAY_10 + 2 * 86400, "tomorrow")
NOW = TUESDAY_10


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def make(profile: CompanyProfile = PLUMBER, now: float = NOW, **config: Any) -> BookingWorkflow:
    return BookingWorkflow(profile, "call-1", now, config=WorkflowConfig(**config))


def fill(wf: BookingWorkflow, *, skip: tuple[str, ...] = ()) -> None:
    values = {
        "service_id": "leak_repair",
        "problem": "leaking tap",
        "name": "Sarah Jones",
        "address": "12 Baker Street",
        "postcode": "SW1A 1AA",
        "phone": "+447700900123",
        "when": WINDOW,
    }
    for key, value in values.items():
        if key not in skip:
            setattr(wf.data, key, value)


def with_offer(wf: BookingWorkflow) -> None:
    fill(wf)
    wf.data.offers = [(epoch(SLOT_A[0]), epoch(SLOT_A[1])), (epoch(SLOT_B[0]), epoch(SLOT_B[1]))]
    wf.data.offer_index, wf.data.offer_open = 0, True


def said(actions: tuple[Any, ...]) -> list[str]:
    return [a.key for a in actions if isinstance(a, Say)]


def text(actions: tuple[Any, ...]) -> str:
    return " ".join(a.text for a in actions if isinstance(a, Say))


# --- every row of the table ---------------------------------------------------

YES = Utterance("yes please", intent=Intent.YES)
NO = Utterance("no", intent=Intent.NO)


def _pending(tool: str, status: str = "ok", data: dict[str, Any] | None = None, **kw: Any):
    def prepare(wf: BookingWorkflow) -> ToolResult:
        fill(wf)
        if tool == "book_appointment":
            with_offer(wf)
            wf.data.chosen = wf.data.offers[0]
            wf.data.booking_request()
        wf.data.pending_tool = tool
        return ToolResult(tool, status, data or {}, **kw)  # type: ignore[arg-type]

    return prepare


def _model(name: str, args: dict[str, Any]):
    def prepare(wf: BookingWorkflow) -> ToolCall:
        with_offer(wf)
        return ToolCall("t1", name, json.dumps(args))

    return prepare


def _utter(utterance: Utterance, prep=None):
    def prepare(wf: BookingWorkflow) -> Utterance:
        if prep is not None:
            prep(wf)
        return utterance

    return prepare


def _prep_collect_missing(*skip: str):
    return lambda wf: fill(wf, skip=skip)


def _prep_caller_id(wf: BookingWorkflow) -> None:
    wf.data.caller_id = "+447700900555"


def _prep_close_booked(wf: BookingWorkflow) -> None:
    fill(wf)
    wf.data.booking_id = "B1"


def _prep_silence_limit(wf: BookingWorkflow) -> None:
    wf.silences = 3


def _prep_ready_to_book(wf: BookingWorkflow) -> None:
    with_offer(wf)
    wf.data.offer_open, wf.data.chosen, wf.data.postcode = False, wf.data.offers[0], None


def _prep_phone_entry(wf: BookingWorkflow) -> None:
    fill(wf, skip=("phone", "when"))


def _prep_unknown_service(wf: BookingWorkflow) -> None:
    wf.data.service_id = None


def _prep_new_service(wf: BookingWorkflow) -> None:
    fill(wf)


def _prep_area_confirmed(wf: BookingWorkflow) -> None:
    fill(wf)
    wf.data.postcode, wf.data.area_pending = "N1 9GU", True


def _prep_spelling(wf: BookingWorkflow) -> None:
    fill(wf, skip=("address", "postcode", "phone", "when"))
    wf.data.spelling = ("address", "15 part lane")


def _prep_missed_service_once(wf: BookingWorkflow) -> None:
    wf.data.service_id, wf.data.misses["service"] = None, 1


def _prep_missed(detail: str, *more: str):
    def prepare(wf: BookingWorkflow) -> None:
        fill(wf, skip=(detail, "phone", "when"))
        if wf.state is State.UNDERSTAND:
            wf.data.service_id = None
        for missed in (detail, *more):
            wf.data.misses[missed] = wf.config.max_misses

    return prepare


def _amend_result(status: str, data: dict[str, Any] | None = None):
    def prepare(wf: BookingWorkflow) -> ToolResult:
        _prep_close_booked(wf)
        wf.data.pending_tool = "amend_booking"
        wf.data.amending = (("address", "41 Baker Street"),)
        return ToolResult("amend_booking", status, data or {})  # type: ignore[arg-type]

    return prepare


def _move_result(status: str, data: dict[str, Any] | None = None):
    def prepare(wf: BookingWorkflow) -> ToolResult:
        _prep_close_booked(wf)
        wf.data.pending_tool = "amend_booking"
        wf.data.moving = (epoch(SLOT_B[0]), epoch(SLOT_B[1]))
        return ToolResult("amend_booking", status, data or {})  # type: ignore[arg-type]

    return prepare


def _model_booked(name: str, args: dict[str, Any]):
    def prepare(wf: BookingWorkflow) -> ToolCall:
        _prep_close_booked(wf)
        return ToolCall("t1", name, json.dumps(args))

    return prepare


BOOK_ARGS = {
    "service_id": "leak_repair",
    "slot_start": SLOT_A[0],
    "slot_end": SLOT_A[1],
    "name": "Sarah Jones",
    "phone": "07700 900123",
    "address": "12 Baker Street",
    "postcode": "SW1A 1AA",
}

# kind -> (profile, how to make the input); the input's kind must come out as ``kind``.
INPUTS: dict[Kind, tuple[CompanyProfile, Any]] = {
    Kind.START: (PLUMBER, lambda wf: Start()),
    Kind.PROBLEM: (
        PLUMBER,
        _utter(
            Utterance("my boiler died", slots=Slots(service_id="boiler_repair")), _prep_new_service
        ),
    ),
    Kind.NEED_SERVICE: (PLUMBER, _utter(Utterance("something odd"), _prep_unknown_service)),
    Kind.EMERGENCY_TRANSFER: (PLUMBER, _utter(Utterance("my kitchen is flooding"))),
    Kind.EMERGENCY_BOOKING: (SPARKS, _utter(Utterance("the socket is sparking"))),
    Kind.DETAILS: (
        PLUMBER,
        _utter(
            Utterance("Sarah", slots=Slots(name="Sarah")), _prep_collect_missing("name", "phone")
        ),
    ),
    Kind.DETAILS_READY: (
        PLUMBER,
        _utter(Utterance("tomorrow", slots=Slots(when=WINDOW)), _prep_collect_missing("when")),
    ),
    Kind.READY_TO_BOOK: (
        PLUMBER,
        _utter(Utterance("SW1A 1AA", slots=Slots(postcode="SW1A 1AA")), _prep_ready_to_book),
    ),
    Kind.INVALID_DETAIL: (
        PLUMBER,
        _utter(Utterance("XYZ", slots=Slots(postcode="XYZ")), _prep_collect_missing("postcode")),
    ),
    Kind.OUT_OF_AREA: (
        PLUMBER,
        _utter(YES, _prep_area_confirmed),  # the caller confirmed the postcode heard
    ),
    Kind.YES: (PLUMBER, _utter(YES)),
    Kind.NO: (PLUMBER, _utter(NO)),
    Kind.ACCEPT_SLOT: (PLUMBER, _utter(YES, with_offer)),
    Kind.REJECT_SLOT: (PLUMBER, _utter(NO, with_offer)),
    Kind.HUMAN: (PLUMBER, _utter(Utterance("a person", intent=Intent.HUMAN))),
    Kind.HUMAN_UNAVAILABLE: (LONELY, _utter(Utterance("a person", intent=Intent.HUMAN))),
    Kind.CALLBACK: (PLUMBER, _utter(Utterance("can you call me back later?"), _prep_caller_id)),
    Kind.CANCEL: (PLUMBER, _utter(Utterance("I need to cancel it"), _prep_close_booked)),
    Kind.DONT_KNOW: (
        PLUMBER,
        _utter(Utterance("I don't know the postcode"), _prep_collect_missing("postcode")),
    ),
    Kind.ANOTHER_JOB: (
        PLUMBER,
        _utter(
            Utterance("and my boiler", slots=Slots(service_id="boiler_repair")), _prep_close_booked
        ),
    ),
    Kind.GOODBYE: (PLUMBER, _utter(Utterance("bye", intent=Intent.GOODBYE))),
    Kind.UNCLEAR: (PLUMBER, _utter(Utterance(""), _prep_new_service)),  # e.g. only noise
    Kind.LOW_CONFIDENCE: (PLUMBER, _utter(Utterance("mumble", confidence=0.2))),
    Kind.SILENCE: (PLUMBER, lambda wf: Silence()),
    Kind.SILENCE_LIMIT: (PLUMBER, lambda wf: (_prep_silence_limit(wf), Silence())[1]),
    Kind.DIGIT: (PLUMBER, lambda wf: (_prep_phone_entry(wf), Dtmf("0"))[1]),
    Kind.QUOTED: (PLUMBER, _pending("get_quote")),
    Kind.QUOTE_FAILED: (PLUMBER, _pending("get_quote", "failed")),
    Kind.SLOTS_FOUND: (PLUMBER, _pending("check_availability", data=SLOTS)),
    Kind.NO_SLOTS: (PLUMBER, _pending("check_availability", data={"slots": []})),
    Kind.AVAILABILITY_FAILED: (PLUMBER, _pending("check_availability", "failed")),
    Kind.BOOKED: (PLUMBER, _pending("book_appointment", data={"booking_id": "B1"})),
    Kind.BOOKING_FAILED: (PLUMBER, _pending("book_appointment", "failed")),
    Kind.SLOT_TAKEN: (PLUMBER, _pending("book_appointment", "slot_taken")),
    Kind.BOOKING_INVALID: (PLUMBER, _pending("book_appointment", "invalid", field="phone")),
    Kind.MODEL_QUOTE: (PLUMBER, _model("get_quote", {"service_id": "leak_repair"})),
    Kind.MODEL_AVAILABILITY: (
        PLUMBER,
        _model(
            "check_availability",
            {
                "service_id": "leak_repair",
                "postcode": "SW1A 1AA",
                "earliest": SLOT_A[0],
                "latest": SLOT_B[1],
            },
        ),
    ),
    Kind.MODEL_BOOK: (PLUMBER, _model("book_appointment", BOOK_ARGS)),
    Kind.MODEL_TRANSFER: (PLUMBER, _model("transfer_to_human", {"target": "office"})),
    Kind.MODEL_END: (PLUMBER, _model("end_call", {"reason": "done"})),
    Kind.MODEL_CALLBACK: (PLUMBER, _model("request_callback", {"phone": "07700 900123"})),
    Kind.READ_BACK: (PLUMBER, _utter(Utterance("I told you", intent=Intent.TOLD), fill)),
    Kind.CHECK_VALUE: (
        PLUMBER,
        _utter(
            Utterance("07700 900123", 0.2, slots=Slots(phone="07700 900123")),
            _prep_collect_missing("phone", "when"),
        ),
    ),
    Kind.CHECK_AREA: (
        PLUMBER,
        _utter(
            Utterance("N1 9GU", slots=Slots(postcode="N1 9GU")),
            _prep_collect_missing("postcode"),
        ),
    ),
    Kind.HAND_OVER: (
        PLUMBER,  # not understood and no job to look at: a person takes over
        _utter(Utterance("we are selling advertising"), _prep_missed("postcode", "service")),
    ),
    Kind.ASSESS: (PLUMBER, _utter(Utterance("a funny noise"), _prep_missed_service_once)),
    Kind.SPELLING: (PLUMBER, _utter(Utterance("P for Peter, A"), _prep_spelling)),
    Kind.AMEND: (
        PLUMBER,
        _utter(
            Utterance("no, 41", slots=Slots(house_number="41", correction=True)),
            _prep_close_booked,
        ),
    ),
    Kind.ASK_FIX: (PLUMBER, _utter(Utterance("the phone number is wrong"), _prep_close_booked)),
    Kind.RESCHEDULE: (
        PLUMBER,
        _utter(
            Utterance("Thursday", slots=Slots(when=TimeWindow(NOW, NOW + 3600, "Thursday"))),
            _prep_close_booked,
        ),
    ),
    Kind.AMENDED: (PLUMBER, _amend_result("ok", {"booking_id": "B1"})),
    Kind.AMEND_PENDING: (PLUMBER, _amend_result("failed", {"pending": True})),
    Kind.AMEND_FAILED: (PLUMBER, _amend_result("failed")),
    Kind.MODEL_AMEND: (PLUMBER, _model_booked("amend_booking", {"address": "41 Baker Street"})),
    Kind.MOVE_ASKED: (PLUMBER, _utter(Utterance("Can I change the time?"), _prep_close_booked)),
    Kind.MOVED: (PLUMBER, _move_result("ok")),
    Kind.MOVE_PENDING: (PLUMBER, _move_result("failed", {"pending": True})),
    Kind.MOVE_FAILED: (PLUMBER, _move_result("invalid")),
}
# Rows that exist for every state but cannot happen in some, by design.
UNREACHABLE = {
    (State.BOOK, Kind.EMERGENCY_TRANSFER),  # the booking is in flight: finish it first
    (State.BOOK, Kind.EMERGENCY_BOOKING),
    (State.CONFIRM, Kind.EMERGENCY_TRANSFER),
    (State.CONFIRM, Kind.EMERGENCY_BOOKING),
} | {(s, Kind.DIGIT) for s in State if s is not State.COLLECT}  # digit entry is for details


def _rows() -> list[tuple[State, Kind, State]]:
    rows = []
    for (state, kind), (next_state, _names) in TABLE.items():
        states = (
            [state]
            if state is not ANY
            else [s for s in State if s not in FINAL_STATES and (s, kind) not in TABLE]
        )
        for s in states:
            if (s, kind) not in UNREACHABLE and kind is not Kind.START_CLOSED:
                rows.append((s, kind, next_state or s))
    return rows


@pytest.mark.parametrize(
    ("state", "kind", "expected"), _rows(), ids=lambda v: getattr(v, "value", v)
)
def test_every_table_row(state: State, kind: Kind, expected: State) -> None:
    profile, make_input = INPUTS[kind]
    wf = make(profile)
    wf.data.service_id, wf.data.problem = (
        "leak_repair" if profile is PLUMBER else "fault_finding",
        "x",
    )
    wf.state = state
    event = make_input(wf)
    actions = wf.authorize(event, NOW) if isinstance(event, ToolCall) else wf.handle(event, NOW)
    assert wf.last_kind is kind
    assert wf.state is expected
    # every row does something, except typing a digit and spelling: the rest is coming
    assert actions or kind in (Kind.DIGIT, Kind.SPELLING)


def test_start_out_of_hours_row() -> None:
    wf = make(now=SUNDAY_10)
    actions = wf.handle(Start(), SUNDAY_10)
    assert wf.last_kind is Kind.START_CLOSED and wf.state is State.UNDERSTAND
    assert "open again tomorrow at eight in the morning" in text(actions)


def test_every_kind_has_a_row_and_input() -> None:
    kinds_in_table = {kind for (_state, kind) in TABLE}
    assert kinds_in_table == set(Kind)
    assert set(INPUTS) | {Kind.START_CLOSED} == set(Kind)


def test_every_action_name_has_a_builder_and_every_builder_a_row() -> None:
    names_in_table = {name for _next, names in TABLE.values() for name in names}
    assert names_in_table == ACTION_NAMES


@pytest.mark.parametrize("final", sorted(FINAL_STATES, key=lambda s: s.value))
def test_final_states_ignore_everything(final: State) -> None:
    wf = make()
    wf.state = final
    for event in (Start(), YES, Silence(), Dtmf("0"), ToolResult("get_quote", "ok")):
        assert wf.handle(event, NOW) == ()
    with pytest.raises(InvalidToolCall, match="already ending"):
        wf.authorize(ToolCall("t", "end_call", "{}"), NOW)
    assert wf.state is final
