"""The pure per-turn context policy: when a turn closes its context, the order
its contexts' audio goes out in, and the text each chunk covers."""

from __future__ import annotations

import math

import pytest

from agent.base.errors import ProviderStatusError
from agent.providers.tts.cartesia_contexts import TurnContexts
from agent.providers.tts.cartesia_wire import Chunk, Done, FlushDone, ServerError, Timestamps

RATE = 8000
SECOND = 2 * RATE  # bytes of one second of audio


def contexts(idle_close_s: float = 0.5) -> TurnContexts:
    return TurnContexts(
        make_id=lambda n: "turn" if n == 1 else f"turn.{n}",
        sample_rate=RATE,
        idle_close_s=idle_close_s,
    )


def send(turn: TurnContexts, piece: str, now: float) -> str:
    segment, _ = turn.segment_for_text(now)
    turn.sent(segment, piece, now)
    return segment.context_id


def test_text_goes_on_one_context_until_it_is_closed():
    turn = contexts()
    assert turn.idle_close_at() == math.inf  # nothing to close yet
    assert send(turn, "Hello ", 0.0) == "turn"
    assert send(turn, "there. ", 0.1) == "turn"
    assert turn.idle_close_at() == pytest.approx(0.6)
    turn.on_message(Chunk("turn", bytes(SECOND // 10)), now=0.3)
    assert turn.idle_close_at() == pytest.approx(0.8)  # audio keeps it alive
    assert turn.close_open().context_id == "turn"
    assert turn.idle_close_at() == math.inf
    assert send(turn, "More.", 2.0) == "turn.2"
    assert [s.context_id for s in turn.live()] == ["turn", "turn.2"]


def test_whitespace_alone_does_not_keep_a_context_alive():
    turn = contexts()
    send(turn, "Done.", 0.0)
    send(turn, " ", 0.4)
    assert turn.idle_close_at() == pytest.approx(0.5)


def test_a_later_contexts_audio_waits_for_the_earlier_ones_done():
    turn = contexts()
    send(turn, "One two. ", 0.0)
    turn.close_open()
    send(turn, "Three.", 1.0)
    second = turn.on_message(Timestamps("turn.2", ("Three.",), (0.0,), (0.1,)), 1.1)
    second += turn.on_message(Chunk("turn.2", bytes(SECOND // 10)), 1.1)
    assert second == []  # held back: "turn" is still speaking
    first = turn.on_message(Timestamps("turn", ("One", "two."), (0.0, 0.1), (0.1, 0.2)), 1.2)
    first += turn.on_message(Chunk("turn", bytes(SECOND // 5)), 1.2)
    assert [chunk.text for chunk in first] == ["One two."]
    # The first context's done releases the second's audio, space restored.
    released = turn.on_message(Done("turn"), 1.3)
    assert [(len(c.pcm), c.text) for c in released] == [(SECOND // 10, " Three.")]
    assert not turn.finished  # the text has not ended
    assert turn.on_message(Done("turn.2"), 1.4) == []
    assert not turn.finished and turn.live() == []
    turn.text_ended = True
    assert turn.finished


def test_an_odd_byte_is_carried_within_its_context():
    turn = contexts()
    send(turn, "Hi.", 0.0)
    out = turn.on_message(Chunk("turn", b"\x01\x02\x03"), 0.1)
    out += turn.on_message(Chunk("turn", b"\x04"), 0.1)
    assert [chunk.pcm for chunk in out] == [b"\x01\x02", b"\x03\x04"]


def test_text_without_timestamps_is_claimed_at_done():
    turn = contexts()
    send(turn, "Hi there.", 0.0)
    out = turn.on_message(Chunk("turn", bytes(100)), 0.1)
    out += turn.on_message(Done("turn"), 0.2)
    assert [chunk.text for chunk in out] == ["", "Hi there."]


def test_messages_for_unknown_or_finished_contexts_are_ignored():
    turn = contexts()
    send(turn, "Hi.", 0.0)
    turn.close_open()
    turn.on_message(Done("turn"), 0.1)
    assert turn.on_message(Chunk("turn", bytes(10)), 0.2) == []
    assert turn.on_message(Chunk("other", bytes(10)), 0.2) == []
    assert turn.on_message(FlushDone("turn", 1), 0.2) == []


def test_a_server_error_fails_the_turn():
    turn = contexts()
    send(turn, "Hi.", 0.0)
    with pytest.raises(ProviderStatusError) as caught:
        turn.on_message(ServerError("turn", 400, "Context expired"), 0.1)
    assert caught.value.status == 400 and not caught.value.retryable
