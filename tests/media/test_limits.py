"""Per-call limits (agent.media.limits), and what the call does with them."""

from __future__ import annotations

import gc
import logging
import uuid
import weakref

import pytest
import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.conversation.echo import EchoBrain
from agent.media.limits import AudioBudget, BoundedFrames
from agent.media.server import CallRegistry, handle_connection
from agent.media.stream import AudioSocketStream
from agent.wire.audiosocket import Audio, Identify, Role

FRAME = bytes(320)  # 20 ms at 8 kHz
LOUD = b"\x00\x40" * 8000  # 1 s of loud audio


def test_real_time_audio_always_fits_and_a_flood_beyond_the_burst_is_dropped():
    budget = AudioBudget(2.0, bytes_per_s=16000, now=0.0)
    # Asterisk: one 20 ms frame every 20 ms for a minute, all kept.
    assert all(budget.take(320, n * 0.02) for n in range(3000))
    # A late batch of 1.9 s (after a network stall) fits in the 2 s burst.
    assert all(budget.take(320, 60.0) for _ in range(95))
    assert budget.dropped_frames == 0
    # A flood: 10 s of audio at once keeps only the burst and what real time refilled.
    kept = sum(budget.take(16000, 61.0) for _ in range(10))
    assert kept == 1 and budget.dropped_frames == 9 and budget.dropped_s == pytest.approx(9.0)


def test_bounded_frames_keep_the_latest_stretch():
    frames = BoundedFrames(1000)
    for n in range(500):
        frames.append(bytes([n % 256]) * 100)
    assert frames.nbytes == 1000 and len(frames) == 10 and frames.dropped == 490
    assert frames.join() == b"".join(bytes([n % 256]) * 100 for n in range(490, 500))


async def _flood_and_hang_up(client: trio.abc.Stream, seconds_of_audio: int) -> None:
    stream = AudioSocketStream(client, Role.CLIENT)
    await stream.send(Identify(uuid.uuid4()))
    for _ in range(seconds_of_audio):
        await stream.send(Audio(LOUD, 8000))
    await trio.sleep(2.0)  # long enough for the server to read it all
    await client.aclose()


async def test_a_flooded_call_keeps_only_the_burst_and_nothing_of_it_outlives_the_call(
    autojump_clock, caplog
):
    caplog.set_level(logging.INFO, logger="agent")
    server, client = trio.testing.memory_stream_pair()
    registry = CallRegistry()
    gc.collect()
    gc.disable()  # what is left must be freed without the collector
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_flood_and_hang_up, client, 60)
            call = await handle_connection(
                server, ServerSettings(brain="echo"), EchoBrain, registry=registry
            )
        brain = call.brain
        assert isinstance(brain, EchoBrain) and call.end_reason == "hangup"
        budget = call.audio_budget
        assert budget is not None and call.started_at is not None and call.ended_at is not None
        # What was kept is at most real time plus the 2 s burst.
        kept_s = 60 - budget.dropped_frames
        assert budget.dropped_frames > 40 and kept_s <= 2 + call.ended_at - call.started_at
        del budget
        refs = [weakref.ref(x) for x in (call, brain, call.playout, call.stream)]
        del call, brain
        assert [ref() for ref in refs] == [None] * len(refs)
    finally:
        gc.enable()
    dropped = [r.getMessage() for r in caplog.records if "faster than real time" in r.getMessage()]
    assert len(dropped) == 2  # the warning once, and the count at the end
    assert registry.statistics()["active_calls"] == 0


async def test_a_peer_that_goes_quiet_is_hung_up_after_the_idle_timeout(autojump_clock):
    server, client = trio.testing.memory_stream_pair()
    settings = ServerSettings(brain="echo", idle_timeout_s=3.0)
    last_frame_at: list[float] = []

    async def talk_then_go_quiet() -> None:
        stream = AudioSocketStream(client, Role.CLIENT)
        await stream.send(Identify(uuid.uuid4()))
        for _ in range(100):  # 2 s of frames in real time, then nothing (not even EOF)
            await stream.send(Audio(FRAME, 8000))
            await trio.sleep(0.02)
        last_frame_at.append(trio.current_time())
        with trio.move_on_after(30):
            while await client.receive_some():  # keep reading the agent's frames
                pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(talk_then_go_quiet)
        call = await handle_connection(server, settings, EchoBrain)
        nursery.cancel_scope.cancel()
    assert call.end_reason == "peer-idle"
    assert call.ended_at is not None
    # Within the watchdog's look-again interval (half the shortest limit) of the limit.
    quiet_for = call.ended_at - last_frame_at[0]
    assert 3.0 < quiet_for <= 3.0 + 0.5 + 0.05
