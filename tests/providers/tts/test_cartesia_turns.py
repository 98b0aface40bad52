"""A turn whose text pauses (a tool call) against the fake's context expiry.

Virtual time (autojump_clock) over loopback: the fake expires a context
``context_expiry_s`` = 1 s after its last audio, as Cartesia does, and records
input on an expired context as a violation (every test asserts none).
"""

from __future__ import annotations

import json
from functools import partial

import pytest
import trio
import trio_websocket

from agent.base.events import AudioChunk
from agent.providers.tts.cartesia import CartesiaSettings, CartesiaTts
from agent.providers.tts.cartesia_wire import connect_headers, encode, generation_request
from tests.fakes.cartesia import FakeCartesia
from tests.fakes.tone_text import decode_tones
from tests.providers.tts.rig import speak

LIMIT = 60  # virtual seconds
FIRST = "Let me check that for you. "
SECOND = "You're booked in for Tuesday at nine."


@pytest.fixture
async def fake(nursery):
    fake = await nursery.start(FakeCartesia().serve)
    yield fake
    assert fake.violations == []


@pytest.fixture
async def tts(fake):
    """A CartesiaTts on the fake; its run() ends before the fake stops."""
    async with trio.open_nursery() as nursery:
        settings = CartesiaSettings(api_key="test-key", voice_id="voice-1", url=fake.url)
        tts = CartesiaTts(settings)
        await nursery.start(tts.run)
        yield tts
        nursery.cancel_scope.cancel()


def heard(chunks: list[AudioChunk]) -> str:
    return decode_tones(b"".join(chunk.pcm for chunk in chunks))


def pieces(context) -> list[tuple[str, bool]]:
    return [(piece, more) for _, piece, more in context.fragments]


async def test_a_tool_call_pause_goes_on_on_a_new_context(autojump_clock, fake, tts):
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, [FIRST, 2.0, SECOND])
    assert heard(chunks) == FIRST + SECOND
    # The aligned text stays continuous across contexts (barge-in truncation and
    # the fallback voice's replay rely on it).
    assert "".join(chunk.text for chunk in chunks) == FIRST + SECOND
    first, second = fake.contexts.values()
    assert second.context_id == f"{first.context_id}.2"
    assert pieces(first) == [(FIRST, True), ("", False)]
    assert pieces(second) == [(SECOND, True), ("", False)]
    # The first context was closed well before it would have expired, and done.
    closed_at = first.fragments[-1][0]
    assert closed_at - first.last_chunk_at == pytest.approx(0.5, abs=0.05)
    assert first.done_sent and second.done_sent
    statistics = tts.statistics()
    assert (statistics.contexts_started, statistics.idle_closes) == (2, 1)
    assert statistics.cancels_sent == 0


async def test_a_tool_call_longer_than_the_response_timeout_is_no_timeout(
    autojump_clock, fake, tts
):
    # Every context is done during the pause: the server owes us nothing, so
    # the 5 s response timeout does not run.
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, [FIRST, 7.0, SECOND])
    assert heard(chunks) == FIRST + SECOND
    assert len(fake.contexts) == 2


async def test_a_short_pause_keeps_one_context(autojump_clock, fake, tts):
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, [FIRST, 0.2, SECOND])
    assert heard(chunks) == FIRST + SECOND
    (context,) = fake.contexts.values()
    assert pieces(context) == [(FIRST, True), (SECOND, True), ("", False)]
    assert tts.statistics().idle_closes == 0


async def test_the_first_contexts_done_does_not_end_the_turn(autojump_clock, fake, tts):
    done: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(speak, tts, [FIRST, 2.0, SECOND], done=done))
        await trio.sleep(1.9)  # mid tool call
        (first,) = fake.contexts.values()
        assert first.done_sent  # the server has finished the first context
        assert done == []  # the turn goes on
    assert done and done[0] > 2.0
    assert len(fake.contexts) == 2


async def test_text_the_server_held_back_is_spoken_when_the_context_closes(
    autojump_clock, fake, tts
):
    # No trailing space: the fake (like a model) holds "check" as a partial word.
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Let me check", 2.0, " that for you."])
    assert heard(chunks) == "Let me check that for you."
    assert "".join(chunk.text for chunk in chunks) == "Let me check that for you."
    first, second = fake.contexts.values()
    assert first.text == "Let me check" and second.text == " that for you."


async def test_audio_stays_in_order_when_two_contexts_overlap(autojump_clock, fake, tts):
    fake.chars_per_chunk = 1
    fake.chunk_gap = 0.05
    # "Let me " is spoken by 0.32 s; "Surely" waits for the close at 0.5 s idle
    # and is then spoken a char per 50 ms, while the next context starts at 0.9 s.
    script = ["Let me Surely", 0.9, " yes, you're booked."]
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, script)
    first, second = fake.contexts.values()
    assert second.first_chunk_at < first.last_chunk_at  # they did overlap on the wire
    assert heard(chunks) == "Let me Surely yes, you're booked."
    assert "".join(chunk.text for chunk in chunks) == "Let me Surely yes, you're booked."


async def test_a_turn_that_ends_during_the_pause_ends_cleanly(autojump_clock, fake, tts):
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, [FIRST, 2.0, "  "])
    assert heard(chunks) == FIRST
    (context,) = fake.contexts.values()  # whitespace after the pause opens no context
    assert pieces(context) == [(FIRST, True), ("", False)]
    assert tts.statistics().cancels_sent == 0


async def test_barge_in_during_the_second_context_cancels_it(autojump_clock, fake, tts):
    fake.chunk_gap = 0.05
    long_second = "You're booked in for Tuesday at nine, and we will text you."
    text_send, text_receive = trio.open_memory_channel[str](10)
    out_send, out_receive = trio.open_memory_channel[AudioChunk](1000)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as turn:
            turn.start_soon(tts.speak, text_receive, out_send)
            await text_send.send(FIRST)
            await trio.sleep(2.0)  # the tool call
            await text_send.send(long_second)
            await fake.wait_until(lambda: len(fake.contexts) == 2)
            first, second = fake.contexts.values()
            await fake.wait_until(lambda: second.chunks_sent >= 2)
            turn.cancel_scope.cancel()  # barge-in
        await fake.wait_until(lambda: second.cancelled_at is not None)
    assert first.done_sent and first.cancelled_at is None  # nothing left to cancel there
    assert not second.done_sent
    assert tts.statistics().cancels_sent == 1
    said = heard([chunk async for chunk in out_receive])
    assert said.startswith(FIRST) and len(said) < len(FIRST + long_second)


async def test_input_after_expiry_is_a_violation_and_an_error(autojump_clock, fake):
    settings = CartesiaSettings(api_key="test-key", voice_id="voice-1", url=fake.url)

    def request(transcript: str) -> str:
        return encode(
            generation_request(
                settings, context_id="ctx-1", transcript=transcript, more=True, sample_rate=8000
            )
        )

    with trio.fail_after(LIMIT):
        async with trio_websocket.open_websocket_url(
            fake.url, extra_headers=connect_headers(settings)
        ) as ws:
            await ws.send_message(request("Hello there. "))
            await fake.wait_until(lambda: len(fake.contexts) == 1)
            (context,) = fake.contexts.values()
            await fake.wait_until(lambda: context.spoken_chars == len("Hello there. "))
            await trio.sleep(0.8)  # younger than 1 s: still alive
            await ws.send_message(request("How are "))
            await fake.wait_until(lambda: context.spoken_chars == len("Hello there. How are "))
            assert fake.violations == []
            await trio.sleep(1.5)  # e.g. a tool call: the context expires
            await ws.send_message(request("you?"))
            while (answer := json.loads(await ws.get_message()))["type"] != "error":
                pass
    assert answer["context_id"] == "ctx-1" and answer["status_code"] == 400
    assert context.expired_at == pytest.approx(context.last_chunk_at + 1.0)
    assert context.text == "Hello there. How are "  # the late input was not taken
    (violation,) = fake.violations
    assert "expired" in violation and "ctx-1" in violation
    fake.violations.clear()
