"""Moving the booked slot after the booking, turn by turn: the caller asks for another
time, free slots then are offered, the booking is moved (``amend_booking`` with the
slot) and what the caller hears is what happened: moved, taken meanwhile (another
offer), kept for when the booking system answers, or not possible (booking stands).

The workflow is driven as the offline policy drives it (``hear``); the diary answers
``check_availability`` with its free slots inside the asked window, as the store does.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from agent.base.events import ToolCall
from agent.dialogue.tools import AmendRequest, InvalidToolCall, ToolResult, parse_tool_call
from agent.dialogue.workflow import BookingWorkflow, CallTool, KeepPending, Say, Silence, State
from agent.dialogue.workflow_move import time_words, wants_move
from agent.providers.llm.offline_policy import tool_arguments
from tests.dialogue.test_callers import NOW, PLUMBER, TZ


def at(day: int, hour: int) -> float:
    return datetime(2025, 5, day, hour, tzinfo=TZ).timestamp()


BOOKED = (at(14, 9), at(14, 11))  # Wednesday 9:00, "tomorrow at nine in the morning"
DIARY = [(at(d, h), at(d, h + 2)) for d, h in ((14, 9), (14, 13), (14, 15), (15, 9), (15, 11))]
DIARY += [(at(15, 14), at(15, 16)), (at(16, 9), at(16, 11))]


class Caller:
    """One call booked for Wednesday 9:00; ``amend`` answers ``amend_booking`` in turn."""

    def __init__(self, *amend: str) -> None:
        self.wf = BookingWorkflow(PLUMBER, "call-1", NOW)
        self.amend = list(amend)
        self.tools: list[CallTool] = []
        self.kept: list[KeepPending] = []
        self.taken: set[tuple[float, float]] = set()
        self.run(self.wf.start(NOW))
        for line in ("my kitchen sink is leaking", "yes please", "Raj Patel", "22 Baker Street"):
            self.say(line)
        for line in ("SW1A 1AA", "07700 900123", "tomorrow morning", "yes"):
            self.say(line)
        assert self.wf.data.booking_id == "B1" and self.wf.data.chosen == BOOKED
        self.taken.add(BOOKED)  # the diary no longer offers it

    def say(self, text: str) -> str:
        return self.run(self.wf.hear(text, NOW))

    def run(self, actions: tuple[Any, ...]) -> str:
        todo, spoken = list(actions), []
        while todo:
            action = todo.pop(0)
            if isinstance(action, Say):
                spoken.append(action.text)
            elif isinstance(action, KeepPending):
                self.kept.append(action)
            elif isinstance(action, CallTool):
                self.tools.append(action)
                todo.extend(self.wf.handle(self.answer(action), NOW))
        return " ".join(spoken)

    def answer(self, call: CallTool) -> ToolResult:
        if call.name == "get_quote":
            return ToolResult(call.name, "ok", {"amount": 85})
        if call.name == "check_availability":
            lo, hi = call.request.earliest, call.request.latest
            free = [s for s in DIARY if lo <= s[0] <= hi and s not in self.taken]
            return ToolResult(call.name, "ok", {"slots": [_iso(s) for s in free]})
        if call.name == "amend_booking":
            status = self.amend.pop(0) if self.amend else "ok"
            data = {"pending": True} if status == "pending" else {}
            return ToolResult(call.name, "failed" if status == "pending" else status, data)  # type: ignore[arg-type]
        return ToolResult(call.name, "ok", {"booking_id": "B1"})

    def moves(self) -> list[AmendRequest]:
        return [t.request for t in self.tools if t.name == "amend_booking"]


def _iso(slot: tuple[float, float]) -> dict[str, str]:
    start, end = (datetime.fromtimestamp(t, TZ).isoformat() for t in slot)
    return {"start": start, "end": end}


# wish -> the first slot offered (spoken) and the slot it moves to
MOVES = [
    ("Can we make it Thursday instead?", "Thursday the 15th of May at nine", (15, 9)),
    ("Sorry, not Wednesday, Thursday.", "Thursday the 15th of May at nine", (15, 9)),
    ("Actually, the afternoon would be better.", "tomorrow at one in the afternoon", (14, 13)),
    ("Could you come at 3 instead?", "tomorrow at three in the afternoon", (14, 15)),
    ("Is Thursday afternoon possible instead?", "at two in the afternoon", (15, 14)),
    ("Can we do Friday morning please?", "Friday the 16th of May at nine", (16, 9)),
    ("Could you come a bit later?", "tomorrow at one in the afternoon", (14, 13)),  # that day
]


@pytest.mark.parametrize(("wish", "offered", "to"), MOVES, ids=[m[0] for m in MOVES])
def test_another_time_is_offered_from_the_diary_and_the_booking_moved(wish, offered, to) -> None:
    call = Caller()
    offer = call.say(wish)
    assert offered in offer and "Shall I move your booking" in offer
    assert call.wf.state is State.MOVE and call.wf.data.chosen == BOOKED  # not yet
    done = call.say("yes please")
    slot = (at(*to), at(*to) + 7200)
    (move,) = call.moves()
    assert move == AmendRequest(slot=slot)
    assert move.body(PLUMBER)["slot"] == _iso(slot)
    assert call.tools[-1].idempotency_key == "call-1:amend:1"
    assert done.startswith("Done, I've moved your booking to") and offered in done
    assert call.wf.data.chosen == slot and call.wf.data.last_booking.slot_start == slot[0]
    assert call.wf.state is State.CLOSE and call.kept == []
    assert "Goodbye" in call.say("No, that's everything, goodbye.")


def test_a_no_to_the_offer_offers_the_next_and_running_out_keeps_the_booking() -> None:
    call = Caller()
    assert "Thursday the 15th of May at nine" in call.say("Thursday instead please")
    assert "at eleven in the morning" in call.say("no")
    assert "at two in the afternoon" in call.say("no, later")
    out = call.say("no")  # three offers (max_offers): no more
    assert "can't find another free slot for Thursday" in out
    assert "stays for tomorrow at nine in the morning" in out and "another day" in out
    assert call.moves() == [] and call.wf.data.chosen == BOOKED
    assert "Friday the 16th of May at nine" in call.say("Friday then")
    assert "moved your booking to Friday" in call.say("yes")


def test_a_day_with_nothing_free_keeps_the_booking_and_asks_for_another() -> None:
    call = Caller()
    out = call.say("Can we make it Saturday instead?")
    assert "can't find another free slot for Saturday" in out and "stays for tomorrow" in out
    assert call.wf.state is State.MOVE and call.moves() == []
    out = call.say("No, leave it then.")
    assert out.startswith("No problem, your booking stays for tomorrow at nine")
    assert call.wf.state is State.CLOSE and call.wf.data.chosen == BOOKED


def test_a_slot_taken_meanwhile_is_said_and_another_offered() -> None:
    call = Caller("slot_taken", "ok")
    call.say("Can we make it Thursday instead?")
    out = call.say("yes")
    assert out.startswith("Sorry, that slot has just been taken.")
    assert "Thursday the 15th of May at eleven" in out and call.wf.data.chosen == BOOKED
    done = call.say("yes")
    assert "moved your booking to Thursday the 15th of May at eleven" in done
    first, second = [t.idempotency_key for t in call.tools if t.name == "amend_booking"]
    assert (first, second) == ("call-1:amend:1", "call-1:amend:2")  # a new try, a new key


def test_with_the_booking_system_down_the_move_is_asked_for_never_claimed_done() -> None:
    call = Caller("pending")
    call.say("not Wednesday, Thursday")
    out = call.say("yes")
    assert "I've asked for your booking to be moved to Thursday the 15th of May at nine" in out
    assert "isn't changed yet" in out and "confirmation" in out
    assert "Done" not in out and "I've moved" not in out
    assert call.wf.data.chosen == BOOKED and call.wf.state is State.CLOSE


def test_a_move_refused_keeps_the_booking_and_tells_the_office_the_time_wanted() -> None:
    call = Caller("invalid")
    call.say("Can we make it Thursday instead?")
    out = call.say("yes")
    assert "couldn't move the booking" in out and "stays for tomorrow at nine" in out
    (kept,) = call.kept
    assert kept.kind == "correction" and kept.data["preferred_time"] == "Thursday"


def test_asking_to_change_the_time_without_a_day_asks_which() -> None:
    call = Caller()
    assert "Which day and time would suit you better?" in call.say("Can I change the time?")
    assert "at two in the afternoon" in call.say("Thursday afternoon")
    assert "moved your booking" in call.say("yes that's fine")


def test_a_silence_while_offering_repeats_the_move_question() -> None:
    call = Caller()
    call.say("Thursday instead")
    assert "Shall I move your booking to then?" in call.run(call.wf.handle(Silence(), NOW))


def test_the_model_moves_only_to_a_slot_check_availability_offered() -> None:
    wf = BookingWorkflow(PLUMBER, "call-1", NOW)
    wf.start(NOW)
    wf.data.offers = [BOOKED]
    book = {
        "service_id": "leak_repair",
        **_args(BOOKED),
        "name": "Raj Patel",
        "phone": "07700 900123",
        "address": "22 Baker Street",
        "postcode": "SW1A 1AA",
    }
    wf.authorize(ToolCall("1", "book_appointment", json.dumps(book)), NOW)
    wf.handle(ToolResult("book_appointment", "ok", {"booking_id": "B1"}), NOW)
    thursday = (at(15, 9), at(15, 11))
    with pytest.raises(InvalidToolCall, match="not offered"):
        wf.authorize(ToolCall("2", "amend_booking", json.dumps(_args(thursday))), NOW)
    window = {"earliest": "2025-05-15T08:00:00+01:00", "latest": "2025-05-15T18:00:00+01:00"}
    check = {"service_id": "leak_repair", "postcode": "SW1A 1AA", **window}
    wf.authorize(ToolCall("3", "check_availability", json.dumps(check)), NOW)
    wf.handle(ToolResult("check_availability", "ok", {"slots": [_iso(thursday)]}), NOW)
    (move,) = wf.authorize(ToolCall("4", "amend_booking", json.dumps(_args(thursday))), NOW)
    assert isinstance(move, CallTool) and move.request == AmendRequest(slot=thursday)
    wf.handle(ToolResult("amend_booking", "ok", {"booking_id": "B1"}), NOW)
    assert wf.data.chosen == thursday and wf.state is State.CLOSE


def test_a_move_goes_to_the_model_tool_and_back_unchanged() -> None:
    request = AmendRequest((("name", "Raj Patil"),), (at(15, 9), at(15, 11)))
    args = tool_arguments(request, PLUMBER)
    assert args == {"name": "Raj Patil", **_args((at(15, 9), at(15, 11)))}
    assert parse_tool_call(ToolCall("1", "amend_booking", json.dumps(args)), PLUMBER) == request


def _args(slot: tuple[float, float]) -> dict[str, str]:
    start, end = _iso(slot).values()
    return {"slot_start": start, "slot_end": end}


@pytest.mark.parametrize(
    ("said", "words"),
    [
        ("Can we make it Thursday instead?", "Thursday"),
        ("Sorry, Thursday.", "Thursday"),  # "not Wednesday" is dropped before (slots)
        ("Thursday", "Thursday"),
        ("Is Thursday afternoon possible instead?", "Thursday afternoon"),
        ("Actually, the afternoon would be better.", "the afternoon"),
        ("How about Friday morning please", "Friday morning"),
        ("Could you come at 3 instead?", "at 3"),
        ("I'm at 3 Kings Road, tomorrow afternoon please", "tomorrow afternoon"),
        ("Thursday at half past two if that's OK, my name's Ann", "Thursday at half past two"),
        ("any chance of next week?", "next week"),
        ("um", "another time"),
    ],
)
def test_the_time_wanted_is_said_back_in_the_callers_words(said: str, words: str) -> None:
    assert time_words(said) == words


def test_earlier_than_the_booked_slot_with_nothing_free_keeps_it() -> None:
    call = Caller()
    out = call.say("Can we do it earlier?")
    assert "can't find another free slot for earlier" in out and "stays for tomorrow" in out
    assert call.moves() == [] and call.wf.data.chosen == BOOKED


@pytest.mark.parametrize(
    ("said", "moves"),
    [
        ("Could you come a bit later?", True),
        ("Is there anything earlier?", True),
        ("Later would be better, if you can.", True),
        ("Can I change the time?", True),
        ("Could we move the appointment?", True),
        ("I'll call you back later if I need to.", False),
        ("Thanks, I'll see you later.", False),
        ("I'll be back later.", False),
        ("I don't have time now, I'll ring later.", False),
        ("Can you come later in the day?", True),
        ("Is it another plumber who comes?", False),
        ("I've another leak, can you look at it too?", False),
        ("Could we do a different day?", True),
        ("Can you put it back to the afternoon?", True),
    ],
)
def test_a_wish_to_move_is_told_from_other_talk(said: str, moves: bool) -> None:
    assert wants_move(said) is moves
