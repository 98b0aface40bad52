"""Names and addresses the caller turns down: spelled, asked again another way, never
booked as turned down; questions heard in place of a name are not names."""

from __future__ import annotations

import pytest

from agent.dialogue.doubt import mark_check
from agent.dialogue.workflow_names import plausible_name
from tests.dialogue.test_callers import Call, to_details


def at_address():
    call = to_details()
    call.say("My name is Emma Wilson")
    return call


@pytest.mark.parametrize(
    ("heard", "spelling", "read_back"),
    [
        ("9th Street", "K for King, I, N, G", "9 King Street"),  # no name heard to spell
        ("3mm of lane", "M for Mary, I for Isaac, L, L", "3 Mill Lane"),  # run together
        ("Hi Street", "H, I, G, H", "High Street"),  # no house number
        ("70 queens rode", "Q, U, E, E, N, S", "70 Queens Road"),
    ],
)
def test_a_street_turned_down_is_spelled_whatever_its_shape(
    heard: str, spelling: str, read_back: str
) -> None:
    call = at_address()
    assert "was that" in call.say(heard, confidence=0.3).lower()
    assert "spell the name of the street" in call.say("No.")
    assert f"Just to check, was that {read_back}?" in call.say(spelling)
    call.say("Yes, that's right.")
    assert call.wf.data.address == read_back and not call.wf.data.unconfirmed


def test_one_word_in_doubt_is_checked_not_blamed_on_the_line() -> None:
    call = at_address()
    assert (
        call.say(mark_check("15 part lane.", ["part"])) == "Just to check, was that 15 part lane?"
    )
    call = at_address()
    reply = call.say("15 part lane.", confidence=0.3)  # the whole line in doubt
    assert reply == "Sorry, the line isn't very clear. Was that 15 part lane?"


def test_a_question_half_heard_when_the_name_is_asked_is_answered_not_stored() -> None:
    call = to_details()
    reply = call.say("Our view are robot.", confidence=0.3)
    assert "was that" not in reply.lower() and "name" in reply  # answered, then asked again
    assert call.wf.data.name is None and call.wf.data.doubt is None


def test_a_sentence_heard_for_the_name_is_not_read_back_as_a_name() -> None:
    call = to_details()
    reply = call.say("Do you do it today", confidence=0.3)
    assert "was that do you" not in reply.lower() and call.wf.data.name is None


@pytest.mark.parametrize(
    ("value", "plausible"),
    [
        ("Nina Shaw", True),
        ("Will Smith", True),
        ("Mary-Jane O'Neil", True),
        ("Our view are robot", False),
        ("Are you a robot?", False),
        ("is this a real person", False),
        ("Do you do it today", False),
        ("", False),
    ],
)
def test_plausible_name(value: str, plausible: bool) -> None:
    assert plausible_name(value) is plausible


def at_postcode():
    call = at_address()
    call.say("22 Baker Street")
    assert call.wf.expecting == "postcode"
    return call


def test_a_whole_number_given_for_the_postcode_in_doubt_is_kept_and_the_postcode_asked() -> None:
    call = at_postcode()
    reply = call.say("My number is 0 7 7 0 0 9 0 0 7 7 7.", confidence=0.3)
    assert call.wf.data.phone == "+447700900777" and call.wf.data.postcode is None
    assert "postcode" in reply


@pytest.mark.parametrize("confidence", [1.0, 0.3])
def test_a_number_not_heard_whole_for_the_postcode_is_said_back_not_taken_as_one(
    confidence: float,
) -> None:
    call = at_postcode()
    reply = call.say("My number 0770, 009, 00777", confidence=confidence)
    assert "I heard 0 7 7, 0 0 0" in reply and "keypad" in reply
    assert call.wf.data.postcode is None and call.wf.data.phone is None


def test_a_time_in_a_line_heard_in_doubt_at_the_quote_is_kept_for_the_offer() -> None:
    call = Call()
    call.say("My tap is dripping.")
    call.say("Good, some wind can't tomorrow morning.", confidence=0.3)
    call.say("Yes please.")
    for line in ("My name is Tom Hughes", "14 Queen Street", "SW7 2AZ"):
        call.say(line)
    reply = call.say("07700 900111")
    assert "I can do" in reply and "When would suit" not in reply


def test_a_name_spelled_when_asked_again_is_read_back() -> None:
    call = to_details()
    call.say("It's 9-ish wide.")
    reply = call.say("It's 9-ish wide.")
    assert "spell" in reply and call.wf.data.name is None
    assert "Just to check, was that Shaw?" in call.say("S for sugar, H for Harry, A, W.")
    assert "first name" in call.say("Yes, that's right.")  # the surname alone: asked once
    assert "address" in call.say("Nina.")
    assert call.wf.data.name == "Nina Shaw"


def test_details_said_with_a_street_asked_once_more_are_kept() -> None:
    call = at_address()
    call.say("15 part lane.", confidence=0.3)
    call.say("No.")
    call.say("B for Bertie, A, R, K.")
    assert "once more" in call.say("No.")
    reply = call.say("My postcode is SW1A 1AA.")  # no street in it: the best kept, marked
    assert call.wf.data.postcode == "SW1A 1AA" and call.wf.data.address == "15 Bark Lane"
    assert "number" in reply and call.wf.data.unconfirmed == {"address": "15 Bark Lane"}


def test_a_street_named_in_the_plural_is_found_whole() -> None:
    from agent.dialogue.details import find_address

    assert find_address("It's 30 Green Lanes.") == "30 Green Lanes"


def test_no_with_the_number_said_again_heard_the_same_is_not_taken() -> None:
    call = at_postcode()
    call.say("SW1A 1AA")
    assert "Was that" in call.say("07700990099", confidence=0.3)
    reply = call.say("No, 07700990099")  # the no and the same digits heard again
    assert "keypad" in reply and call.wf.data.phone is None
