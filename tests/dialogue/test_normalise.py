"""Spoken numbers and postcodes rewritten before the policy sees them."""

from __future__ import annotations

import pytest

from agent.base.events import Transcript
from agent.business.ukformats import find_phone, find_postcode
from agent.dialogue.normalise import normalise
from agent.dialogue.turntaking_endofturn import HeardTurn


@pytest.mark.parametrize(
    ("heard", "written"),
    [
        # phone numbers in words, groups, doubles
        (
            "My number is oh seven seven double oh, nine oh oh, one two three.",
            "My number is 07700900123.",
        ),
        ("zero seven seven zero zero nine zero zero one two three", "07700900123"),
        ("oh two oh seven nine four six oh double four six", "02079460446"),
        ("it's 0 seven 7 double 0 nine 0 0 one 2 3", "it's 07700900123"),
        ("oh seven seven double oh, nine hundred, one two three", "07700900123"),
        ("I paid three hundred pounds", "I paid three hundred pounds"),  # not in a number
        # postcodes spoken with pauses, hyphens and spelling
        ("It's SE-11 5PH.", "It's SE11 5PH."),
        ("The postcode is SE1 7 LG", "The postcode is SE1 7LG"),
        ("S W one A one A A", "SW1A 1AA"),
        ("S for sugar, E for echo, one, seven L G", "SE1 7LG"),
        ("sw1a1aa please", "SW1A 1AA please"),
        # a spelled letter whose letter the recogniser lost: "1, for Apple" is 1, A
        ("S for shooter, W for William 1, for Apple 1, for Apple, for Apple.", "SW1A 1AA."),
        ("I'm looking for someone for tomorrow", "I'm looking for someone for tomorrow"),
        # "E for Edward" as Whisper writes it from some voices, in a line that spells
        ("If we're at work, L4 London, M4 Mary.", "E for Edward, L4 London, M4 Mary."),
        (
            "If we're at work, see for Charlie, one for Apple, one, B for Bertie, B for Bertie.",
            "E for Edward, see for Charlie, one for Apple, one, B for Bertie, B for Bertie.",
        ),
        ("Call me if we're at work.", "Call me if we're at work."),  # nothing spelled
        # the NATO alphabet said alone for a postcode's letters
        ("Sierra Whiskey one Alpha, one Alpha Alpha", "SW1A 1AA"),
        ("my postcode is sierra echo one, seven lima golf", "my postcode is SE1 7LG"),
        ("I play golf at the hotel in India", "I play golf at the hotel in India"),
        ("I'm out if we're at work for Tuesday", "I'm out if we're at work for Tuesday"),
        # left alone: ordinary words, times, single numbers, written numbers
        ("I need one at 2 PM", "I need one at 2 PM"),
        ("Oh, hi, my kitchen sink is leaking", "Oh, hi, my kitchen sink is leaking"),
        ("07700 900123", "07700 900123"),
        ("at 22 Baker Street, SW1A 1AA", "at 22 Baker Street, SW1A 1AA"),
        ("two or three days", "two or three days"),
        ("it is for two people", "it is for two people"),
        # a house number said in words before a street
        ("five river street", "5 river street"),
        ("It's forty one mill lane.", "It's 41 mill lane."),
        ("forty-one Mill Lane", "41 Mill Lane"),
        ("twenty two baker street", "22 baker street"),
        ("seventeen acacia avenue", "17 acacia avenue"),
        ("at six station road", "at 6 station road"),
        ("thirty Green Lane", "30 Green Lane"),
        ("It's Green Lane, number thirty.", "It's Green Lane, number 30."),
        # ... not a word that is not the house number
        ("the one on Park Road", "the one on Park Road"),
        ("I need one in Baker Street", "I need one in Baker Street"),
        ("32 seven sisters road", "32 seven sisters road"),
        ("I have two children", "I have two children"),
    ],
)
def test_normalise(heard, written):
    assert normalise(heard) == written


def test_normalised_lines_parse_as_what_was_said():
    phone = "oh seven seven double oh nine double oh four five six"
    assert find_phone(normalise(phone)) == "+447700900456"
    for spoken, postcode in (("SE-11 5PH", "SE11 5PH"), ("SE1 7 LG", "SE1 7LG")):
        assert normalise(spoken) == postcode
        assert str(find_postcode(normalise(spoken))) == postcode


def test_the_turn_text_is_normalised_across_segments():
    heard = HeardTurn()
    heard.hear(Transcript("my number is oh seven seven oh oh", True), 1.0)
    heard.hear(Transcript("nine oh oh one two three", True), 2.0)
    assert heard.text() == "my number is 07700900123"
