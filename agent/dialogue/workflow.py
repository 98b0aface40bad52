"""The booking conversation as one transition table (pure, deterministic).

greet -> understand -> quote -> collect details -> book -> confirm -> close,
with transfer and a polite end reachable from every state. An input (the
caller's words with intent/slots, a tool result, silence, DTMF, the start of
the call) is first classified into a ``Kind`` from the workflow's data (is it
an emergency? are all details in? is an offer pending?), then ``TABLE`` says
the next state and which actions to build. Unknown pairs fall back to
"didn't follow, ask again" for caller input and to nothing for stale tool
results, so the call is never stuck.

Two drivers share it. The offline policy feeds ``hear(text)`` (or
``handle(Utterance(...))`` with its own intent/slots) and plays the ``Say``
actions. The LLM mode lets the model talk, passes each model tool call through
``authorize`` (schema, allowlist, state gates, one booking per call), executes
the returned ``CallTool`` and feeds the ``ToolResult`` to ``handle``; there the
``Say`` actions are the fallback texts the model may ignore.

Time: ``now`` is Unix epoch seconds. Silence timing belongs to turn-taking:
it sends ``Silence()`` after ``config.silence_timeout`` without speech.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from agent.base.events import ToolCall
from agent.business.company import CompanyProfile
from agent.dialogue.slots import Intent, extract
from agent.dialogue.tools import InvalidToolCall, ToolResult, parse_tool_call
from agent.dialogue.workflow_actions import (
    Action,
    CallTool,
    Dtmf,
    EndCall,
    KeepPending,
    Say,
    Silence,
    Start,
    Transfer,
    Utterance,
    WorkflowConfig,
)
from agent.dialogue.workflow_build import Builder

__all__ = [
    "TABLE",
    "Action",
    "BookingWorkflow",
    "CallTool",
    "Dtmf",
    "EndCall",
    "KeepPending",
    "Kind",
    "Say",
    "Silence",
    "Start",
    "State",
    "Transfer",
    "Utterance",
    "WorkflowConfig",
]


class State(enum.Enum):
    GREET = "greet"
    UNDERSTAND = "understand"
    QUOTE = "quote"
    COLLECT = "collect"
    BOOK = "book"
    CONFIRM = "confirm"
    CLOSE = "close"
    TRANSFER = "transfer"
    END = "end"


class Kind(enum.Enum):
    START = "start"
    START_CLOSED = "start_closed"  # out of hours
    PROBLEM = "problem"  # a problem we have a service for
    NEED_SERVICE = "need_service"
    EMERGENCY_TRANSFER = "emergency_transfer"
    EMERGENCY_BOOKING = "emergency_booking"
    DETAILS = "details"  # some details given, some still missing
    DETAILS_READY = "details_ready"  # every detail in: look for slots
    READY_TO_BOOK = "ready_to_book"  # a corrected detail and an accepted slot
    INVALID_DETAIL = "invalid_detail"
    OUT_OF_AREA = "out_of_area"
    YES = "yes"
    NO = "no"
    ACCEPT_SLOT = "accept_slot"
    REJECT_SLOT = "reject_slot"
    HUMAN = "human"
    HUMAN_UNAVAILABLE = "human_unavailable"
    ANOTHER_JOB = "another_job"
    GOODBYE = "goodbye"
    UNCLEAR = "unclear"
    LOW_CONFIDENCE = "low_confidence"
    SILENCE = "silence"
    SILENCE_LIMIT = "silence_limit"
    DIGIT = "digit"
    QUOTED = "quoted"
    QUOTE_FAILED = "quote_failed"
    SLOTS_FOUND = "slots_found"
    NO_SLOTS = "no_slots"
    AVAILABILITY_FAILED = "availability_failed"
    BOOKED = "booked"
    BOOKING_FAILED = "booking_failed"
    SLOT_TAKEN = "slot_taken"
    BOOKING_INVALID = "booking_invalid"
    MODEL_QUOTE = "model_quote"  # authorized tool calls of the LLM mode
    MODEL_AVAILABILITY = "model_availability"
    MODEL_BOOK = "model_book"
    MODEL_TRANSFER = "model_transfer"
    MODEL_END = "model_end"


S, K = State, Kind
ANY = None  # a row for every non-final state (specific rows win)
Row = tuple[State | None, tuple[str, ...]]  # next state (None: stay), action names

TABLE: dict[tuple[State | None, Kind], Row] = {
    (S.GREET, K.START): (S.UNDERSTAND, ("greet",)),
    (S.GREET, K.START_CLOSED): (S.UNDERSTAND, ("greet_closed",)),
    (S.UNDERSTAND, K.PROBLEM): (S.QUOTE, ("call_quote",)),
    (S.UNDERSTAND, K.NEED_SERVICE): (None, ("ask_service",)),
    (S.QUOTE, K.QUOTED): (None, ("say_quote",)),
    (S.QUOTE, K.QUOTE_FAILED): (None, ("say_quote_unavailable",)),
    (S.QUOTE, K.PROBLEM): (None, ("call_quote",)),
    (S.QUOTE, K.YES): (S.COLLECT, ("ask_detail",)),
    (S.QUOTE, K.DETAILS): (S.COLLECT, ("ask_detail",)),
    (S.QUOTE, K.NO): (S.CLOSE, ("say_anything_else",)),
    (S.COLLECT, K.DETAILS): (None, ("ask_detail",)),
    (S.COLLECT, K.INVALID_DETAIL): (None, ("say_invalid_detail",)),
    (S.COLLECT, K.OUT_OF_AREA): (S.CLOSE, ("say_out_of_area",)),
    (S.COLLECT, K.DETAILS_READY): (None, ("call_availability",)),
    (S.COLLECT, K.SLOTS_FOUND): (None, ("offer_slot",)),
    (S.COLLECT, K.NO_SLOTS): (None, ("say_no_slots",)),
    (S.COLLECT, K.AVAILABILITY_FAILED): (S.CLOSE, ("keep_callback", "say_availability_failed")),
    (S.COLLECT, K.ACCEPT_SLOT): (S.BOOK, ("call_book",)),
    (S.COLLECT, K.REJECT_SLOT): (None, ("offer_slot",)),
    (S.COLLECT, K.READY_TO_BOOK): (S.BOOK, ("call_book",)),
    (S.BOOK, K.BOOKED): (S.CONFIRM, ("say_booked",)),
    (S.BOOK, K.BOOKING_FAILED): (S.CLOSE, ("keep_booking", "say_booking_pending")),
    (S.BOOK, K.SLOT_TAKEN): (S.COLLECT, ("say_slot_taken", "offer_slot")),
    (S.BOOK, K.BOOKING_INVALID): (S.COLLECT, ("say_invalid_detail",)),
    (S.CONFIRM, K.YES): (S.CLOSE, ("say_anything_else",)),
    (S.CONFIRM, K.NO): (S.CLOSE, ("keep_correction", "say_correction_noted")),
    (S.CONFIRM, K.DETAILS): (S.CLOSE, ("keep_correction", "say_correction_noted")),
    (S.CLOSE, K.NO): (S.END, ("say_goodbye", "end_call")),
    (S.CLOSE, K.YES): (None, ("say_what_else",)),
    (S.CLOSE, K.PROBLEM): (S.QUOTE, ("call_quote",)),
    (S.CLOSE, K.ANOTHER_JOB): (S.TRANSFER, ("say_one_booking", "transfer_default")),
    (ANY, K.HUMAN): (S.TRANSFER, ("say_transfer", "transfer_default")),
    (ANY, K.HUMAN_UNAVAILABLE): (S.CLOSE, ("keep_callback", "say_no_human")),
    (ANY, K.GOODBYE): (S.END, ("say_goodbye", "end_call")),
    (ANY, K.EMERGENCY_TRANSFER): (S.TRANSFER, ("say_emergency_transfer", "transfer_emergency")),
    (ANY, K.EMERGENCY_BOOKING): (S.COLLECT, ("say_emergency_priority", "ask_detail")),
    (ANY, K.LOW_CONFIDENCE): (None, ("ask_repeat",)),
    (ANY, K.UNCLEAR): (None, ("say_unclear",)),
    (ANY, K.SILENCE): (None, ("reprompt",)),
    (ANY, K.SILENCE_LIMIT): (S.END, ("say_silence_end", "end_call")),
    (ANY, K.DIGIT): (None, ()),
    (ANY, K.MODEL_QUOTE): (S.QUOTE, ("call_authorized",)),
    (ANY, K.MODEL_AVAILABILITY): (S.COLLECT, ("call_authorized",)),
    (ANY, K.MODEL_BOOK): (S.BOOK, ("call_authorized",)),
    (ANY, K.MODEL_TRANSFER): (S.TRANSFER, ("transfer_authorized",)),
    (ANY, K.MODEL_END): (S.END, ("end_call",)),
}

FINAL_STATES = frozenset({S.TRANSFER, S.END})
_TOOL_KINDS = frozenset(
    {K.QUOTED, K.QUOTE_FAILED, K.SLOTS_FOUND, K.NO_SLOTS, K.AVAILABILITY_FAILED, K.BOOKED}
    | {K.BOOKING_FAILED, K.SLOT_TAKEN, K.BOOKING_INVALID}
)


def lookup(state: State, kind: Kind) -> tuple[Kind, Row] | None:
    """The kind that applies and its table row, or ``None`` when nothing should happen.

    Caller input with no row of its own is treated as unclear (ask again);
    a tool result with no row is stale and ignored.
    """
    if state in FINAL_STATES:
        return None
    row = TABLE.get((state, kind)) or TABLE.get((ANY, kind))
    if row is not None:
        return kind, row
    if kind in _TOOL_KINDS or kind is K.START:
        return None
    return K.UNCLEAR, TABLE[(ANY, K.UNCLEAR)]


class BookingWorkflow(Builder):
    """One call's booking conversation: slots, state and the transition table.

    Every method returns the actions to carry out, in order; the same inputs
    always give the same actions. Data and action builders live in
    ``workflow_build.Builder``; this class classifies inputs and applies rows.
    """

    def __init__(
        self,
        profile: CompanyProfile,
        call_uuid: str,
        now: float,
        *,
        config: WorkflowConfig | None = None,
        caller_id: str | None = None,
    ) -> None:
        super().__init__(profile, call_uuid, now, config or WorkflowConfig(), caller_id)
        self.state = State.GREET
        self.last_kind: Kind | None = None

    # --- entry points -------------------------------------------------------

    def start(self, now: float) -> tuple[Action, ...]:
        return self.handle(Start(), now)

    def hear(self, text: str, now: float, *, confidence: float = 1.0) -> tuple[Action, ...]:
        """The offline policy's entry: extract intent and slots here, then handle."""
        intent, slots = extract(
            text,
            services=self.profile.services,
            tz=self.profile.timezone,
            now=now,
            expecting=self.expecting,
        )
        return self.handle(Utterance(text, confidence, intent, slots), now)

    def handle(
        self, event: Start | Utterance | Silence | Dtmf | ToolResult, now: float
    ) -> tuple[Action, ...]:
        self.now = now
        if self.state in FINAL_STATES:
            return ()
        kind = self._classify(event)
        return self._apply(kind) if kind is not None else ()

    def authorize(self, call: ToolCall, now: float) -> tuple[Action, ...]:
        """Gate a model's tool call; returns the actions to run (a ``CallTool``,
        a ``Transfer`` or an ``EndCall``) or raises ``InvalidToolCall`` whose text
        goes back to the model as the tool's answer."""
        self.now = now
        if self.state in FINAL_STATES:
            raise InvalidToolCall(call.name, "the call is already ending")
        if self.pending_tool is not None:
            raise InvalidToolCall(call.name, f"wait for the {self.pending_tool} result first")
        self.authorized = parse_tool_call(call, self.profile)
        return self._apply(self.admit_model_request(self.authorized))

    # --- classification -----------------------------------------------------

    def _apply(self, kind: Kind) -> tuple[Action, ...]:
        found = lookup(self.state, kind)
        if found is None:
            return ()
        self.last_kind, (next_state, names) = found
        if next_state is not None:
            self.state = next_state
        actions: list[Action] = []
        for name in names:
            build: Callable[[], list[Action]] = getattr(self, f"_act_{name}")
            actions.extend(build())
        return tuple(actions)

    def _classify(self, event: object) -> Kind | None:
        if isinstance(event, Start):
            if self.state is not State.GREET:
                return None
            return K.START if self.profile.is_open(self.now) else K.START_CLOSED
        if isinstance(event, ToolResult):
            return self.classify_result(event)
        if isinstance(event, Silence):
            self.silences += 1
            return K.SILENCE if self.silences <= self.config.max_reprompts else K.SILENCE_LIMIT
        if isinstance(event, Dtmf):
            return self._classify_digit(event.digit)
        assert isinstance(event, Utterance)
        return self._classify_utterance(event)

    def _classify_digit(self, digit: str) -> Kind | None:
        self.silences = 0
        if self.digits_open:
            entry = self.enter_digit(digit)
            if entry is None:
                return K.DIGIT
            return self._classify_collect(Utterance(""), *entry)
        if self.config.human_digit is not None and digit == self.config.human_digit:
            return self._human()
        return None

    def _human(self) -> Kind:
        return K.HUMAN if self.profile.default_transfer_target else K.HUMAN_UNAVAILABLE

    def _classify_utterance(self, u: Utterance) -> Kind:
        self.silences = 0
        if u.confidence < self.config.min_confidence:
            self.repeats += 1
            return K.LOW_CONFIDENCE if self.repeats <= self.config.max_repeats else self._human()
        self.repeats = 0
        keyword = self.profile.find_emergency(u.text)
        if keyword and not self.priority and self.state not in (S.BOOK, S.CONFIRM):
            self.note_emergency(keyword, u)
            has_target = self.profile.emergency_target is not None
            return K.EMERGENCY_TRANSFER if has_target else K.EMERGENCY_BOOKING
        if u.intent is Intent.HUMAN:
            return self._human()
        if u.intent is Intent.GOODBYE:
            return K.GOODBYE
        filled, invalid = self.merge_slots(u.slots)
        if self.state in (S.GREET, S.UNDERSTAND) or (self.state is S.CLOSE and u.intent is None):
            return self._classify_problem(u, filled)
        if self.state is S.QUOTE:
            if u.intent in (Intent.YES, Intent.NO):
                return K.YES if u.intent is Intent.YES else K.NO
            if "service_id" in filled:
                return K.PROBLEM
            return K.DETAILS if filled or invalid else K.UNCLEAR
        if self.state is S.COLLECT:
            return self._classify_collect(u, filled, invalid)
        if u.intent in (Intent.YES, Intent.NO):
            return K.YES if u.intent is Intent.YES else K.NO
        return K.DETAILS if filled else K.UNCLEAR

    def _classify_problem(self, u: Utterance, filled: set[str]) -> Kind:
        text = u.text.strip()
        if self.state is S.CLOSE:
            if "service_id" not in filled:
                return K.UNCLEAR
            if self.booking_id is not None or self.booking_pending:
                has_target = self.profile.default_transfer_target is not None
                return K.ANOTHER_JOB if has_target else K.HUMAN_UNAVAILABLE
            self.problem = text
            return K.PROBLEM
        if not text and not filled:
            return K.UNCLEAR
        self.problem = self.problem or text
        if self.service_id is None and len(self.profile.services) == 1:
            self.service_id = self.profile.services[0].id
        return K.PROBLEM if self.service_id is not None else K.NEED_SERVICE

    def _classify_collect(self, u: Utterance, filled: set[str], invalid: str | None) -> Kind:
        if self.offer_open:
            if "when" in filled:
                return K.DETAILS_READY
            if u.intent is Intent.YES:
                return K.ACCEPT_SLOT
            if u.intent is Intent.NO:
                return K.REJECT_SLOT
        if invalid is not None:
            return K.INVALID_DETAIL
        if self.postcode is not None and not self.profile.serves_postcode(self.postcode):
            return K.OUT_OF_AREA
        if not filled:
            return K.UNCLEAR
        if self.missing_detail() is None:
            return K.READY_TO_BOOK if self.chosen is not None else K.DETAILS_READY
        return K.DETAILS
