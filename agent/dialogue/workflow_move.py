"""Moving the booked slot: another time asked for after the booking.

"Can we make it Thursday instead?", "not Friday, Thursday", "actually the afternoon
would be better": the workflow looks for free slots then (a time without a day is
on the booked day), offers them one by one (state ``MOVE``), and once the caller
takes one asks the booking to move (``amend_booking`` with the slot: ``PATCH``).
What the caller hears is what happened: moved, taken meanwhile (another slot is
offered), kept for the booking system to take when it answers again ("you'll get
a confirmation"), or not possible (the booking stands and the office is told the
time wanted). Nothing here changes the booking until the result says so.

``classify_move`` and ``classify_move_result`` name the table's kinds;
``MoveBuilder`` builds the actions behind the move rows' names (the
``ActionBuilder`` asks it for the names it does not have itself).
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any

import attrs

from agent.business.company import CompanyProfile
from agent.dialogue.replies import QUESTIONS, render
from agent.dialogue.saytext import say_when
from agent.dialogue.slots import Intent
from agent.dialogue.times import TimeWindow, clock_time, find_time_window
from agent.dialogue.tools import (
    AMEND_BOOKING,
    CHECK_AVAILABILITY,
    AmendRequest,
    AvailabilityRequest,
    ToolResult,
)
from agent.dialogue.workflow_actions import (
    Action,
    CallTool,
    KeepPending,
    Say,
    Utterance,
    WorkflowConfig,
)
from agent.dialogue.workflow_data import BookingData
from agent.dialogue.workflow_table import Kind, State

__all__ = [
    "MOVE_ACTIONS",
    "MoveBuilder",
    "asks_other_slot",
    "classify_move",
    "classify_move_result",
    "take_time",
    "time_words",
    "wants_move",
]

K = Kind

# A day named in the words: then the time means that day, not the booked one.
_DAY = re.compile(
    r"\b(?:today|tonight|tomorrow|week|weekend|(?:mon|tues|wednes|thurs|fri|satur|sun)days?|"
    r"\d{1,2}(?:st|nd|rd|th)|january|february|march|april|may|june|july|august|september|"
    r"october|november|december)\b",
    re.IGNORECASE,
)
# "Could you come a bit later?", "anything earlier?", "later would be better"; never
# "I'll call back later".
_EARLIER_LATER = re.compile(
    r"(?:\b(?:come|make it|do it|move it|have it|slot|visit|appointment|something|"
    r"anything|any)\b[^.?!,]{0,20}\b(earlier|later)\b|\b(earlier|later)\b,? (?:would|is|"
    r"please|instead|possible|suits?|works?)\b)",
    re.IGNORECASE,
)
# Said to a slot offered: "can it be later?", "have you got another day?": not this one.
_OTHER_SLOT = re.compile(
    r"\b(?:later|earlier|another (?:time|day|slot)|different (?:time|day|slot)|other times?|"
    r"something else|any other (?:time|day|slot)s?)\b",
    re.IGNORECASE,
)


def asks_other_slot(text: str) -> bool:
    """ "Can it be later?", "anything earlier?", "another day?": said to a slot offered,
    a no to it (the next slot is offered)."""
    return _OTHER_SLOT.search(text) is not None


# "Can I change the time?", "could we move the appointment", "a different day".
_MOVE_WISH = re.compile(
    r"\b(?:change|move|moving|reschedule|rearrange)\b.{0,30}\b(?:time|day|date|slot|"
    r"appointment|booking|visit|it)\b|\b(?:different|another|other)\s+(?:time|day|date|slot)\b"
    r"|\bput (?:it|that) back\b|\bbring (?:it|that) forward\b",
    re.IGNORECASE,
)


def take_time(data: BookingData, u: Utterance, now: float) -> Utterance | None:
    """After the booking a time is a wish to move it, never a detail to merge: kept as
    ``data.moved_to`` (a time without a day on the booked day; "earlier", "later": than
    the booked slot) and taken out of the returned ``u``; ``None`` when it names none."""
    when = u.slots.when or _relative(data, u.text, now)
    if when is None:
        return None
    if u.slots.when is not None and data.chosen is not None and not _DAY.search(u.text):
        tz = data.profile.timezone
        booked_day = datetime.fromtimestamp(data.chosen[0], tz).date()
        midnight = datetime.combine(booked_day, time(0), tz).timestamp()
        anchored = find_time_window(u.text, now=max(midnight, now), tz=tz)
        when = anchored if anchored is not None and anchored.end > now else when
    data.moved_to = when
    return attrs.evolve(u, slots=attrs.evolve(u.slots, when=None))


def _relative(data: BookingData, text: str, now: float) -> TimeWindow | None:
    """ "A bit later": after the booked slot that day; "earlier": from now until it."""
    found = _EARLIER_LATER.search(text)
    if found is None or data.chosen is None or data.offer_open:
        return None  # "no, later" to an offer: the next one (offers are in time order)
    start, end = data.chosen
    if (found.group(1) or found.group(2)).lower() == "earlier":
        return TimeWindow(now, start - 60, text.strip()) if start - 60 > now else None
    tz = data.profile.timezone
    day_end = datetime.combine(datetime.fromtimestamp(start, tz).date(), time(23, 59), tz)
    return TimeWindow(end, day_end.timestamp(), text.strip())


def wants_move(text: str) -> bool:
    """ "Can I change the time?", "could we move the appointment?", "a bit later?"."""
    return _MOVE_WISH.search(text) is not None or _EARLIER_LATER.search(text) is not None


def classify_move(data: BookingData, state: State, u: Utterance, new_time: bool) -> Kind | None:
    """The kind of an utterance after the booking that is about moving it, or ``None``;
    ``new_time``: it named a time (``take_time`` kept it as ``data.moved_to``)."""
    if new_time:
        return K.RESCHEDULE
    if state is State.MOVE and u.intent in (Intent.YES, Intent.NO):
        if data.offer_open:
            return K.ACCEPT_SLOT if u.intent is Intent.YES else K.REJECT_SLOT
        return K.YES if u.intent is Intent.YES else K.NO
    if wants_move(u.text) and u.intent is not Intent.NO and u.slots.service_id is None:
        return K.MOVE_ASKED
    return None


def classify_move_result(data: BookingData, result: ToolResult) -> Kind:
    """What the result of a move (``amend_booking`` with a slot) means; the booking's
    slot changes here only when the result says it moved."""
    slot, data.amending = data.moving, None
    assert slot is not None
    if result.status == "ok":
        data.chosen = slot
        if data.last_booking is not None:
            data.last_booking = attrs.evolve(
                data.last_booking, slot_start=slot[0], slot_end=slot[1]
            )
        return K.MOVED
    if result.status == "slot_taken":
        data.moving = None
        if slot in data.offers:
            data.offer_index = data.offers.index(slot) - 1
            data.offers.remove(slot)
        return K.SLOT_TAKEN
    return K.MOVE_PENDING if result.data.get("pending") else K.MOVE_FAILED


def availability_call(data: BookingData, window: TimeWindow, now: float) -> list[Action]:
    """Ask the diary for ``window`` (never before ``now``, at least an hour wide)."""
    assert data.service_id and data.postcode
    data.pending_tool = CHECK_AVAILABILITY
    earliest = max(window.start, now)
    latest = max(window.end, earliest + 3600)
    request = AvailabilityRequest(data.service_id, data.postcode, earliest, latest)
    return [CallTool(CHECK_AVAILABILITY, request)]


class MoveBuilder:
    """The actions behind the move rows (``_act_<name>``, as in ``ActionBuilder``)."""

    def __init__(self, profile: CompanyProfile, config: WorkflowConfig, data: BookingData) -> None:
        self.profile, self.config, self.data = profile, config, data

    def question(self) -> str:
        return QUESTIONS["move?"] if self.data.offer_open else QUESTIONS["move_when?"]

    def _say(self, key: str, **fields: Any) -> list[Action]:
        return [Say(render(self.profile, key, **fields), key)]

    def _slot(self, slot: tuple[float, float] | None, now: float) -> str:
        return say_when(slot[0], self.profile.timezone, now=now) if slot else "the time booked"

    def _wanted(self) -> str:
        return time_words(self.data.moved_to.label) if self.data.moved_to else "another time"

    def _act_ask_move_when(self, step: Any) -> list[Action]:
        self.data.offer_open = False
        return self._say("ask_move_when")

    def _act_call_move_availability(self, step: Any) -> list[Action]:
        data = self.data
        assert data.service_id and data.postcode and data.moved_to
        data.offers, data.offer_index, data.offer_open = [], -1, False
        return availability_call(data, data.moved_to, step.now)

    def _act_offer_move(self, step: Any) -> list[Action]:
        data = self.data
        data.offer_index += 1
        while data.offer_index < len(data.offers) and data.offers[data.offer_index] == data.chosen:
            data.offer_index += 1  # where it is booked now is no move
        if data.offer_index < min(len(data.offers), self.config.max_offers):
            data.offer_open = True
            return self._say("move_offer", slot=self._slot(data.offers[data.offer_index], step.now))
        return self._act_say_no_move_slots(step)

    def _act_say_no_move_slots(self, step: Any) -> list[Action]:
        data = self.data
        when = self._wanted()
        data.offers, data.offer_index, data.offer_open, data.moved_to = [], -1, False, None
        return self._say("no_move_slots", when=when, slot=self._slot(data.chosen, step.now))

    def _act_call_move(self, step: Any) -> list[Action]:
        data = self.data
        data.moving = data.offers[data.offer_index]
        data.offer_open, data.amending = False, ()
        data.pending_tool = AMEND_BOOKING
        return [CallTool(AMEND_BOOKING, AmendRequest(slot=data.moving), data.next_amend_key())]

    def _act_say_moved(self, step: Any) -> list[Action]:
        self.data.moving = self.data.moved_to = None
        return self._say("moved", slot=self._slot(self.data.chosen, step.now))

    def _act_say_move_pending(self, step: Any) -> list[Action]:
        slot, self.data.moving, self.data.moved_to = self.data.moving, None, None
        return self._say("move_pending", slot=self._slot(slot, step.now))

    def _act_say_move_failed(self, step: Any) -> list[Action]:
        when, self.data.moving, self.data.moved_to = self._wanted(), None, None
        return self._say("move_failed", slot=self._slot(self.data.chosen, step.now), when=when)

    def _act_say_booking_stays(self, step: Any) -> list[Action]:
        data = self.data
        data.offers, data.offer_index, data.offer_open, data.moved_to = [], -1, False, None
        return self._say("booking_stays", slot=self._slot(data.chosen, step.now))

    def _act_keep_correction(self, step: Any) -> list[Action]:
        details = {**self.data.details(), "booking_id": self.data.booking_id}
        if self.data.moved_to is not None:
            details["preferred_time"] = self._wanted()
        return [KeepPending("correction", details)]

    def _act_keep_cancel(self, step: Any) -> list[Action]:
        details = {**self.data.details(), "booking_id": self.data.booking_id, "cancel": True}
        return [KeepPending("correction", details, f"{self.data.call_uuid}:cancel")]

    def _act_say_cancel_noted(self, step: Any) -> list[Action]:
        return [Say(render(self.profile, "cancel_noted"), "cancel_noted")]

    def _act_say_reschedule_noted(self, step: Any) -> list[Action]:
        when = self._wanted()
        self.data.moved_to = None
        return self._say("reschedule_noted", slot=self._slot(self.data.chosen, step.now), when=when)


_LEAD = re.compile(
    r"^(?:(?:sorry|no|actually|oh|well|um|er|not|but|so|is|are|would|could|can|will|how|"
    r"what|about|you|we|i|it|make|do|does|come|have|be|the visit|the booking|"
    r"the appointment|rather|prefer|on|for)\b[\s,]*)+",
    re.IGNORECASE,
)
_TAIL = re.compile(
    r"\s+(?:instead|please|would|could|is|be|possible|work|works|suit|suits|better|"
    r"if possible|then|rather)\b.*$",
    re.IGNORECASE,
)


_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_PART = r"(?:\s+(?:morning|afternoon|evening|night))?"
_CLOCK_WORDS = re.compile(
    r"\b(?:at|around|about|after|before|by)\s+(?:\d{1,2}(?:[:.]\d{2})?(?:\s*(?:am|pm|a\.m\.|"
    r"p\.m\.))?|noon|midday|(?:half|quarter) past \w+)(?:\s+o'clock)?",
    re.IGNORECASE,
)
_TIME_WORDS = re.compile(
    rf"\b(?:(?:this|next|on)\s+)?(?:{_DAYS})s?\b{_PART}|\b(?:today|tomorrow|tonight)\b{_PART}|"
    r"\b(?:(?:in )?the|this)\s+(?:morning|afternoon|evening)\b|\b(?:morning|afternoon|evening)\b|"
    r"\b(?:this|next)\s+week\b|\b(?:at\s+)?the\s+weekend\b|\bas soon as (?:possible|you can)\b|"
    r"\b(?:asap|first available|earliest|right away|straight away|any ?time)\b|"
    r"\bfirst thing\b|\bafter lunch\b|\blunch ?time\b|\b(?:the )?day after\b|"
    r"\bthe \d{1,2}(?:st|nd|rd|th)\b(?: of \w+)?",
    re.IGNORECASE,
)


def time_words(label: str) -> str:
    """A time as the caller said it, without the words around it ("Sorry, Thursday.",
    "Can we make it Thursday instead?" -> "Thursday"; "I'm at 3 Kings Road, tomorrow
    afternoon please" -> "tomorrow afternoon"): the time's own words in their order
    when there are any, else the line without the words that lead to or follow one."""
    found = [(m.start(), m.group(0)) for m in _TIME_WORDS.finditer(label)]
    if clock_time(label) is not None:  # "at 3", not the house number of "at 3 Kings Road"
        found += [(m.start(), m.group(0)) for m in _CLOCK_WORDS.finditer(label)]
    if found:
        return " ".join(words for _, words in sorted(found))
    words = _TAIL.sub("", _LEAD.sub("", label.strip(" .,!?")))
    return words.strip(" .,!?") or "another time"


#: The action names ``MoveBuilder`` builds.
MOVE_ACTIONS = frozenset(
    name.removeprefix("_act_") for name in vars(MoveBuilder) if name.startswith("_act_")
)
