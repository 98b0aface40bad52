"""LLM deltas -> TTS chunks; markup stripping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.base.errors import ConfigError
from agent.dialogue.chunking import SentenceChunker, clean_for_speech


def chunk(text: str, step: int = 1, **kwargs) -> list[str]:
    chunker = SentenceChunker(**kwargs)
    out: list[str] = []
    for i in range(0, len(text), step):
        out += chunker.feed(text[i : i + step])
    return out + chunker.flush()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you?", ["Hello there.", "How are you?"]),
        ("Great! Thanks; bye: now", ["Great!", "Thanks;", "bye:", "now"]),
        ("Line one\nLine two", ["Line one", "Line two"]),
        ("The fee is £85.50. Okay?", ["The fee is £85.50.", "Okay?"]),
        ("Mr. Smith and Dr. Jones will come.", ["Mr. Smith and Dr. Jones will come."]),
        ("Any trade, e.g. plumbing. Fine.", ["Any trade, e.g. plumbing.", "Fine."]),
        ("Call J. Smith now.", ["Call J. Smith now."]),
        ("We arrive at 10:30 sharp.", ["We arrive at 10:30 sharp."]),
        ("Postcode SW1A 1AA. Phone 020 7946 0958.", ["Postcode SW1A 1AA.", "Phone 020 7946 0958."]),
        ("See example.com for details.", ["See example.com for details."]),
        ("Let me check... right. Done", ["Let me check...", "right.", "Done"]),
        ('He said "yes." Then left.', ['He said "yes."', "Then left."]),
        ("Really?! Wow.", ["Really?!", "Wow."]),
        ("Boilers, taps, etc. Anything.", ["Boilers, taps, etc.", "Anything."]),
        ("That's 1,500 pounds.", ["That's 1,500 pounds."]),
        ("[laughs. really] Sure. Fine.", ["Sure.", "Fine."]),
    ],
)
@pytest.mark.parametrize("step", [1, 3, 1000])
def test_sentence_boundaries(text, expected, step):
    # first_min_chars large: these cases test sentence ends only.
    assert chunk(text, step, first_min_chars=500) == expected


def test_first_chunk_fast_path_cuts_at_a_comma_after_the_minimum():
    text = "Thanks for calling Acme Plumbing, how can I help today, then? Sure, fine."
    assert chunk(text) == [
        "Thanks for calling Acme Plumbing,",
        "how can I help today, then?",
        "Sure, fine.",
    ]


def test_first_chunk_fast_path_ignores_short_openers():
    assert chunk("Sure, I can help with that.") == ["Sure, I can help with that."]


def test_chunks_come_out_as_soon_as_the_next_word_starts():
    chunker = SentenceChunker()
    assert chunker.feed("I can book that for you.") == []  # "." might be "Mr."-like
    assert chunker.feed(" ") == []
    assert chunker.feed("W") == ["I can book that for you."]
    assert chunker.feed("hen?") == []  # "?!" may follow
    assert chunker.feed(" ") == ["When?"]  # only "." waits for the next word
    assert chunker.feed("x") == []
    assert chunker.flush() == ["x"]
    assert chunker.flush() == []


def test_decimal_split_across_deltas_is_not_a_boundary():
    chunker = SentenceChunker()
    assert chunker.feed("It costs £85.") == []
    assert chunker.feed("50 plus VAT.") == []
    assert chunker.flush() == ["It costs £85.50 plus VAT."]


def test_max_length_cuts_at_a_comma_then_a_space():
    text = "word " * 30 + "end, " + "more " * 5
    out = chunk(text, max_chars=160, first_min_chars=1000)
    assert all(len(piece) <= 160 for piece in out)
    assert " ".join(out).split() == text.split()
    long_words = "x" * 50
    assert chunk(long_words, max_chars=20) == ["x" * 20, "x" * 20, "x" * 10]


def test_flush_resets_the_first_chunk_fast_path():
    chunker = SentenceChunker(first_min_chars=5)
    assert chunker.feed("Hello world, there") == ["Hello world,"]
    assert chunker.flush() == ["there"]
    assert chunker.feed("Again world, yes") == ["Again world,"]


def test_markup_is_stripped_from_chunks():
    assert chunk("**Great!** [laughs] I can do *that* for you.") == [
        "Great!",
        "I can do that for you.",
    ]


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigError, match="max_chars=0"):
        SentenceChunker(max_chars=0)


@given(st.text(alphabet="ab .,!?:;\n£5[]*", max_size=120), st.integers(1, 7))
def test_no_text_is_lost_or_reordered(text, step):
    out = chunk(text, step, clean=False, max_chars=40, first_min_chars=8)
    assert "".join(out).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
    assert all(piece == piece.strip() and piece for piece in out)


@given(st.text(alphabet="ab .,!?\n5", max_size=80))
def test_delta_size_does_not_change_the_chunks(text):
    assert chunk(text, 1) == chunk(text, 1000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**Bold** and *it* and `code`", "Bold and it and code"),
        ("Sure [laughs] thing", "Sure thing"),
        ("Sure [laughs].", "Sure."),
        ("## Heading\n- one\n- two\n1. three", "Heading one two three"),
        ("__under__ ~~gone~~", "under gone"),
        ("snake_case stays", "snake_case stays"),
        ("  spaces   everywhere  ", "spaces everywhere"),
    ],
)
def test_clean_for_speech(text, expected):
    assert clean_for_speech(text) == expected


def test_clean_for_speech_can_keep_stage_directions():
    assert clean_for_speech("*Sure* [laughs] thing", stage_directions=False) == (
        "Sure [laughs] thing"
    )
