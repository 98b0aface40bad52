"""Answers to a street read back in doubt that are not a bare yes or no.

Heard in a demo on a loaded box: "Was that 22 Bay Crest Street?" - "No, it's
Baker Street. B-A-K-E-R." came through as "No, it's Stay-Curse Street." and,
after a pause, "B-A-K-D-R.", and the booking was made at "Street"."""

from __future__ import annotations

import pytest

from agent.dialogue.details import address_answer
from agent.dialogue.doubt import mark_check
from tests.dialogue.test_readback import at_address


def read_back_bay_crest():
    call = at_address()
    assert "was that 22 Bay Crest Street?" in call.say(
        mark_check("It's 22 Bay Crest Street.", ["bay", "crest"])
    )
    return call


@pytest.mark.parametrize("confidence", [0.0, 1.0])
def test_a_no_with_the_street_alone_keeps_the_house_number(confidence: float) -> None:
    call = read_back_bay_crest()
    said = call.say(mark_check("No, it's Stay-Curse Street.", ["stay", "curse"]), confidence)
    assert "was that 22 stay-curse street?" in said.lower()


@pytest.mark.parametrize("spelling", ["B, A, K, E, R.", "B-A-K-E-R.", "B for Bravo, A, K, E, R."])
def test_a_spelling_said_to_a_street_read_back_is_the_street_name(spelling: str) -> None:
    call = read_back_bay_crest()
    assert "was that 22 Baker Street?" in call.say(spelling)
    assert "postcode" in call.say("Yes, that's right.")
    assert call.wf.data.address == "22 Baker Street"


@pytest.mark.parametrize(
    "answers",
    [
        [mark_check("No, it's Stay-Curse Street.", ["stay", "curse"]), "B-A-K-D-R."],
        ["[check: stay curse] No, it's Stay-Curse Street.", "My postcode is SW1A 1AA."],
        ["Street.", "My postcode is SW1A 1AA."],
    ],
)
def test_an_address_without_a_street_name_is_never_taken(answers: list[str]) -> None:
    call = read_back_bay_crest()
    for answer in answers:
        said = call.say(answer, 0.0 if answer.startswith("[") else 1.0)
        assert "was that Street?" not in said
    assert call.wf.data.address not in ("Street", "street")


@pytest.mark.parametrize(
    ("answer", "address"),
    [
        ("Street.", None),  # no street's name to go to
        ("Road", None),
        ("Hill Road.", "Hill Road"),  # two street words are a street's name
        ("Park Lane", "Park Lane"),
        ("to Hill Road.", "2 Hill Road"),  # the recogniser's "to" for two
        ("too Mill Lane", "2 Mill Lane"),
        ("For Elm Street.", "4 Elm Street"),  # "four", "eight", "one" likewise
        ("A park road.", "8 park road"),
        ("Won Baker Street", "1 Baker Street"),
        ("Forest Road", "Forest Road"),  # a word that only starts like one
        ("22 Baker Street", "22 Baker Street"),
        ("Four rounds straight.", "Four rounds Street"),  # a street word as heard
        ("70 queens rode", "70 queens Road"),
        ("I'll go straight", None),  # no street's name before it
    ],
)
def test_what_an_answer_to_the_address_holds(answer: str, address: str | None) -> None:
    assert address_answer(answer) == address


@pytest.mark.parametrize(
    ("heard", "doubted", "read_back"),
    [
        ("For Elm Street.", ["for"], "was that 4 Elm Street?"),
        ("A park road.", ["a"], "was that 8 park road?"),
        ("to Hill Road.", ["to"], "was that 2 Hill Road?"),
    ],
)
def test_a_house_number_heard_as_a_doubted_word_is_read_back(
    heard: str, doubted: list[str], read_back: str
) -> None:
    call = at_address()
    assert read_back in call.say(mark_check(heard, doubted))
    assert call.wf.data.address is None  # not taken unasked
