"""The pure text path of a turn: word-by-word release for the ear, repeat guard."""

from __future__ import annotations

from agent.speakstream import EarStream, RepeatGuard


def stream(pieces: list[str]) -> tuple[list[str], str]:
    ear = EarStream()
    out = [ear.feed(p) for p in pieces]
    out.append(ear.flush())
    return out, "".join(out)


def test_words_go_out_before_the_sentence_ends():
    out, whole = stream(["Hello", " there", ", how", " are", " you?"])
    assert out[:3] == ["", "Hello ", "there, "]
    assert whole == "Hello there, how are you?"


def test_a_postcode_split_across_tokens_is_said_whole():
    _, whole = stream(["It's", " SW", "1A", " 1", "AA", " then."])
    assert whole == "It's S W 1 A, 1 A A then."


def test_a_price_and_a_phone_number_split_across_tokens():
    _, whole = stream(["That's", " £8", "5.", "50", " and", " call", " 07700", " 900", "123", "."])
    assert "85 pounds 50" in whole
    assert "0 7 7 0 0, 9 0 0, 1 2 3" in whole


def test_repeat_guard_drops_a_restatement_and_keeps_the_rest():
    guard = RepeatGuard("Let me check that for you.")
    out = [
        guard.feed(p) for p in ["Let", " me", " check", " that", " for", " you.", " It's", " £85."]
    ]
    out.append(guard.flush())
    assert "".join(out).strip() == "It's £85."
    assert guard.dropped.strip() == "Let me check that for you."


def test_repeat_guard_passes_new_text_once_it_differs():
    guard = RepeatGuard("Let me check that for you.")
    assert guard.feed("Let") == ""
    assert guard.feed(" us") == "Let us"
    assert guard.feed(" go") == " go"


def test_repeat_guard_without_previous_text_passes_everything():
    guard = RepeatGuard("")
    assert guard.feed("Hi") == "Hi"
