"""The doubt marker: a low-confidence line keeps its words and says it is in doubt."""

from __future__ import annotations

import pytest

from agent.base.events import Transcript, Word
from agent.dialogue.doubt import (
    UNSURE_PREFIX,
    HeardLine,
    is_unsure,
    mark_also_heard,
    mark_check,
    mark_unsure,
    read_line,
    split_also_heard,
    split_check,
    split_unsure,
)
from agent.dialogue.turntaking import StartResponse, TurnTaker, TurnTakingParams


@pytest.mark.parametrize(
    ("text", "marked"),
    [
        ("my number is 0770", "[unsure] my number is 0770"),
        ("  SW1A 1AA ", "[unsure] SW1A 1AA"),
        ("[unsure] twice", "[unsure] twice"),  # marking is idempotent
    ],
)
def test_mark_then_split_gives_back_the_words(text, marked):
    assert mark_unsure(text) == marked
    assert is_unsure(marked)
    assert split_unsure(marked) == (text.strip().removeprefix(UNSURE_PREFIX), True)


def test_an_unmarked_line_is_not_in_doubt():
    assert not is_unsure("unsure what the postcode is")
    assert split_unsure(" a leak ") == ("a leak", False)


# --- words heard in doubt: named in front of the line --------------------------------


def test_check_marker_names_the_doubted_words_and_splits_back():
    marked = mark_check("15 part lane.", ["part"])
    assert marked == "[check: part] 15 part lane."
    assert split_check(marked) == ("15 part lane.", frozenset({"part"}))
    assert mark_check("all heard well", []) == "all heard well"
    assert split_check(" a leak ") == ("a leak", frozenset())
    # Under the unsure marker (the whole line in doubt) the words stay named.
    text, unsure = split_unsure(mark_unsure(marked))
    assert unsure and split_check(text) == ("15 part lane.", frozenset({"part"}))


def _words(*pairs):
    return tuple(Word(w, i, i + 0.5, c) for i, (w, c) in enumerate(pairs))


def test_a_word_below_the_fair_confidence_is_named_to_the_policy():
    heard = Transcript(
        "15 part lane.",
        is_final=True,
        end_of_turn=True,
        confidence=0.74,  # the line as a whole: well enough
        duration=1.0,
        words=_words(("15", 0.94), ("part", 0.56), ("lane.", 0.80)),
    )
    tt = TurnTaker()
    tt.vad_speech_start(0.0)
    tt.vad_speech_end(1.0)
    actions = tt.stt_event(heard, 1.3)
    starts = [a for a in actions if isinstance(a, StartResponse)]
    assert starts and starts[-1].text == "[check: part] 15 part lane."
    loose = TurnTaker(TurnTakingParams(fair_word_confidence=0.5))  # "part" passes at 0.5
    loose.vad_speech_start(0.0)
    loose.vad_speech_end(1.0)
    assert [a.text for a in loose.stt_event(heard, 1.3) if isinstance(a, StartResponse)] == [
        "15 part lane."
    ]


# --- the recogniser's other readings: named in front of the line -------------------


def test_other_readings_are_named_and_split_back_under_the_other_markers():
    marked = mark_also_heard("my postcode is easy", ["my postcode is EC4M 7LS", "a ] b | c"])
    assert marked == "[also heard: my postcode is EC4M 7LS | a b c] my postcode is easy"
    assert mark_also_heard("heard well", []) == "heard well"
    both = mark_unsure(mark_check(marked, ["easy"]))
    assert split_also_heard(both) == (
        "[unsure] [check: easy] my postcode is easy",
        ("my postcode is EC4M 7LS", "a b c"),
    )
    assert split_also_heard("it's [also heard: x] mid-line") == (
        "it's [also heard: x] mid-line",
        (),
    )


def _turn(*pieces: Transcript, fair: float = 0.0) -> list[str]:
    tt = TurnTaker()
    tt.vad_speech_start(0.0)
    tt.vad_speech_end(2.0)
    actions = [a for piece in pieces for a in tt.stt_event(piece, 2.3)]
    return [a.text for a in actions if isinstance(a, StartResponse)]


def test_only_other_readings_holding_another_postcode_or_number_reach_the_policy():
    heard = Transcript(
        "My post code is easy for M7LS.",
        is_final=True,
        end_of_turn=True,
        duration=1.0,
        alternatives=(
            "My postcode is easy for M7LS",  # a word or a comma apart: not named
            "My post code is EC4M7LS.",
            "My post code is the 4M7 LS.",  # no postcode in it
            "My post code is E C 4 M 7 L S.",  # the same postcode again: once
        ),
    )
    assert _turn(heard) == [
        "[also heard: My post code is EC4M 7LS.] My post code is easy for M7LS."
    ]
    plain = Transcript("My post code is easy for M7LS.", is_final=True, end_of_turn=True)
    assert _turn(plain) == ["My post code is easy for M7LS."]


def test_other_readings_holding_a_whole_address_the_line_has_not_reach_the_policy():
    heard = Transcript(
        "4L in the street",
        is_final=True,
        end_of_turn=True,
        duration=1.0,
        alternatives=(
            "4L in street.",  # the same address, a word apart: not named
            "For Elm Street.",  # 4 Elm Street
            "4L, lean.",  # no street word: no whole address
        ),
    )
    assert _turn(heard) == ["[also heard: For Elm Street.] 4L in the street"]


def test_a_pieces_other_reading_stands_in_the_whole_turn():
    name = Transcript("My name is Raj Patel and my number is", is_final=True, duration=1.0)
    number = Transcript(
        "0 7 7 0 0 9 0 0 1 2.",
        is_final=True,
        end_of_turn=True,
        duration=1.0,
        alternatives=("07700900123.",),
    )
    assert _turn(name, number)[-1] == (
        "[also heard: My name is Raj Patel and my number is 07700900123.]"
        " My name is Raj Patel and my number is 0 7 7 0 0 9 0 0 1 2."
    )


@pytest.mark.parametrize(
    ("stored", "line"),
    [
        ("my tap is leaking", HeardLine("my tap is leaking")),
        ("[unsure] my tap", HeardLine("my tap", unsure=True)),
        (
            mark_unsure(mark_check(mark_also_heard("15 part lane.", ["15 Park Lane."]), ["part"])),
            HeardLine("15 part lane.", True, frozenset({"part"}), ("15 Park Lane.",)),
        ),
    ],
)
def test_a_stored_line_reads_as_its_words_and_what_the_markers_say(stored, line):
    assert read_line(stored) == line


def test_the_doubted_words_are_found_whatever_their_case_and_punctuation():
    line = read_line("[check: part lane] 15 Part Lane.")
    assert line.words() == [("15", False), ("Part", True), ("Lane.", True)]
