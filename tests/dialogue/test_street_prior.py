"""A street's name the recogniser misheard is read back as the known name it sounds like."""

from __future__ import annotations

import pytest

from agent.dialogue.doubt import mark_check
from agent.dialogue.normalise import normalise
from agent.dialogue.spelling import spelled_letters, spelled_word
from agent.dialogue.street_prior import known_spelling, street_guess
from tests.business.test_street_names import REAL_NOT_IN_PRIOR
from tests.dialogue.test_readback import at_address


@pytest.mark.parametrize(
    ("heard", "guess"),
    [
        ("19 rows Street", "19 Rose Street"),
        ("25 manner road", "25 Manor Road"),
        ("18 mark on street", "18 Market Street"),
        ("20 millerode", "20 Mill Road"),  # the street word run into the name
        ("14 million", "14 Mill Lane"),
        ("8 chirch lane", "8 Church Lane"),
        ("flat 3, 9 rows Court", "flat 3, 9 Rose Court"),
        ("Two manner road", "2 Manor Road"),
        ("rows Street", "Rose Street"),  # no house number: the name starts the line
        # never changed: a known name, one the recogniser capitalised (a name it knows),
        # a name too far from any known one, no street word to put the name before
        ("19 Rose Street", None),
        ("12 High Street", None),
        ("19 Ross Road", None),
        ("22 Baker Street", None),
        ("15 part lane", None),
        ("Four rounds Street", None),
        ("50 can throw it", None),
        ("6 electrode", None),
        ("12 Millerode", None),
    ],
)
def test_street_guess(heard: str, guess: str | None) -> None:
    assert street_guess(heard) == guess


def test_real_street_names_as_a_recogniser_writes_them_are_never_changed() -> None:
    changed = [n for n in REAL_NOT_IN_PRIOR if street_guess(f"12 {n} Road") is not None]
    assert changed == []


@pytest.mark.parametrize(
    ("spelling", "letters"),
    [
        # "for" glued to the word said for the letter: the letter before the hyphen
        ("M-formary, A-fluorapil, R-fluorapil, K-fluorkin, E-fluorapil, T-fluorat work", "MARKET"),
        ("R-4-A-burt", "R"),  # "R for Albert", the word cut in two: not R, A
        ("P-4-A-ter, A-4-apple, R, K", "PARK"),
        # the caller's letters as heard: an N heard as M stays M (read back, turned down)
        ("M-formary, A-4-apple, M-formally, O-4-aliver, R-4-A-burt", "MAMOR"),
    ],
)
def test_spelled_letters_with_for_run_into_the_word(spelling: str, letters: str) -> None:
    assert spelled_letters(spelling) == letters


@pytest.mark.parametrize(
    ("word", "known"),
    [
        ("Markett", "Market"),  # the "street" said after it heard as one more "T for"
        ("Hilll", "Hill"),
        ("Mill", "Mill"),  # "Mil" is no name: the double letter is the name's own
        ("Bennett", "Bennett"),  # "Bennet" is not known either: as spelled
        ("Bark", "Bark"),  # never another letter: the caller spelled B
        ("Mamor", "Mamor"),
    ],
)
def test_known_spelling(word: str, known: str) -> None:
    assert known_spelling(word) == known


def test_a_misheard_street_is_read_back_with_the_known_name_and_a_yes_takes_it() -> None:
    call = at_address()
    reply = call.say("It's 25 manner road, SW1A 1AA.")
    assert "Just to check, was that 25 Manor Road?" in reply
    assert call.wf.data.address is None and call.wf.data.postcode == "SW1A 1AA"
    call.say("Yes, that's right.")
    assert call.wf.data.address == "25 Manor Road"


def test_a_known_street_is_taken_as_heard() -> None:
    call = at_address()
    assert "postcode" in call.say("25 Manor Road.")
    assert call.wf.data.address == "25 Manor Road"


def test_a_no_to_the_known_name_asks_for_the_street_spelled() -> None:
    call = at_address()
    assert "was that 19 Rose Street?" in call.say("That's 19 rows straight.")
    assert "spell the name of the street" in call.say("No.")
    assert "was that 19 Rowe Street?" in call.say("R for Robert, O, W, E.")
    call.say("Yes.")
    assert call.wf.data.address == "19 Rowe Street"


def test_a_spelled_street_with_its_last_letter_heard_twice_is_read_back_known() -> None:
    call = at_address()
    # a doubted name the prior cannot place is read back as heard, then spelled
    assert "was that 18 muckett street?" in call.say(mark_check("18 muckett street.", ["muckett"]))
    assert "spell the name of the street" in call.say("No.")
    spelling = (
        "M-formary, A-fluorapil, R-fluorapil, K-fluorkin, E-fluorapil, T-fluorat work, T-fluoritami"
    )
    assert spelled_word(spelling) == "Markett"
    assert "was that 18 Market Street?" in call.say(spelling)
    call.say("Yes.")
    assert call.wf.data.address == "18 Market Street"


def test_a_street_spelled_with_e_for_edward_misheard_is_read_back_spelled() -> None:
    call = at_address()
    assert "was that 4 rounds Street?" in call.say(mark_check("4 rounds straight.", ["rounds"]))
    assert "spell the name of the street" in call.say("No.")
    # "E for Edward" as Whisper wrote it from Festival's ked voice
    assert "was that 4 Elm Street?" in call.say(normalise("If we're at work, L4 London, M4 Mary."))
    call.say("Yes.")
    assert call.wf.data.address == "4 Elm Street"


def test_the_heard_street_said_again_after_a_no_is_taken_as_heard() -> None:
    call = at_address()
    call.say("That's 19 rows straight.")
    call.say("No.")
    assert "was that" not in call.say("That's 19 rows straight.").lower()  # never twice
    assert call.wf.data.address == "19 rows Street"


def test_the_heard_street_is_kept_marked_when_nothing_better_comes() -> None:
    call = at_address()
    call.say("That's 19 rows straight.")
    call.say("No.")
    call.say("Q, Q.")  # a spelling cut short
    assert "once more" in call.say("Hmm.")
    call.say("SW1A 1AA")  # no street in it: the heard one kept, not the turned-down guess
    assert call.wf.data.address == "19 rows Street"
    assert call.wf.data.unconfirmed == {"address": "19 rows Street"}


@pytest.mark.parametrize(
    ("heard", "doubted", "read_back"),
    [
        ("20 millerode.", ["millerode"], "20 Mill Road"),  # run together: the known name
        ("25 manner road.", ["manner"], "25 Manor Road"),  # spelled much alike
        ("15 bark lane.", ["bark"], "15 bark lane"),  # "Brook" is not spelled alike enough
        ("15 part lane.", ["part"], "15 part lane"),  # no known name sounds like it
        # a doubted word outside the address ("that's") does not keep the prior away
        ("That's 14 million.", ["that's", "million"], "14 Mill Lane"),
        ("That's 15 bark lane.", ["that's", "bark"], "15 bark lane"),
    ],
)
def test_a_doubted_street_name_is_read_back_known_only_when_spelled_alike(
    heard: str, doubted: list[str], read_back: str
) -> None:
    call = at_address()
    assert f"was that {read_back}?" in call.say(mark_check(heard, doubted))
    call.say("Yes.")
    assert call.wf.data.address == read_back
