"""A name or address holding a word the recogniser doubted is read back before it is taken."""

from __future__ import annotations

import json

import pytest

from agent.base.events import Message
from agent.dialogue.details import with_street_name
from agent.dialogue.doubt import mark_check, mark_unsure
from agent.dialogue.spelling import spelled_word
from agent.dialogue.workflow import BookingWorkflow
from agent.providers.llm.offline_policy import OfflinePolicy
from tests.dialogue.test_callers import NOW, PLUMBER, Call, to_details


def at_address() -> Call:
    call = to_details()
    call.say("My name is Emma Wilson")
    assert call.wf.expecting == "address"
    return call


def test_an_address_with_a_doubted_word_is_read_back_and_a_yes_takes_it() -> None:
    call = at_address()
    assert "Just to check, was that 15 part lane?" in call.say(
        mark_check("15 part lane.", ["part"])
    )
    assert call.wf.data.address is None  # not taken unasked
    assert "postcode" in call.say("Yes, that's right.")
    assert call.wf.data.address == "15 part lane"


def test_a_no_asks_again_and_a_new_hearing_is_read_back_once_more() -> None:
    call = at_address()
    call.say(mark_check("15 part lane.", ["part"]))
    assert "spell the name of the street" in call.say("No.")  # asked another way
    # Said again instead of spelled: a new hearing, read back once more.
    assert "Just to check, was that 15 Park Lane?" in call.say(
        mark_check("15 Park Lane.", ["park"])
    )
    call.say("Yes.")
    assert call.wf.data.address == "15 Park Lane"


@pytest.mark.parametrize(
    "spelling",
    [
        "P for Peter, A for apple, R for Robert, K for King.",
        "P, A, R, K.",
        "P4 Peter, a 4-apple, R, K",
        # the letters lost, the words kept, heard as a question: a spelling still
        "Do you for Peter, are for Apple, if for Robert, and for King?",
    ],
)
def test_a_no_asks_for_the_street_spelled_and_the_spelling_is_read_back(spelling: str) -> None:
    call = at_address()
    call.say(mark_check("15 part lane.", ["part"]))
    assert "spell the name of the street" in call.say("No.")
    assert "Just to check, was that 15 Park Lane?" in call.say(spelling)
    assert "postcode" in call.say("Yes, that's right.")
    assert call.wf.data.address == "15 Park Lane"


def test_a_no_to_the_spelled_read_back_asks_once_more_another_way() -> None:
    call = at_address()
    call.say(mark_check("15 part lane.", ["part"]))
    call.say("No.")
    assert "Just to check, was that 15 Bark Lane?" in call.say("B for Bertie, A, R, K.")
    assert "once more" in call.say("No.")  # neither hearing is taken
    assert call.wf.data.address is None
    assert "postcode" in call.say("15 Park Lane.")  # heard anew: taken
    assert call.wf.data.address == "15 Park Lane" and not call.wf.data.unconfirmed


def test_still_wrong_after_the_other_way_is_kept_marked_for_the_office() -> None:
    call = at_address()
    call.say(mark_check("15 part lane.", ["part"]))
    call.say("No.")
    call.say("B for Bertie, A, R, K.")
    call.say("No.")
    assert "postcode" in call.say(mark_check("15 part lane.", ["part"]))  # turned down before
    assert call.wf.data.address == "15 Bark Lane"  # the caller's own letters, not "part"
    assert call.wf.data.unconfirmed == {"address": "15 Bark Lane"}
    for line in ("SW1A 1AA", "07700 900123", "tomorrow morning", "yes"):
        call.say(line)
    booking = call.tools[-1].request
    assert booking.address == "15 Bark Lane"
    assert "Not confirmed by the caller" in booking.problem and "15 Bark Lane" in booking.problem


def test_a_spelling_that_is_no_spelling_asks_once_more() -> None:
    call = to_details()
    call.say(mark_check("My name is Peter Morrigan.", ["morrigan"]))
    assert "spell your surname" in call.say("No.")
    assert "once more" in call.say("M4M4O4O4R4R4R4G4G4G4A4A4A4N")
    assert call.wf.data.name is None  # turned down: never kept while asking
    assert "address" in call.say("My name is Peter Morgan.")
    assert call.wf.data.name == "Peter Morgan"


def test_a_spelling_cut_by_a_pause_is_listened_to_the_end() -> None:
    call = at_address()
    call.say(mark_check("12-hour e-road", ["hour", "e"]))
    assert "spell the name of the street" in call.say("No.")
    assert call.say("V4 vector, I4 I0") == ""  # the rest is coming: nothing said
    reply = call.say("See for Charlie, T4 Tommy, O4 Oliver, R4 Robert, I4 Isaac, A4 Apple.")
    assert "Just to check, was that 12 Victoria Road?" in reply


def test_the_street_is_asked_spelled_once_only() -> None:
    call = at_address()
    call.say(mark_check("15 part lane.", ["part"]))
    call.say("No.")
    assert "Just to check, was that 15 bark lane?" in call.say(
        mark_check("15 bark lane.", ["bark"])
    )
    assert "spell" not in call.say("No.")


def test_a_rejected_hearing_is_never_read_back_again_and_kept_only_marked() -> None:
    call = at_address()
    call.say(mark_check("15 part lane.", ["part"]))
    call.say("No.")
    heard_again = mark_check("15 part lane.", ["part"])  # said again, not spelled
    assert "spell" in call.say(heard_again)  # the spelling asked once more
    reply = call.say(heard_again)
    assert "was that" not in reply.lower() and "once more" in reply
    assert call.wf.data.address is None
    reply = call.say(heard_again)  # all there is: kept, marked for the office
    assert "was that" not in reply.lower() and call.wf.data.address == "15 part lane"
    assert call.wf.data.unconfirmed == {"address": "15 part lane"}


def test_said_again_before_the_spelling_is_asked_then_spelled() -> None:
    call = at_address()
    call.say(mark_check("15 part lane.", ["part"]))
    call.say("No.")  # and at once the address again, over the question to spell it
    assert "spell the name of the street" in call.say(mark_check("15 part lane.", ["part"]))
    assert "Just to check, was that 15 Park Lane?" in call.say("P for Peter, A for apple, R, K.")


def test_no_with_the_detail_again_heard_the_same_is_not_read_back_again() -> None:
    call = at_address()
    call.say(mark_check("15 part lane.", ["part"]))
    reply = call.say(mark_check("No, 15 part lane.", ["part"]))
    assert "was that" not in reply.lower() and "spell the name of the street" in reply
    assert call.wf.data.address is None


def test_read_back_at_most_twice_for_one_detail() -> None:
    call = at_address()
    call.say(mark_check("15 part lane.", ["part"]))
    call.say("No.")
    call.say(mark_check("15 bark lane.", ["bark"]))
    call.say("No.")
    reply = call.say(mark_check("15 dark lane.", ["dark"]))
    assert "was that" not in reply.lower() and call.wf.data.address == "15 dark lane"


def test_a_name_with_a_doubted_word_is_read_back() -> None:
    call = to_details()
    assert "Just to check, was that Ann Holuis?" in call.say(
        mark_check("My name is Ann Holuis.", ["holuis"])
    )
    call.say("Yes.")
    assert call.wf.data.name == "Ann Holuis"


def test_a_no_to_a_name_asks_for_the_surname_spelled() -> None:
    call = to_details()
    call.say(mark_check("My name is Ann Holuis.", ["holuis"]))
    assert "spell your surname" in call.say("No.")
    assert "Just to check, was that Ann Lewis?" in call.say("L for London, E for echo, W, I, S.")
    call.say("Yes.")
    assert call.wf.data.name == "Ann Lewis" and call.wf.expecting == "address"


def test_a_doubted_word_outside_the_detail_changes_nothing() -> None:
    call = to_details()
    reply = call.say(mark_check("My name is Emma Wilson.", ["my"]))
    assert "was that" not in reply.lower() and call.wf.data.name == "Emma Wilson"


def test_the_other_details_said_with_it_are_kept() -> None:
    call = at_address()
    call.say(mark_check("15 part lane, SW1A 1AA.", ["part"]))
    assert call.wf.data.postcode == "SW1A 1AA" and call.wf.data.address is None
    assert "phone" in call.say("yes") or "number" in call.last


def test_the_offline_policy_passes_the_named_words_to_the_workflow() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c1", clock=lambda: NOW)
    history: list[Message] = [Message("assistant", "Hello")]
    for line in ("My kitchen tap is leaking.", "Yes please.", "Emma Wilson"):
        history.append(Message("user", line))
        history = _answer(policy, history)
    unsure = mark_unsure(mark_check("My postcode is SW1A 1AA.", ["sw1a"]))  # the whole line
    for marked in (mark_check("15 part lane.", ["part"]), unsure):
        history.append(Message("user", marked))
        history = _answer(policy, history)
        assert "was that" in history[-1].content.lower()
        history.append(Message("user", "Yes."))
        history = _answer(policy, history)
    assert policy.workflow.data.address == "15 part lane"
    assert policy.workflow.data.postcode == "SW1A 1AA"


def _answer(policy: OfflinePolicy, history: list[Message]) -> list[Message]:
    """The policy's reply (tool calls answered at once) appended to ``history``."""
    while True:
        events = policy.respond(history)
        calls = [e for e in events if hasattr(e, "arguments")]
        text = "".join(getattr(e, "text", "") for e in events)
        history = [*history, Message("assistant", text)]
        if not calls:
            return history
        for call in calls:
            data = {"status": "ok", "amount": 85} if call.name == "get_quote" else {"status": "ok"}
            history.append(Message("tool", json.dumps(data), tool_call_id=call.id))


def test_a_postcode_correction_heard_in_pieces_while_the_number_is_asked_is_read_back() -> None:
    call = at_address()
    call.say("15 Park Lane")
    call.say("My postcode is SW3 5RZ")
    assert call.wf.expecting == "phone"
    reply = call.say("Sorry, my post code is sw72 Arizona")  # never the phone digits "72"
    assert "Was that S W 7, 2 A R?" in reply and call.wf.data.heard_phone is None
    call.say("Yes.")
    assert call.wf.data.postcode == "SW7 2AR" and call.wf.expecting == "phone"


@pytest.mark.parametrize(
    ("said", "word"),
    [
        ("P for Peter, A for apple, R for Robert, K for King.", "Park"),
        ("P, A, R, K.", "Park"),
        ("It's M for Mary, I as in India, L, L.", "Mill"),
        ("for Peter, for apple, for Robert, for King", "Park"),  # the letters themselves lost
        ("P4 Peter A4 Apple R4 Albert K4 K", "Park"),  # the letter heard alone wins
        ("M4M4O4O4R4R4R4G4G4G4A4A4A4N", None),  # a decoding loop is no spelling
        ("I think it is a lane", None),
        ("P for Peter", None),  # too short to be a street's name
        ("pee ay are kay", "Park"),  # letters said by name
        ("Kay, eye, en, gee.", "King"),
        ("P. A. R. K.", "Park"),
        ("P-A-R-K", "Park"),
        ("M-formary, I-fluorizing L-fluorizing L-fluorizing", "Mill"),  # "for" run in
        ("P4 Peter, O4 Oliver and Fournelli, D4 David.", "Pond"),
        ("El for London, E for echo, W, I, S", "Lewis"),
        ("are you there", None),  # words, not letters' names
        ("El for London, before Edward W.4 William, I4 Isaac S4 Sugar", "Lewis"),  # E for
        ("K-4K, I-4 Isaac and for Nelly G-4 George.", "King"),
        ("H for Harry U for ample G for George H for Harry B for Edward S for Sugar", "Hughes"),
        (
            "You for Queen, you for uncle before Edward, before Edward and for Nelly, as for S",
            "Queen",
        ),
        ("Those were Oliver, A4A, K4K.", "Oak"),  # "O for" lost: Oliver alone spells O
        ("Do you for George are for Robert, if for Edward, if for Edward and for Nelly?", "Green"),
        ("Peter Smith", None),  # a name, not a spelling
        # the NATO alphabet alone
        ("Kilo India November Golf", "King"),
        ("Foxtrot Oscar Uniform Romeo", "Four"),
    ],
)
def test_spelled_word(said: str, word: str | None) -> None:
    assert spelled_word(said) == word


@pytest.mark.parametrize(
    ("address", "street"),
    [
        ("15 part lane", "15 Park Lane"),
        ("8-part road", "8 Park Road"),
        ("12-hour e-road", "12 Park Road"),  # a recogniser's hyphens
        ("flat 3, 9 part court", "flat 3, 9 Park Court"),
        ("part lane", "Park Lane"),  # no house number: the name and the street word
        ("3mm of lane", "3 Park Lane"),  # the number run into the name
        ("9th Street", "9 Park Street"),  # the name lost to an ordinal
        ("High Street", "Park Street"),
        ("Two hill road", "2 Park Road"),  # the house number in words
        ("14a part lane", "14a Park Lane"),
        ("70 queens rode", "70 Park Road"),  # a street word heard as its sound-alike
        ("50 can throw it", None),  # no street word: nothing to put the name before
    ],
)
def test_with_street_name(address: str, street: str | None) -> None:
    assert with_street_name(address, "Park") == street


def at_phone() -> Call:
    call = at_address()
    call.say("22 Baker Street")
    call.say("SW1A 1AA")
    assert call.wf.expecting == "phone"
    return call


def test_a_number_turned_down_is_never_read_back_again() -> None:
    call = at_phone()
    heard = mark_check("07700990099", ["07700990099"])
    assert "Was that 0 7 7 0 0, 9 9 0, 0 9 9?" in call.say(heard, confidence=0.3)
    assert "keypad" in call.say("No.")
    for _ in range(2):  # said again and heard the same: asked another way, not read back
        reply = call.say(heard, confidence=0.3)
        assert "was that" not in reply.lower() and "keypad" in reply
    assert call.wf.data.phone is None


@pytest.mark.parametrize(
    ("line", "address"),
    [
        ("That's 19 Rose Street.", "19 Rose Street"),
        ("That's 19 baker straight.", "19 baker Street"),  # the street word as heard
        ("That is 6 hour retro.", "6 hour retro"),
    ],
)
def test_a_that_s_lead_in_is_not_part_of_the_address(line: str, address: str) -> None:
    call = at_address()
    call.say(line)
    assert call.wf.data.address == address


@pytest.mark.parametrize("said", ["It's the one I'm calling from", "just use this number"])
@pytest.mark.parametrize("caller_id", ["+447700900555", None])
def test_the_number_im_calling_from(said: str, caller_id: str | None) -> None:
    wf = BookingWorkflow(PLUMBER, "call-1", NOW, caller_id=caller_id)
    call = Call()
    call.wf, call.last = wf, call._run(wf.start(NOW))
    for line in ("my boiler's broken", "yes", "Karen Jones", "12 High Street", "SE1 9SG"):
        call.say(line)
    assert wf.expecting == "phone"
    reply = call.say(said)
    if caller_id:  # the line's own number, never the "one" of "the one I'm calling from"
        assert wf.data.phone == caller_id and "visit" in reply
    else:
        assert wf.data.phone is None and "best number" in reply


def test_a_name_completed_when_asked_for_the_address_is_the_whole_name() -> None:
    call = to_details()
    call.say("it's Karen")
    assert call.wf.expecting == "address"
    reply = call.say("Karen Jones")
    assert call.wf.data.name == "Karen Jones" and "changed the name to Karen Jones" in reply
    assert reply.endswith("What's the address of the job?") and "Sorry" not in reply
    call.say("12 High Street")
    assert call.wf.data.address == "12 High Street" and call.wf.data.name == "Karen Jones"


def _booked() -> Call:
    call = Call()
    for line in ("my boiler's broken", "yes", "Karen Jones", "12 High Street", "SE1 9SG"):
        call.say(line)
    for line in ("07700900111", "tomorrow morning", "yes"):
        call.say(line)
    assert call.wf.data.booked
    return call


@pytest.mark.parametrize(
    ("wrong", "asked", "right", "field", "value"),
    [
        ("No, you've got my name wrong", "right name?", "Karen Johns", "name", "Karen Johns"),
        (
            "The phone number is wrong",
            "right phone number?",
            "07700 900 112",
            "phone",
            "+447700900112",
        ),
        ("that postcode isn't right", "right postcode?", "SE1 9SF", "postcode", "SE1 9SF"),
    ],
)
def test_a_detail_said_wrong_after_the_read_back_is_asked_for_and_amended(
    wrong: str, asked: str, right: str, field: str, value: str
) -> None:
    call = _booked()
    assert call.say(wrong).endswith(asked)
    assert "on your booking" in call.say(right)  # amended, not "Sorry, I didn't follow"
    assert getattr(call.wf.data, field) == value
    assert call.wf.expecting is None  # asked for once only
