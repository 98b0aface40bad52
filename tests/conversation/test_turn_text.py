"""The pure text path of a turn: word-by-word release for the ear, repeat guard."""

from __future__ import annotations

from agent.dialogue.speakstream import EarStream, RepeatGuard


def stream(pieces: list[str]) -> tuple[list[str], str]:
    ear = EarStream()
    out = [ear.feed(p) for p in pieces]
    out.append(ear.flush())
    return out, "".join(out)


def test_plain_words_go_out_as_they_arrive():
    # The first word must not wait for the model's next token.
    out, whole = stream(["Hello", " there", ", how", " are", " you?"])
    assert out[:3] == ["Hello", " there", ", how"]
    assert whole == "Hello there, how are you?"


def test_a_word_that_could_become_something_else_waits_for_the_next():
    # "I" could be the start of a postcode ("IP1 1AA"), "**" of markdown,
    # "£" of a price: each waits until the next word starts.
    cases = {
        ("I", " can", " go."): "I can go.",
        ("**", "Sure", "**", " thing."): "Sure thing.",
        ("£", "85", " then."): "85 pounds then.",
        ("OK", ",", " fine."): "OK, fine.",
    }
    for pieces, said in cases.items():
        out, whole = stream(list(pieces))
        assert out[0] == "", pieces
        assert whole == said


def test_leading_spaces_wait_for_a_word():
    out, whole = stream(["  ", "Sure", " thing."])
    assert out[:2] == ["", "  Sure"]
    assert whole == "  Sure thing."


def test_a_time_is_not_rewritten_before_am_or_pm_can_follow():
    # "14:30" then " p": releasing "p" would let the clock rewrite run without
    # seeing "pm"; a held digit word keeps the word after it held too.
    out, whole = stream(["at", " 14:30", " p", "m", " today."])
    assert out[2:4] == ["", ""]
    assert whole == "at 14:30 pm today."


def test_a_word_split_across_tokens_is_joined_verbatim():
    out, whole = stream(["Hel", "lo", " there."])
    assert out[:2] == ["Hel", "lo"]
    assert whole == "Hello there."


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
