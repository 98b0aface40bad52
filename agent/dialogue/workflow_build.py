"""The builders behind the transition table's action names (see ``workflow_table``).

``BookingWorkflow`` owns one ``ActionBuilder`` and asks it for the actions of
each row it applies: ``build(names, step)`` runs the builder of each name in
order; every ``_act_<name>`` here is one action name used in ``TABLE``. The
builders read and update the call's ``BookingData`` (a slot offered, a tool
now pending) and never change the workflow's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from agent.business.company import CompanyProfile
from agent.dialogue.meaning import concepts
from agent.dialogue.replies import QUESTIONS, render
from agent.dialogue.saytext import say_phone, say_postcode, say_service_price, say_when
from agent.dialogue.tools import (
    AMEND_BOOKING,
    BOOK_APPOINTMENT,
    CHECK_AVAILABILITY,
    GET_QUOTE,
    AmendRequest,
    AvailabilityRequest,
    QuoteRequest,
    TransferRequest,
)
from agent.dialogue.workflow_actions import (
    Action,
    CallTool,
    EndCall,
    KeepPending,
    Say,
    Transfer,
    WorkflowConfig,
)
from agent.dialogue.workflow_data import BookingData
from agent.dialogue.workflow_move import MOVE_ACTIONS, MoveBuilder, availability_call, time_words
from agent.dialogue.workflow_table import Kind, State

__all__ = ["ACTION_NAMES", "ActionBuilder", "Step"]

_QUESTION_BY_STATE = {
    State.GREET: QUESTIONS["greet"],
    State.UNDERSTAND: QUESTIONS["service"],
    State.QUOTE: QUESTIONS["book?"],
    State.CONFIRM: QUESTIONS["confirm?"],
}


@attrs.frozen
class Step:
    """Where the call is while a row's actions are built."""

    state: State  # after the row's move
    kind: Kind  # the input's kind that chose the row
    now: float  # the input's time, Unix epoch seconds


# Why a detail the caller does not have to hand is asked for (``_act_say_dont_know``).
_WHY_NEEDED = {
    "postcode": "The postcode tells me we cover your area and which times are free.",
    "phone": "The engineer needs a number to reach you if anything changes.",
    "address": "The engineer needs the address to come out to you.",
    "house_number": "The engineer needs the house number to find you.",
    "first_name": "A name helps the engineer know who to ask for.",
    "name": "A name helps the engineer know who to ask for.",
}


class ActionBuilder:
    """Builds the concrete actions of the table's action names for one call."""

    def __init__(self, profile: CompanyProfile, config: WorkflowConfig, data: BookingData) -> None:
        self.profile, self.config, self.data = profile, config, data
        self.streak: tuple[str | None, int] = (None, 0)  # the detail asked, times in a row
        self.move = MoveBuilder(profile, config, data)  # the rows that move the booked slot

    def build(self, names: Iterable[str], step: Step) -> tuple[Action, ...]:
        """The actions of ``names`` (one table row), in order."""
        actions: list[Action] = []
        for name in names:
            owner = self.move if name in MOVE_ACTIONS else self
            actions.extend(getattr(owner, f"_act_{name}")(step))
        return tuple(actions)

    def question(self, state: State, *, asking: bool = False) -> str:
        """The open question of ``state``, to repeat after a reprompt or a detour.

        ``asking``: it is being asked now; the same detail is asked at most twice
        in a row, then in another way (keypad, spelling) with a person on offer."""
        if state is State.COLLECT:
            if self.data.offer_open:
                return QUESTIONS["slot?"]
            detail = self.data.missing_detail()
            if detail is None:
                return QUESTIONS["slot?"]
            if self.data.spelling is not None and self.data.spelling[0] == detail:
                return render(self.profile, f"spell_{detail}")  # turned down: spelled now
            if self.data.another_way == detail:
                return render(self.profile, f"another_{detail}")  # the spelling failed too
            if not asking:  # said again after something else: no "Thanks." before it
                return render(self.profile, f"ask_{detail}").removeprefix("Thanks. ")
            times = self._asked(detail)
            retry = times > 2 or self.data.misses.get(detail, 0) >= 2
            return render(self.profile, f"{'retry' if retry else 'ask'}_{detail}")
        self.streak = (None, 0)
        if state is State.MOVE:
            return self.move.question()
        return _QUESTION_BY_STATE.get(state, QUESTIONS["else?"])

    def say(self, key: str, **fields: Any) -> list[Action]:
        return [Say(render(self.profile, key, **fields), key)]

    def _slot_text(self, slot: tuple[float, float] | None, now: float) -> str:
        return say_when(slot[0], self.profile.timezone, now=now) if slot else "the slot"

    # --- the builders: ``_act_<name>`` for each action name of TABLE -------------

    def _act_greet(self, step: Step) -> list[Action]:
        return self.say("greet")

    def _act_greet_closed(self, step: Step) -> list[Action]:
        opening = self.profile.next_opening(step.now)
        text = say_when(opening, self.profile.timezone, now=step.now) if opening else "soon"
        return self.say("greet_closed", next_opening=text)

    def _act_ask_service(self, step: Step) -> list[Action]:
        names = [s.name for s in self.profile.services]
        joined = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        text = render(self.profile, "ask_service", services=joined)
        if self.data.misses.get("service", 0) >= 3:  # the third time: another way out
            text = f"{text} {render(self.profile, 'offer_person')}"
        return [Say(text, "ask_service")]

    def _act_call_quote(self, step: Step) -> list[Action]:
        assert self.data.service_id is not None
        self.data.pending_tool = GET_QUOTE
        return [CallTool(GET_QUOTE, QuoteRequest(self.data.service_id, self.data.problem))]

    def _act_say_quote(self, step: Step) -> list[Action]:
        service = self.profile.service(self.data.service_id or "")
        assert service is not None
        text = say_service_price(service.price, service.currency)
        if self.data.assessing:  # what it is was not understood: someone to look at it
            return self.say("assessment", price_text=text)
        return self.say("quote", service=service.name.lower(), price_text=text)

    def _act_say_quote_unavailable(self, step: Step) -> list[Action]:
        return self.say("quote_unavailable")

    def _act_ask_detail(self, step: Step) -> list[Action]:
        detail = self.data.missing_detail()
        if detail is None:
            return self._act_call_availability(step)
        return [Say(self.question(step.state, asking=True), f"ask_{detail}")]

    def _asked(self, detail: str) -> int:
        """``detail`` asked once more: the times in a row it has been asked."""
        last, times = self.streak
        self.streak = (detail, times + 1 if last == detail else 1)
        return self.streak[1]

    def _act_say_invalid_detail(self, step: Step) -> list[Action]:
        field = self.data.invalid_field or "postcode"
        if self.data.misses.get(field, 0) >= 2 and field == self.data.missing_detail():
            return [Say(self.question(step.state, asking=True), f"retry_{field}")]
        if field == self.data.missing_detail():
            self._asked(field)  # "Sorry, I didn't get a valid postcode ..." asks it again
        if field == "phone" and self.data.heard_phone:
            return self.say("heard_phone", heard=say_phone(self.data.heard_phone))
        if field in ("postcode", "phone"):
            return self.say(f"invalid_{field}")
        return self.say("invalid_field", field=field, question=self.question(step.state))

    def _act_ask_check_value(self, step: Step) -> list[Action]:
        assert self.data.doubt is not None
        field, value = self.data.doubt
        spoken = {"phone": say_phone, "postcode": say_postcode}.get(field, str)(value)
        word, self.data.doubt_word = self.data.doubt_word, False
        return self.say("check_word" if word else "check_value", value=spoken)

    def _act_ask_check_area(self, step: Step) -> list[Action]:
        return self.say("check_area", postcode=say_postcode(self.data.postcode or ""))

    def _act_say_read_back(self, step: Step) -> list[Action]:
        question = self.question(step.state)
        parts = [f"the {self._what(f)} {self._spoken(f, v)}" for f, v in self.data.understood()]
        if not parts:
            return self.say("read_back_empty", question=question)
        summary = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        return self.say("read_back", summary=summary, question=question)

    def changed(self) -> list[Action]:
        """ "Got it, I've changed the address to 41 Baker Street." for each changed detail."""
        return [
            Say(render(self.profile, "changed", what=f"the {self._what(f)}", value=v), "changed")
            for f, v in ((f, self._spoken(f, v)) for f, v in self.data.changed)
        ]

    @staticmethod
    def _what(field: str) -> str:
        return {"when": "time", "phone": "phone number"}.get(field, field)

    @staticmethod
    def _spoken(field: str, value: str) -> str:
        return {"phone": say_phone, "postcode": say_postcode, "when": time_words}.get(field, str)(
            value
        )

    def _act_say_hand_over(self, step: Step) -> list[Action]:
        target = self.profile.default_transfer_target
        return self.say("hand_over", target=target.name if target else "the team")

    def _act_ask_change(self, step: Step) -> list[Action]:
        return self.say("ask_change")

    def _act_ask_fix(self, step: Step) -> list[Action]:
        return self.say("ask_fix", what=self._what(self.data.fixing or "detail"))

    def _act_call_amend(self, step: Step) -> list[Action]:
        changes = tuple((f, v) for f, v in self.data.changed if f != "when")
        self.data.amending, self.data.moving = changes, None
        self.data.pending_tool = AMEND_BOOKING
        return [CallTool(AMEND_BOOKING, AmendRequest(changes), self.data.next_amend_key())]

    def _amended_fields(self) -> dict[str, str]:
        changes = self.data.amending or ()
        what = " and ".join(f"the {self._what(f)}" for f, _ in changes) or "your details"
        value = " and ".join(self._spoken(f, v) for f, v in changes)
        return {"what": what, "value": value}

    def _act_say_amended(self, step: Step) -> list[Action]:
        return self.say("amended", **self._amended_fields())

    def _act_say_amend_pending(self, step: Step) -> list[Action]:
        return self.say("amend_pending", **self._amended_fields())

    def _act_say_amend_failed(self, step: Step) -> list[Action]:
        return self.say("amend_failed")

    def _act_say_out_of_area(self, step: Step) -> list[Action]:
        return self.say("out_of_area", postcode=say_postcode(self.data.postcode or ""))

    def _act_call_availability(self, step: Step) -> list[Action]:
        data = self.data
        assert data.when
        return availability_call(data, data.when, step.now)

    def _act_offer_slot(self, step: Step) -> list[Action]:
        data = self.data
        data.offer_index += 1
        if data.offer_index < min(len(data.offers), self.config.max_offers):
            data.offer_open = True
            return self.say(
                "offer_slot", slot=self._slot_text(data.offers[data.offer_index], step.now)
            )
        return self._act_say_no_slots(step)

    def _act_say_no_slots(self, step: Step) -> list[Action]:
        data = self.data
        data.offers, data.offer_index, data.offer_open, data.when = [], -1, False, None
        return self.say("no_slots")

    def _act_keep_callback(self, step: Step) -> list[Action]:
        details = self.data.details()
        details["phone"] = self.data.callback_phone or details["phone"]  # request_callback's
        return [KeepPending("callback", details)]

    def _act_say_availability_failed(self, step: Step) -> list[Action]:
        phone = self.data.phone or self.data.caller_id
        return self.say(
            "availability_failed",
            phone=say_phone(phone) if phone else "the number you're calling from",
        )

    def _act_call_book(self, step: Step) -> list[Action]:
        if self.data.booked:
            return self.say("already_booked")
        if self.data.chosen is None:
            self.data.chosen = self.data.offers[self.data.offer_index]
        self.data.offer_open = False
        self.data.pending_tool = BOOK_APPOINTMENT
        return [CallTool(BOOK_APPOINTMENT, self.data.booking_request(), self.data.idempotency_key)]

    def _act_say_booked(self, step: Step) -> list[Action]:
        return self.say(
            "booked",
            name=self.data.name,
            address=self.data.address,
            postcode=say_postcode(self.data.postcode or ""),
            slot=self._slot_text(self.data.chosen, step.now),
            phone=say_phone(self.data.phone or self.data.caller_id or ""),
        )

    def _act_keep_booking(self, step: Step) -> list[Action]:
        assert self.data.last_booking is not None
        body = self.data.last_booking.body(self.profile, self.data.call_uuid)
        return [KeepPending("booking", body, self.data.idempotency_key)]

    def _act_say_booking_pending(self, step: Step) -> list[Action]:
        return self.say("booking_pending", slot=self._slot_text(self.data.chosen, step.now))

    def _act_say_slot_taken(self, step: Step) -> list[Action]:
        return self.say("slot_taken")

    def _act_call_authorized(self, step: Step) -> list[Action]:
        assert self.data.authorized is not None
        name = {
            QuoteRequest: GET_QUOTE,
            AvailabilityRequest: CHECK_AVAILABILITY,
            AmendRequest: AMEND_BOOKING,
        }.get(type(self.data.authorized), BOOK_APPOINTMENT)
        key = self.data.idempotency_key if name == BOOK_APPOINTMENT else None
        return [CallTool(name, self.data.authorized, key)]

    def _act_transfer_authorized(self, step: Step) -> list[Action]:
        assert isinstance(self.data.authorized, TransferRequest)
        return [Transfer(self.data.authorized.target, self.data.authorized.reason or "model")]

    def _act_transfer_default(self, step: Step) -> list[Action]:
        target = self.profile.default_transfer_target
        assert target is not None  # classification checked
        return [Transfer(target, step.kind.value)]

    def _act_transfer_emergency(self, step: Step) -> list[Action]:
        target = self.profile.emergency_target
        assert target is not None
        return [Transfer(target, f"emergency: {self.data.emergency_keyword}")]

    def _act_say_emergency_transfer(self, step: Step) -> list[Action]:
        target = self.profile.emergency_target
        assert target is not None
        return self._gas_safety() + self.say("emergency_transfer", target=target.name)

    def _act_say_emergency_priority(self, step: Step) -> list[Action]:
        return self._gas_safety() + self.say("emergency_priority")

    def _gas_safety(self) -> list[Action]:
        if "gas" not in (self.data.emergency_keyword or ""):
            return []
        # A carbon monoxide alarm needs everyone out, not only the windows open.
        co = any("carbon monoxide" in c for c in concepts(self.data.problem or ""))
        return self.say("emergency_safety_co" if co else "emergency_safety_gas")

    def _act_say_transfer(self, step: Step) -> list[Action]:
        target = self.profile.default_transfer_target
        return self.say("transfer", target=target.name if target else "the team")

    def _act_say_one_booking(self, step: Step) -> list[Action]:
        target = self.profile.default_transfer_target
        return self.say("one_booking", target=target.name if target else "the team")

    def _act_say_anything_else(self, step: Step) -> list[Action]:
        return self.say("anything_else")

    def _act_say_no_booking(self, step: Step) -> list[Action]:
        return self.say("no_booking")  # not "Great." to a caller who said no

    def _act_say_what_else(self, step: Step) -> list[Action]:
        return self.say("what_else")

    def _act_say_correction_noted(self, step: Step) -> list[Action]:
        return self.say("correction_noted")

    def _act_say_goodbye(self, step: Step) -> list[Action]:
        return self.say("goodbye")

    def _act_say_no_human(self, step: Step) -> list[Action]:
        return self.say("no_human")

    def _act_say_callback(self, step: Step) -> list[Action]:
        phone = self.data.phone or self.data.caller_id
        return self.say("callback", phone=say_phone(phone) if phone else "your number")

    def _act_say_dont_know(self, step: Step) -> list[Action]:
        detail = self.data.missing_detail() or "detail"
        target = self.profile.default_transfer_target
        return self.say(
            "dont_know",
            why=_WHY_NEEDED.get(detail, ""),
            target=target.name if target else "someone who can help",
        )

    def _act_end_call(self, step: Step) -> list[Action]:
        return [EndCall(step.kind.value)]

    def _act_ask_repeat(self, step: Step) -> list[Action]:
        detail = self.data.missing_detail() if step.state is State.COLLECT else None
        if detail is not None and self.data.misses.get(detail, 0) >= 2:
            return [Say(self.question(step.state, asking=True), f"retry_{detail}")]
        return self.say("ask_repeat")

    def _act_say_unclear(self, step: Step) -> list[Action]:
        asking = step.state is State.COLLECT
        question = self.question(step.state, asking=asking).removeprefix("Thanks. ")
        return self.say("unclear", question=question)  # not "I didn't follow. Thanks."

    def _act_reprompt(self, step: Step) -> list[Action]:
        return self.say("reprompt", question=self.question(step.state))

    def _act_say_silence_end(self, step: Step) -> list[Action]:
        return self.say("silence_end")


#: Every action name a table row may use.
ACTION_NAMES = MOVE_ACTIONS | frozenset(
    name.removeprefix("_act_") for name in vars(ActionBuilder) if name.startswith("_act_")
)
