"""Doubt that converges: a value heard in doubt is read back, a no changes the way
it is asked (spelled, keypad), and nothing is read back twice after a no."""

from __future__ import annotations

import pytest

from agent.dialogue.details import find_address
from agent.dialogue.slots import find_name, match_service, yes_no
from agent.dialogue.tools import ToolResult
from agent.dialogue.workflow import CallTool, KeepPending, Say
from tests.dialogue.test_callers import NOW, PLUMBER, Call, booked, to_details


def at_postcode():
    call = to_details()
    for line in ("Raj Patel", "22 Baker Street"):
        call.say(line)
    return call


def test_a_postcode_run_together_is_read_back_not_taken_unasked() -> None:
    call = at_postcode()
    reply = call.say("My post code is SW1A1A1A1.")
    assert "Was that S W 1 A, 1 A A?" in reply and call.wf.data.postcode is None
    reply = call.say("yes")
    assert call.wf.data.postcode == "SW1A 1AA" and "number" in reply


def test_a_no_to_a_read_back_asks_another_way_and_never_reads_it_back_again() -> None:
    call = at_postcode()
    call.say("My post code is SW72 Arizona.")
    reply = call.say("No.")
    assert "letter by letter" in reply and call.wf.data.postcode is None
    again = call.say("My post code is SW72 Arizona.")
    assert "Was that" not in again  # the guess turned down is not offered again
    call.say("S4 sugar, W4 William 7-2, a 4 apple, Z4 zebra.")
    assert call.wf.data.postcode == "SW7 2AZ"


def test_a_postcode_spelled_with_words_is_taken() -> None:
    call = at_postcode()
    reply = call.say("S for sugar, E for Edward, 1, 7, P for Peter, B for Bertie")
    assert call.wf.data.postcode == "SE1 7PB" and "number" in reply


def test_a_phone_number_turned_down_is_asked_on_the_keypad() -> None:
    call = at_postcode()
    call.say("SW1A 1AA")
    assert "Was that" in call.say("07700 900456", confidence=0.3)
    reply = call.say("no")
    assert "keypad" in reply and call.wf.data.phone is None


def test_an_address_heard_the_same_after_a_no_is_asked_another_way_then_kept_marked() -> None:
    call = to_details()
    call.say("Raj Patel")
    assert "Was that 5 reverse street?" in call.say("5 reverse street", confidence=0.4)
    assert "spell the name of the street" in call.say("No.")  # asked another way
    # Said again instead: the spelling is asked once more, then once more another way;
    # heard the same still, it is kept for the office marked as not confirmed (never
    # read back again), and the call goes on.
    assert "spell" in call.say("5 reverse street", confidence=0.4)
    assert "once more" in call.say("5 reverse street", confidence=0.4)
    assert call.wf.data.address is None  # turned down: not taken
    reply = call.say("5 reverse street", confidence=0.4)
    assert call.wf.data.address == "5 reverse street" and "postcode" in reply
    assert call.wf.data.unconfirmed == {"address": "5 reverse street"}
    assert call.wf.hear("SW1A 1AA", NOW)


@pytest.mark.parametrize(
    ("heard", "address"),
    [
        ("7th station road", "7 station road"),  # a recogniser's ordinal house number
        ("Can you come on the 22nd?", None),  # a date is no address
        ("It's 3rd Mill Lane.", "3 Mill Lane"),
        ("flat 3, 9 Rose Court", "flat 3, 9 Rose Court"),
        ("22 Baker Street", "22 Baker Street"),
    ],
)
def test_house_numbers_heard_as_ordinals(heard: str, address: str | None) -> None:
    assert find_address(heard) == address


@pytest.mark.parametrize(
    ("heard", "answer"),
    [
        ("You had to go on.", True),  # "Yeah, go on" with its start misheard
        ("Oh alright then, go ahead.", True),
        ("Right you are, book it.", True),
        ("No, go on then", False),
        ("Don't book it", None),  # never a yes
        ("Do I have to book it?", None),
        ("I had to go to the shops on Monday and it broke", None),  # long: not a reply
    ],
)
def test_a_short_reply_ending_in_a_yes_is_a_yes(heard: str, answer: bool | None) -> None:
    assert yes_no(heard) is answer


@pytest.mark.parametrize(
    "heard", ["We've got no hot water", "We've got no fat water since this morning"]
)
def test_no_hot_water_with_its_middle_word_misheard_is_still_the_boiler(heard: str) -> None:
    services = PLUMBER.services
    found = match_service(heard, services)
    assert found is not None and found.id == "boiler_repair"


@pytest.mark.parametrize(
    ("heard", "name"),
    [
        ("Let's David Brown.", "David Brown"),
        ("Sarah Jones", "Sarah Jones"),
        ("So I need help", None),
    ],
)
def test_a_bare_name_after_a_misheard_lead_in(heard: str, name: str | None) -> None:
    assert find_name(heard, expecting=True) == name


def test_another_time_when_the_diary_is_down_is_noted_for_the_office_never_claimed_done() -> None:
    call = booked()
    (check,) = call.wf.hear("Sorry, not Wednesday, Thursday.", NOW)
    assert isinstance(check, CallTool) and check.name == "check_availability"
    actions = call.wf.handle(ToolResult("check_availability", "failed"), NOW)
    text = " ".join(a.text for a in actions if isinstance(a, Say))
    assert "moved" not in text  # the booking was not moved
    assert "can't check the diary" in text and "rather have Thursday" in text
    assert "tomorrow at nine in the morning" in text  # what still stands
    (kept,) = [a for a in actions if isinstance(a, KeepPending)]
    assert kept.kind == "correction" and kept.data["preferred_time"] == "Thursday"
    assert call.wf.data.chosen is not None  # the booked slot is still the booking's


def test_a_no_to_the_quote_is_not_greeted_with_great() -> None:
    call = Call()
    call.say("my kitchen sink is leaking")
    reply = call.say("No thanks, that's too much.")
    assert reply.startswith("No problem.") and "anything else" in reply


@pytest.mark.parametrize("heard", ["The shower is totally cold.", "the water runs freezing"])
def test_a_cold_shower_in_other_words_is_the_boiler(heard: str) -> None:
    found = match_service(heard, PLUMBER.services)
    assert found is not None and found.id == "boiler_repair"


def test_a_whole_postcode_in_a_line_heard_in_doubt_is_kept_while_the_address_is_checked() -> None:
    call = to_details()
    call.say("Kate Morris")
    reply = call.say("That's 6 Albert Road, SW3 5RZ.", confidence=0.3)
    assert "Was that 6 Albert Road?" in reply and call.wf.data.postcode == "SW3 5RZ"
    reply = call.say("yes")
    assert call.wf.data.address == "6 Albert Road" and "number" in reply  # postcode not asked
