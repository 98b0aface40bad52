"""The offline dialogue policy behind the LanguageModel protocol.

Conversations are driven the way the brain drives a cloud model: the real
``History`` holds the messages, ``run`` streams into a memory channel, a tiny
tool executor answers each tool call with a ``ToolResult.for_model()`` tool
message, and the next run continues. Caller lines are written as Whisper
transcribes the fixtures of agent/data/caller/manifest.tsv.
(Silence handling is the turn-taking's job and is not tested here.)
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
import trio

from agent.base.events import Finish, LlmEvent, Message, TextDelta, ToolCall
from agent.business.company import EXAMPLE_COMPANIES, parse_company
from agent.demo.scenarios import CALLER_LINES
from agent.dialogue.doubt import UNSURE_PREFIX
from agent.dialogue.history import History
from agent.dialogue.tools import (
    AvailabilityRequest,
    BookingRequest,
    TransferRequest,
    parse_tool_call,
    quote,
    tool_specs,
)
from agent.dialogue.tools import ToolResult as Result
from agent.dialogue.workflow import State
from agent.providers.llm.offline_policy import (
    OfflinePolicy,
    dtmf_message,
    parse_tool_result,
    tool_arguments,
)
from agent.providers.protocols import LanguageModel

TZ = ZoneInfo("Europe/London")
ROOT = Path(__file__).parent
DATA = json.loads(EXAMPLE_COMPANIES.read_text())
PLUMBER = parse_company(DATA["companies"][0])
# The fixtures treat EC1A 1BB as outside the demo company's area.
LOCAL_PLUMBER = attrs.evolve(
    PLUMBER, service_area=tuple(a for a in PLUMBER.service_area if a != "EC")
)
TUESDAY_10 = datetime(2025, 5, 13, 10, 0, tzinfo=TZ).timestamp()  # open
SUNDAY_10 = datetime(2025, 5, 18, 10, 0, tzinfo=TZ).timestamp()  # closed
SLOT_A = ("2025-05-14T09:00:00+01:00", "2025-05-14T11:00:00+01:00")
SLOT_B = ("2025-05-14T11:00:00+01:00", "2025-05-14T13:00:00+01:00")
SLOTS = {"slots": [{"start": a, "end": b} for a, b in (SLOT_A, SLOT_B)]}


def _manifest() -> dict[str, str]:
    lines = (CALLER_LINES / "manifest.tsv").read_text().splitlines()
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")]
    return {row[0]: row[2] for row in rows}


LINE = _manifest()  # name -> Whisper's transcript


Answer = Result | list[Result]


class Executor:
    """Answers tool calls like the brain's tool runner would, with scripted overrides."""

    def __init__(self, profile=PLUMBER, **answers: Answer) -> None:
        self.profile, self.answers, self.calls = profile, answers, []

    def __call__(self, call: ToolCall) -> Result:
        self.calls.append(call)
        parse_tool_call(call, self.profile)  # every call must pass the real argument checks
        scripted = self.answers.get(call.name)
        if isinstance(scripted, list):
            return scripted.pop(0)
        if scripted is not None:
            return scripted
        if call.name == "get_quote":
            return Result(
                "get_quote", "ok", quote(self.profile, call.parsed_arguments()["service_id"])
            )
        if call.name == "check_availability":
            return Result(call.name, "ok", SLOTS)
        if call.name == "book_appointment":
            return Result(call.name, "ok", {"booking_id": "B7"})
        return Result(call.name, "ok")


class Call:
    """The brain's side of a call: history, runs, tool execution."""

    def __init__(self, policy: OfflinePolicy, executor: Executor) -> None:
        self.policy, self.executor = policy, executor
        self.history = History("You are the phone receptionist.")
        self.ended: ToolCall | None = None
        self.specs = tool_specs(policy.company)

    async def run_once(self) -> tuple[str, list[ToolCall], list[LlmEvent]]:
        send, receive = trio.open_memory_channel[LlmEvent](0)
        events: list[LlmEvent] = []
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.policy.run, self.history.for_llm(), self.specs, send)
                async with receive:
                    events = [event async for event in receive]
        assert isinstance(events[-1], Finish)
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        calls = [e for e in events if isinstance(e, ToolCall)]
        assert events[-1].reason == ("tool_calls" if calls else "stop")
        return text, calls, events

    async def turn(self, user: str | None = None) -> str:
        """Feed the caller's words (None: the call start); the spoken reply of the turn."""
        assert self.ended is None, "the call has ended"
        if user is not None:
            self.history.add_user(user)
        spoken: list[str] = []
        while True:
            text, calls, _ = await self.run_once()
            if text or calls:
                self.history.add_assistant(text or None, calls)
            spoken.append(text)
            for call in calls:
                result = self.executor(call)
                self.history.add_tool_result(call.id, result.for_model())
                if call.name in ("transfer_to_human", "end_call") and result.status == "ok":
                    self.ended = call
            if not calls or self.ended is not None:
                return " ".join(s for s in spoken if s)


def make(profile=PLUMBER, now: float = TUESDAY_10, **answers: Answer) -> Call:
    policy = OfflinePolicy(profile, call_uuid="call-1", clock=lambda: now)
    return Call(policy, Executor(profile, **answers))


def booking(call: Call) -> dict[str, Any]:
    (book,) = [c for c in call.executor.calls if c.name == "book_appointment"][-1:]
    return book.parsed_arguments()


async def to_phone_question(call: Call) -> None:
    await call.turn()
    await call.turn(LINE["leak"])
    await call.turn(LINE["sounds_fine"])
    await call.turn(LINE["name"])
    await call.turn(LINE["address"])
    assert "number" in await call.turn(LINE["postcode"])


# --- scenarios -----------------------------------------------------------------------


def test_is_a_language_model() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10)
    assert isinstance(policy, LanguageModel) and policy.name == "offline"
    with pytest.raises(ValueError, match="token_gap_s"):
        OfflinePolicy(PLUMBER, call_uuid="c", token_gap_s=-1)


async def test_happy_path_books_with_the_right_slots() -> None:
    call = make()
    assert (await call.turn()).startswith(PLUMBER.greeting)
    quoted = await call.turn(LINE["leak"])
    assert "85 pounds" in quoted and "65 pounds an hour" in quoted
    assert call.executor.calls[0].parsed_arguments()["service_id"] == "leak_repair"
    assert "name" in await call.turn(LINE["sounds_fine"])
    assert "address" in await call.turn(LINE["name"])
    assert "postcode" in await call.turn(LINE["address"])
    assert "number" in await call.turn(LINE["postcode"])
    assert "When" in await call.turn(LINE["phone"])
    offer = await call.turn(LINE["tomorrow"])
    assert "tomorrow at nine in the morning" in offer
    availability = call.executor.calls[1].parsed_arguments()
    assert availability["postcode"] == "SW1A 1AA"
    assert availability["earliest"] == "2025-05-14T08:00:00+01:00"
    readback = await call.turn(LINE["thats_right"])
    assert booking(call) == {
        "service_id": "leak_repair",
        "slot_start": SLOT_A[0],
        "slot_end": SLOT_A[1],
        "name": "John Smith",
        "phone": "+447700900123",
        "address": "22 Baker Street",
        "postcode": "SW1A 1AA",
        "problem": LINE["leak"],
    }
    assert "S W 1 A, 1 A A" in readback and "0 7 7 0 0, 9 0 0, 1 2 3" in readback
    assert "anything else" in await call.turn(LINE["thats_right"])
    assert "Goodbye" in await call.turn(LINE["goodbye"])
    assert call.ended is not None and call.ended.name == "end_call"
    assert call.policy.workflow.data.booking_id == "B7"


@pytest.mark.parametrize(
    "said",
    ["My postcode is SW1A 1AA.", "my postcode is sw1a 1aa", "It's SW1A1AA.", "S W 1 A 1 A A."],
)
async def test_postcode_transcript_variations(said: str) -> None:
    call = make()
    await call.turn()
    for line in ("leak", "sounds_fine", "name", "address"):
        await call.turn(LINE[line])
    assert "number" in await call.turn(said)
    assert call.policy.workflow.data.postcode == "SW1A 1AA"


async def test_misheard_postcode_is_asked_again_then_taken() -> None:
    call = make()
    await call.turn()
    for line in ("leak", "sounds_fine", "name"):
        await call.turn(LINE[line])
    assert "postcode" in await call.turn("It's 22 Bay Crest Street.")
    assert "letter by letter" in await call.turn("Bay Crest Street")
    assert "letter by letter" in await call.turn("My postcode is SW1A 1A.")
    assert "number" in await call.turn("S W 1 A, 1 A A.")
    assert call.policy.workflow.data.address == "22 Bay Crest Street"


async def test_out_of_area_postcode_is_declined_politely() -> None:
    call = make(LOCAL_PLUMBER)
    await call.turn()
    for line in ("leak", "sounds_fine", "name", "address"):
        await call.turn(LINE[line])
    reply = await call.turn(LINE["postcode_out_of_area"])
    assert "outside the area" in reply and "E C 1 A, 1 B B" in reply
    assert not [c for c in call.executor.calls if c.name == "check_availability"]
    assert "Goodbye" in await call.turn(LINE["goodbye"])
    assert call.ended is not None and call.ended.name == "end_call"


async def test_asking_for_a_person_transfers_to_an_allowed_target() -> None:
    call = make()
    await call.turn()
    await call.turn(LINE["leak"])
    reply = await call.turn(LINE["person"])
    assert "put you through to office" in reply
    assert call.ended is not None and call.ended.name == "transfer_to_human"
    request = parse_tool_call(call.ended, PLUMBER)
    assert isinstance(request, TransferRequest) and request.target.dial == "PJSIP/1001"


async def test_failed_transfer_carries_on_with_a_callback() -> None:
    call = make(transfer_to_human=Result("transfer_to_human", "failed", error="busy"))
    await call.turn()
    reply = await call.turn(LINE["person"])
    assert "no one free" in reply and call.ended is None
    assert [k.kind for k in call.policy.kept] == ["callback"]
    assert "Goodbye" in await call.turn(LINE["goodbye"])


async def test_booking_api_down_is_kept_pending_and_confirmed_later() -> None:
    down = Result("book_appointment", "failed", error="503 Service Unavailable")
    call = make(book_appointment=down)
    await call.turn()
    for line in ("leak", "sounds_fine", "name", "address", "postcode", "phone", "tomorrow"):
        await call.turn(LINE[line])
    reply = await call.turn(LINE["thats_right"])
    assert "confirm it by phone" in reply and "You're booked" not in reply
    (kept,) = call.policy.kept
    assert kept.kind == "booking" and kept.idempotency_key == "call-1:1"
    assert kept.data["customer"]["postcode"] == "SW1A 1AA"


async def test_slot_taken_offers_the_next_slot() -> None:
    taken = Result("book_appointment", "slot_taken")
    call = make(book_appointment=[taken, Result("book_appointment", "ok", {"booking_id": "B8"})])
    await call.turn()
    for line in ("leak", "sounds_fine", "name", "address", "postcode", "phone", "tomorrow"):
        await call.turn(LINE[line])
    reply = await call.turn(LINE["thats_right"])
    assert "just been taken" in reply and "eleven in the morning" in reply
    assert "You're booked" in await call.turn("Yes please.")
    assert booking(call)["slot_start"] == SLOT_B[0]


async def test_phone_number_typed_on_the_keypad() -> None:
    call = make()
    await to_phone_question(call)
    assert "When" in await call.turn(dtmf_message("07700900123#"))
    await call.turn(LINE["tomorrow"])
    await call.turn(LINE["thats_right"])
    assert booking(call)["phone"] == "+447700900123"


async def test_keypad_entry_without_hash_and_a_bad_entry() -> None:
    call = make()
    await to_phone_question(call)
    assert "doesn't look right" in await call.turn(dtmf_message("123"))
    assert "When" in await call.turn("[DTMF] 0770 0900 123")
    assert call.policy.workflow.data.phone == "+447700900123"


async def test_keypad_zero_outside_entry_asks_for_a_person() -> None:
    call = make()
    await call.turn()
    await call.turn(dtmf_message("0"))
    assert call.ended is not None and call.ended.name == "transfer_to_human"
    with pytest.raises(ValueError, match="DTMF"):
        dtmf_message("12x")


async def test_out_of_hours_emergency_goes_to_the_on_call_engineer() -> None:
    call = make(now=SUNDAY_10)
    assert "closed at the moment" in await call.turn()
    reply = await call.turn(LINE["gas"])
    assert "open the windows" in reply and "on-call engineer" in reply
    assert call.ended is not None
    request = parse_tool_call(call.ended, PLUMBER)
    assert isinstance(request, TransferRequest) and request.target.dial == "PJSIP/1099"


@pytest.mark.parametrize("stage", [1, 2, 5, 7])
async def test_unrecognised_input_is_asked_again_never_stuck(stage: int) -> None:
    call = make()
    await call.turn()
    script = ("leak", "sounds_fine", "name", "address", "postcode", "phone", "tomorrow")
    for line in script[:stage]:
        await call.turn(LINE[line])
    for garbage in ("Mm.", "Uh, what?", "Mm."):
        reply = await call.turn(garbage)
        assert reply.strip() and call.ended is None, garbage
    for line in script[stage:]:
        await call.turn(LINE[line])
    await call.turn(LINE["thats_right"])
    assert booking(call)["postcode"] == "SW1A 1AA"


async def test_price_questions_repeat_the_price_and_the_open_question() -> None:
    call = make()
    await call.turn()
    await call.turn(LINE["leak"])
    again = await call.turn(LINE["how_much"])
    assert again.startswith("For leak repair, there's a call-out charge of 85 pounds")
    assert again.endswith("Would you like me to book an engineer?")
    for line in ("sounds_fine", "name", "address", "postcode", "phone", "tomorrow"):
        await call.turn(LINE[line])
    barge_in = await call.turn(LINE["interrupt"])
    assert "85 pounds" in barge_in and barge_in.endswith("Shall I book that slot?")
    await call.turn(LINE["thats_right"])  # the offer is still open
    assert booking(call)["slot_start"] == SLOT_A[0]


async def test_brain_that_greets_by_itself() -> None:
    call = make()
    call.history.add_assistant(PLUMBER.greeting)
    reply = await call.turn(LINE["leak"])
    assert "85 pounds" in reply and PLUMBER.greeting not in reply


# --- determinism and the message bookkeeping -------------------------------------------


async def test_the_same_conversation_gives_the_same_events() -> None:
    async def events_of() -> list[list[LlmEvent]]:
        call, out = make(), []
        await call.turn()
        for line in ("leak", "sounds_fine", "name", "address", "postcode"):
            call.history.add_user(LINE[line])
            while True:
                text, calls, events = await call.run_once()
                out.append(events)
                call.history.add_assistant(text or None, calls)
                for c in calls:
                    call.history.add_tool_result(c.id, call.executor(c).for_model())
                if not calls:
                    break
        return out

    first, second = await events_of(), await events_of()
    assert first == second and len(first) == 6


def test_the_same_request_twice_is_answered_the_same_and_fed_once() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10)
    history = [
        Message("system", "p"),
        Message("assistant", "Hello."),
        Message("user", "My tap leaks."),
    ]
    first = policy.respond(history)
    assert policy.respond(history) == first
    (call,) = [e for e in first if isinstance(e, ToolCall)]
    assert call.name == "get_quote" and policy.workflow.state is State.QUOTE
    assert len(policy._issued) == 1


def test_a_merged_continuation_feeds_only_the_new_words() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10)
    wf = policy.workflow
    wf.start(TUESDAY_10)
    wf.state, wf.data.service_id = State.QUOTE, "leak_repair"
    asked = [Message("system", "p"), Message("assistant", "Would you like me to book?")]
    price = policy.respond([*asked, Message("user", "How much will it cost?")])
    assert "85 pounds" in "".join(e.text for e in price if isinstance(e, TextDelta))
    # Our reply was never heard, so the brain merged the caller's next words.
    events = policy.respond([*asked, Message("user", "How much will it cost? Yes please.")])
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == (
        "Can I take your name, please?"
    )
    assert wf.state is State.COLLECT


def test_foreign_and_repeated_tool_results_are_ignored() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10)
    first = policy.respond([Message("system", "p"), Message("user", "My tap leaks.")])
    (call,) = [e for e in first if isinstance(e, ToolCall)]
    ok = Result("get_quote", "ok", quote(PLUMBER, "leak_repair")).for_model()
    base = [
        Message("system", "p"),
        Message("user", "My tap leaks."),
        Message("assistant", None, (call,)),
    ]
    stranger = Message("tool", ok, tool_call_id="someone_else")
    quoted = policy.respond([*base, stranger, Message("tool", ok, tool_call_id=call.id)])
    assert "85 pounds" in "".join(e.text for e in quoted if isinstance(e, TextDelta))
    # The quote reply went unheard and was dropped; the caller spoke again.
    again = policy.respond(
        [*base, Message("tool", ok, tool_call_id=call.id), Message("user", "Yes.")]
    )
    assert (
        "".join(e.text for e in again if isinstance(e, TextDelta))
        == "Can I take your name, please?"
    )


def test_messages_must_be_messages() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10)
    with pytest.raises(TypeError, match="Message"):
        policy.respond([{"role": "user", "content": "hi"}])  # type: ignore[list-item]


# --- pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        Result("get_quote", "ok", {"call_out": 85.0, "service": "Leak repair"}),
        Result("book_appointment", "slot_taken", error="gone"),
        Result("book_appointment", "invalid", error="bad", field="postcode"),
        Result("check_availability", "failed", error="timeout"),
    ],
)
def test_tool_results_round_trip(result: Result) -> None:
    assert parse_tool_result(result.tool, result.for_model()) == result
    assert parse_tool_result(result.tool, result.for_model()).data == result.data


@pytest.mark.parametrize(
    "content", ["[not run: the caller spoke]", "[1,2]", '{"status":"meh"}', ""]
)
def test_anything_else_is_a_failed_result(content: str) -> None:
    result = parse_tool_result("book_appointment", content)
    assert result.status == "failed" and result.error


def test_tool_arguments_pass_the_tool_checks() -> None:
    start, end = (datetime.fromisoformat(t).timestamp() for t in SLOT_A)
    requests = [
        AvailabilityRequest("leak_repair", "SW1A 1AA", start, end),
        BookingRequest("leak_repair", start, end, "Ann", "+447700900123", "1 High St", "SW1A 1AA"),
    ]
    for name, request in zip(("check_availability", "book_appointment"), requests, strict=True):
        call = ToolCall("x", name, json.dumps(tool_arguments(request, PLUMBER)))
        assert parse_tool_call(call, PLUMBER) == request
    with pytest.raises(TypeError, match="TransferRequest"):
        tool_arguments(TransferRequest(PLUMBER.transfer_targets[0]), PLUMBER)


async def test_words_stream_one_by_one_with_the_gap(autojump_clock: trio.abc.Clock) -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10, token_gap_s=0.05)
    send, receive = trio.open_memory_channel[LlmEvent](0)
    stamps: list[tuple[float, LlmEvent]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(policy.run, [Message("system", "p")], tool_specs(PLUMBER), send)
        async with receive:
            async for event in receive:
                stamps.append((trio.current_time(), event))
    deltas = [e.text for _, e in stamps if isinstance(e, TextDelta)]
    assert "".join(deltas).startswith(PLUMBER.greeting) and len(deltas) > 10
    assert all(len(d.split()) == 1 for d in deltas)
    assert stamps[-1][0] - stamps[0][0] == pytest.approx(0.05 * (len(deltas) - 1))
    assert stamps[-1][1] == Finish("stop")


async def test_a_line_marked_unsure_is_not_acted_on_as_heard() -> None:
    # The turn-taker marks a low-confidence turn (agent.dialogue.doubt); the policy
    # must not book on the strength of it, and a clear line after it is taken.
    call = make()
    await call.turn()
    for line in ("leak", "sounds_fine", "name", "address"):
        await call.turn(LINE[line])
    assert await call.turn(f"{UNSURE_PREFIX}My postcode is SW1A 1AA.")
    assert call.policy.workflow.data.postcode is None
    assert "number" in await call.turn("My postcode is SW1A 1AA.")
    assert call.policy.workflow.data.postcode == "SW1A 1AA"
