"""The booking conversation (pure, deterministic): one call's ``BookingWorkflow``.

Each input (the caller's words with intent/slots, a tool result, silence, DTMF,
the start of the call) is first classified into a ``Kind`` from the workflow's
data (is it an emergency? are all details in? is an offer pending?), then the
transition table (``workflow_table``) says the next state and which actions to
build. The workflow is composed of its parts, each in its own module: the
call's ``BookingData`` (``workflow_data``), the ``ActionBuilder`` behind the
table's action names (``workflow_build``), what tool results and the model's
tool calls mean (``workflow_results``) and its inputs and actions
(``workflow_actions``). Every public name stays importable from here.

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

import attrs

from agent.base.events import ToolCall
from agent.business.company import CompanyProfile
from agent.dialogue.details import this_number, wrong_detail
from agent.dialogue.doubt import split_also_heard, split_check
from agent.dialogue.meaning import enrich
from agent.dialogue.offscript import (
    REPEATS,
    answer,
    booking_answer,
    looks_like_question,
    say_again,
    topic,
    without_company_name,
)
from agent.dialogue.slots import Intent, Slots, TimeWindow, extract
from agent.dialogue.spelling import looks_spelled, spelled_word
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
from agent.dialogue.workflow_build import ActionBuilder, Step
from agent.dialogue.workflow_check import classify_check_answer
from agent.dialogue.workflow_collect import (
    AS_HEARD,
    address_from_readings,
    answer_to_street_check,
    classify_collect,
    classify_unsure_detail,
    heard_again,
)
from agent.dialogue.workflow_data import BookingData
from agent.dialogue.workflow_hold import hold_for_doubt
from agent.dialogue.workflow_left_out import answer_left_out
from agent.dialogue.workflow_move import asks_other_slot, classify_move, take_time, wants_move
from agent.dialogue.workflow_names import spelled_name
from agent.dialogue.workflow_problem import (
    classify_problem,
    hand_over,
    thanks_only,
    unclear_problem,
    wants_callback,
    wants_cancel,
)
from agent.dialogue.workflow_results import admit_model_request, classify_result
from agent.dialogue.workflow_table import ANY, FINAL_STATES, TABLE, Kind, State, lookup

__all__ = [
    "ANY",
    "FINAL_STATES",
    "TABLE",
    "Action",
    "BookingData",
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

S, K = State, Kind


class BookingWorkflow:
    """One call's booking conversation: its state in the transition table, its data
    (``data``) and the builder of its actions (``builder``).

    Every method returns the actions to carry out, in order; the same inputs
    always give the same actions.
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
        self.profile, self.now = profile, now
        self.config = config or WorkflowConfig()
        self.data = BookingData(profile, call_uuid, caller_id)
        self.builder = ActionBuilder(profile, self.config, self.data)
        self.state = State.GREET
        self.last_kind: Kind | None = None
        self.silences = 0  # silent turns in a row
        self.repeats = 0  # "say again"s in a row
        self.said: dict[str, str] = {}  # "last", "quote": what the agent said, to say again

    @property
    def expecting(self) -> str | None:
        """The detail just asked for, so a bare answer ("Sarah", "SW1A 1AA") counts."""
        if self.data.fixing is not None:
            return self.data.fixing  # "What's the right phone number?"
        if self.state is not State.COLLECT or self.data.offer_open:
            return None
        return self.data.missing_detail()

    @property
    def digits_open(self) -> bool:
        """DTMF goes into the phone number being asked for, or offered on the keypad
        after one said unasked was heard short (while another detail is asked)."""
        offered = self.data.heard_phone is not None and self.data.phone is None
        return self.expecting == "phone" or (offered and self.state is State.COLLECT)

    def question(self) -> str:
        """The open question now, to repeat after a reprompt or a detour."""
        return self.builder.question(self.state)

    # --- entry points -------------------------------------------------------

    def start(self, now: float) -> tuple[Action, ...]:
        return self.handle(Start(), now)

    def hear(self, text: str, now: float, *, confidence: float = 1.0) -> tuple[Action, ...]:
        """The offline policy's entry: extract intent and slots here, then handle
        (words named in doubt, ``doubt.mark_check``, make a name or address read back;
        the recogniser's other readings, ``doubt.mark_also_heard``, may give a postcode
        or a phone number asked for that the line does not)."""
        text, alternatives = split_also_heard(text)
        text, doubted = split_check(text)
        if self.expecting == "phone":  # "the one I'm calling from"
            text = this_number(text, self.data.caller_id)
        intent, slots = extract(
            without_company_name(text, self.profile.name),
            services=self.profile.services,
            tz=self.profile.timezone,
            now=now,
            expecting=self.expecting,
        )
        if self.data.offer_open and intent is None and asks_other_slot(text):
            intent = Intent.NO  # "has it got to be nine? can it be later?": the next slot
        # A question of a known topic is answered even half heard ("Our view are robot.")
        sure = confidence >= self.config.min_confidence or topic(text) is not None
        if sure and (detour := self._off_script(text, now)):
            return detour
        return self.handle(Utterance(text, confidence, intent, slots, doubted, alternatives), now)

    def _off_script(self, text: str, now: float) -> tuple[Action, ...] | None:
        """A question off the booking script: the profile's answer, then the open question."""
        name = topic(text)
        if self.state in FINAL_STATES or self.state is S.GREET or self.data.pending_tool:
            return None
        if name is None and not (looks_like_question(text) and self.state in _ASKING):
            return None
        if name is None and looks_spelled(text) and spelled_word(text) is not None:
            return None  # "Do you for George, are for Robert ...?": a spelling, not a question
        if self.data.offer_open and asks_other_slot(text):
            return None  # "can it be later?": not this slot, not a question for the profile
        if self.data.booked and wants_move(text):
            return None  # "can I change the time?" is for the booking, not a detour
        # Only a bare question: one that also gives a detail or a yes goes to the booking
        # (and a question is never taken as the detail just asked for).
        intent, slots = extract(
            without_company_name(text, self.profile.name),
            services=self.profile.services,
            tz=self.profile.timezone,
            now=now,
        )
        asks_if_human = name == "robot" and intent is Intent.HUMAN  # "are you a real person?"
        if (intent is not None and not asks_if_human) or not slots.is_empty():
            return None
        self.now, self.silences = now, 0  # speech: the silent turns start again
        if name in REPEATS:  # "Sorry, what?": the same words again, the quote for its price
            return (Say(say_again(name, self.said, self.question()), f"offscript_{name}"),)
        if name in ("arrival", "reference"):  # the caller's own booking
            made, data = self.data.last_booking, self.data
            said = booking_answer(
                self.profile, name, now, booking_id=data.booking_id,
                pending=data.booking_pending, slot_start=made.slot_start if made else None,
            )  # fmt: skip
        else:
            said = answer(self.profile, name, now)
        # "hang on": the question waits until they are back
        reply = said if name == "hold" else f"{said} {self.question()}"
        return (Say(reply, f"offscript_{name or 'unknown'}"),)

    def handle(
        self, event: Start | Utterance | Silence | Dtmf | ToolResult, now: float
    ) -> tuple[Action, ...]:
        self.now = now
        if self.state in FINAL_STATES:
            return ()
        kind = self._classify(event)
        if isinstance(event, Utterance) and kind in _ASK_AGAIN and self._asked_enough():
            kind = hand_over(self.profile)  # not the same question a third time
        return self._apply(kind) if kind is not None else ()

    def _asked_enough(self) -> bool:
        """The open detail was asked four times in a row (twice, then twice another
        way, whatever else the caller gave meanwhile): a person takes it from here."""
        detail, times = self.builder.streak
        open_detail = self.state is S.COLLECT and not self.data.offer_open
        return open_detail and times >= 4 and detail == self.data.missing_detail()

    def authorize(self, call: ToolCall, now: float) -> tuple[Action, ...]:
        """Gate a model's tool call; returns the actions to run (a ``CallTool``,
        a ``Transfer`` or an ``EndCall``) or raises ``InvalidToolCall`` whose text
        goes back to the model as the tool's answer."""
        self.now = now
        if self.state in FINAL_STATES:
            raise InvalidToolCall(call.name, "the call is already ending")
        if self.data.pending_tool is not None:
            raise InvalidToolCall(call.name, f"wait for the {self.data.pending_tool} result first")
        self.data.authorized = parse_tool_call(call, self.profile)
        return self._apply(admit_model_request(self.data, self.data.authorized))

    # --- classification -----------------------------------------------------

    def _apply(self, kind: Kind) -> tuple[Action, ...]:
        found = lookup(self.state, kind)
        if found is None:
            return ()
        self.last_kind, (next_state, names) = found
        if next_state is not None:
            self.state = next_state
        actions = self.builder.build(names, Step(self.state, self.last_kind, self.now))
        if self.data.changed and self.last_kind not in _AMEND_KINDS:
            actions = (*self.builder.changed(), *actions)  # the read-back says the new value
        self.data.changed = []
        if spoken := " ".join(a.text for a in actions if isinstance(a, Say)):
            self.said["last"] = spoken
            if any(a.key == "quote" for a in actions if isinstance(a, Say)):
                self.said["quote"] = spoken
        return actions

    def _classify(self, event: object) -> Kind | None:
        if isinstance(event, Start):
            if self.state is not State.GREET:
                return None
            return K.START if self.profile.is_open(self.now) else K.START_CLOSED
        if isinstance(event, ToolResult):
            return classify_result(self.data, event, self.now)
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
            entry = self.data.enter_digit(digit)
            if entry is None:
                return K.DIGIT
            return self._classify_collect(Utterance(""), *entry)
        if self.config.human_digit is not None and digit == self.config.human_digit:
            return self._human()
        return None

    def _human(self) -> Kind:
        return K.HUMAN if self.profile.default_transfer_target else K.HUMAN_UNAVAILABLE

    def _classify_unsure(self, u: Utterance) -> Kind:
        """Heard with low confidence: confirm the likely value instead of re-asking blindly."""
        if u.slots.when is not None and self.data.when is None and self.state is S.QUOTE:
            self.data.merge_slots(Slots(when=u.slots.when))  # offered back as a slot later
            self.data.changed = []
        self.repeats += 1
        if self.repeats > self.config.max_repeats:
            return self._human()
        if self.state is S.COLLECT and not self.data.offer_open:
            kind = classify_unsure_detail(self.data, self.profile, self.config, u)
            if kind is not None:
                return kind
        if self.state is S.UNDERSTAND and self.data.service_id is None:
            return unclear_problem(self.data, self.profile, self.config, u) or K.LOW_CONFIDENCE
        return K.LOW_CONFIDENCE

    def _classify_utterance(self, u: Utterance) -> Kind:
        self.silences = 0
        urgent = self.profile.find_emergency(enrich(u.text)) or u.intent is Intent.HUMAN
        wanted, self.data.fixing = self.expecting, None  # a detail asked for once
        if not urgent and self.state is S.COLLECT:
            u = answer_to_street_check(self.data, u)  # "No, it's Baker Street": number kept
            if wanted == "address" and self.data.doubt is None:
                u = address_from_readings(self.data, u)  # "30 cream lane" beside the line
        if not urgent and self.data.spelling and self.data.spelling[0] == wanted:
            step = self.data.spelled(u.text, getattr(u.slots, wanted or "name"))
            if step is not None:  # "Was that 15 Park Lane?", the spelling asked again...
                return {"check": K.CHECK_VALUE, "wait": K.SPELLING}.get(step, K.DETAILS)
        if not urgent and spelled_name(self.data, wanted, u.text):
            return K.CHECK_VALUE  # the name spelled when asked again: read back
        left_out = wanted in ("house_number", "first_name") and not urgent
        sure = u.confidence >= self.config.min_confidence
        if left_out and (kind := answer_left_out(self.data, wanted or "", u, sure=sure)):
            return kind  # "30" after "Green Lane", "Ben" after "Thompson" spelled
        # A bare yes or no to a yes/no question (the offer of a slot, of a booking) is
        # taken even heard in doubt ("you got it"): what it agrees to is read back after.
        binary = self.data.offer_open or self.state is S.QUOTE
        short_answer = binary and u.intent in (Intent.YES, Intent.NO) and len(u.text.split()) <= 4
        if u.confidence < self.config.min_confidence and not (urgent or short_answer):
            return self._classify_unsure(u)  # an emergency or "a person" heard in doubt is acted on
        self.repeats = 0
        keyword = self.profile.find_emergency(enrich(u.text))
        if keyword and not self.data.priority and self.state not in (S.BOOK, S.CONFIRM):
            window = TimeWindow(self.now, self.now + self.config.priority_window, "priority")
            self.data.note_emergency(keyword, u, window)
            has_target = self.profile.emergency_target is not None
            return K.EMERGENCY_TRANSFER if has_target else K.EMERGENCY_BOOKING
        if u.intent is Intent.HUMAN:
            return self._human()
        if wants_callback(u.text) and self.state in _BEFORE_BOOKING and not self.data.booked:
            has_number = self.data.phone or self.data.caller_id
            return K.CALLBACK if has_number else self._human()  # nowhere to call: a person
        if u.intent is Intent.GOODBYE:
            return K.GOODBYE
        if self.data.booked and self.state in (S.CONFIRM, S.CLOSE) and wants_cancel(u.text):
            return K.CANCEL  # noted for the office: the booking API has no cancel
        if self.state is S.CLOSE and thanks_only(u.text):
            return K.NO  # "cheers" to "anything else?": nothing else
        if u.intent is Intent.TOLD:
            return K.READ_BACK
        if self.state is S.COLLECT and (checked := self._classify_check_answer(u)) is not None:
            return checked
        if self.state is S.COLLECT and wanted in AS_HEARD:
            heard = getattr(u.slots, wanted or "name")
            if (got := heard_again(self.data, wanted or "name", heard)) is not None:
                # the other details said with it are kept ("... and the postcode is ...")
                filled, invalid = self.data.merge_slots(attrs.evolve(u.slots, **{wanted: None}))
                self.data.changed = []
                filled |= got
                return self._classify_collect(u, filled, invalid) if filled else K.DETAILS
        if self.state is S.COLLECT and (held := hold_for_doubt(self.data, u)) is not None:
            return held  # "Was that 15 Park Lane?" before it is taken
        after_booking = self.state is S.MOVE or (
            self.data.booked and self.state in (S.CONFIRM, S.CLOSE)
        )
        moved = take_time(self.data, u, self.now) if after_booking else None
        u, new_time = (u, False) if moved is None else (moved, True)  # ``workflow_move``
        filled, invalid = self.data.merge_slots(u.slots)
        if after_booking and any(f in _CUSTOMER for f, _ in self.data.changed):
            return K.AMEND  # a correction after the booking changes the booking
        if after_booking and (field := wrong_detail(u.text)) is not None:
            self.data.fixing = field  # asked for once: the next answer is that detail
            return K.ASK_FIX
        if after_booking and (moving := classify_move(self.data, self.state, u, new_time)):
            return moving
        if self.state in (S.GREET, S.UNDERSTAND) or (self.state is S.CLOSE and u.intent is None):
            return classify_problem(self.state, self.data, self.profile, self.config, u, filled)
        if self.state is S.QUOTE:
            if u.intent is Intent.NO and self.data.assessing:
                return self._human()  # no one to look at it: a person, as before
            if u.intent in (Intent.YES, Intent.NO):
                return K.YES if u.intent is Intent.YES else K.NO
            if "service_id" in filled:
                self.data.assessing = False
                return K.PROBLEM
            return K.DETAILS if filled or invalid else K.UNCLEAR
        if self.state is S.COLLECT:
            return self._classify_collect(u, filled, invalid)
        if u.intent in (Intent.YES, Intent.NO):
            return K.YES if u.intent is Intent.YES else K.NO
        return K.DETAILS if filled else K.UNCLEAR

    def _classify_check_answer(self, u: Utterance) -> Kind | None:
        return classify_check_answer(self.data, self.profile, self.config, self.expecting, u)

    def _classify_collect(self, u: Utterance, filled: set[str], invalid: str | None) -> Kind:
        data, expecting = self.data, self.expecting
        return classify_collect(data, self.profile, self.config, expecting, u, filled, invalid)


_BEFORE_BOOKING = frozenset({S.UNDERSTAND, S.QUOTE, S.COLLECT})
_ASKING = frozenset({S.QUOTE, S.COLLECT, S.CONFIRM, S.CLOSE})  # "unknown question" answered
_ASK_AGAIN = frozenset({K.DETAILS, K.INVALID_DETAIL, K.UNCLEAR, K.LOW_CONFIDENCE})
_AMEND_KINDS = frozenset({K.AMEND, K.AMENDED, K.AMEND_PENDING, K.AMEND_FAILED, K.RESCHEDULE})
_CUSTOMER = frozenset({"name", "address", "postcode", "phone"})
