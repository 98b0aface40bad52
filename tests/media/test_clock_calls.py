"""200 whole calls on one media clock, in virtual time: each caller talks over the
agent, and the agent falls silent within the frame its VAD heard the caller, while
every call's frames keep the 20 ms grid. (In-memory streams have no socket to send to
without waiting, so here every frame takes the awaiting path, still on the clock's slots.)"""

from __future__ import annotations

import functools
import random
import uuid

import numpy as np
import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.demo.signals import speechlike
from agent.media.clock import SLOT_S, MediaClock
from agent.media.server import handle_connection
from agent.wire.audiosocket import Audio, Connection, Identify, Role
from dsp import VadTransition

CALLS = 200
FRAME = 320
SILENCE = bytes(FRAME)
AGENT_SPEECH = np.full(160, 3000, dtype="<i2").tobytes()
CALLER_SPEECH = speechlike(1.0)


async def say_one_long_line(call) -> None:
    """The agent's one long line (6 s), then nothing until the call ends."""
    utterance = call.playout.open_utterance()
    call.playout.write(utterance, AGENT_SPEECH * 300)
    call.playout.close_utterance(utterance)
    await trio.sleep_forever()


class TalkingBrain:
    """Says one long line; the caller's speech start pauses it (a barge-in's first step)."""

    def __init__(self, call) -> None:
        self.call = call
        self.paused_at: float | None = None

    async def run(self, call) -> None:
        await say_one_long_line(call)

    def on_audio(self, pcm: bytes, now: float) -> None:
        pass

    def on_vad(self, transition: VadTransition, level_dbfs: float, now: float) -> None:
        if transition == VadTransition.SPEECH_START and self.paused_at is None:
            self.call.playout.pause()  # sync, in the reader: within this frame
            self.paused_at = now

    def on_dtmf(self, digit: str, now: float) -> None:
        pass

    def end_politely(self, reason: str) -> None:
        pass


async def phone(stream, talks_at: float, heard: list[tuple[float, bytes]]) -> None:
    """Asterisk's side: 20 ms frames up (silence, then speech from ``talks_at``),
    and every agent frame down with its arrival time."""
    conn = Connection(Role.CLIENT)
    await stream.send_all(conn.send(Identify(uuid.uuid4())))

    async def listen() -> None:
        while data := await stream.receive_some(65536):
            conn.receive_data(data)
            while isinstance(event := conn.next_event(), Audio):
                heard.append((trio.current_time(), event.pcm))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen)
        start = trio.current_time()
        for k in range(100):
            now = trio.current_time()
            if now >= talks_at:
                offset = (k * FRAME) % (len(CALLER_SPEECH) - FRAME)
                frame = CALLER_SPEECH[offset : offset + FRAME]
            else:
                frame = SILENCE
            await stream.send_all(conn.send(Audio(frame)))
            await trio.sleep_until(start + 0.02 * (k + 1))
        nursery.cancel_scope.cancel()


async def test_200_calls_on_one_clock_fall_silent_within_the_frame_on_barge_in(
    autojump_clock, nursery
):
    rng = random.Random(5)
    clock = MediaClock(nursery)
    brains: list[TalkingBrain] = []
    heard: list[list[tuple[float, bytes]]] = []

    def brain(call) -> TalkingBrain:
        brains.append(TalkingBrain(call))
        return brains[-1]

    settings = ServerSettings(brain="echo")
    async with trio.open_nursery() as calls:
        for _ in range(CALLS):
            await trio.sleep(rng.uniform(0, 0.0005))
            client, server = trio.testing.memory_stream_pair()
            heard.append([])
            calls.start_soon(
                functools.partial(handle_connection, server, settings, brain, clock=clock)
            )
            calls.start_soon(phone, client, trio.current_time() + rng.uniform(0.6, 1.2), heard[-1])
        await trio.sleep(2.5)
        calls.cancel_scope.cancel()

    assert len(brains) == CALLS
    for brain, frames in zip(brains, heard, strict=True):
        assert brain.paused_at is not None
        speech = [t for t, f in frames if f == AGENT_SPEECH]
        # The agent spoke from its first frame on, and nothing of it after the pause.
        assert speech and speech[-1] <= brain.paused_at
        assert all(f == SILENCE for t, f in frames if t > brain.paused_at)
        # Speech and silence alike on one 20 ms grid (the reply started at once).
        times = [t for t, _ in frames]
        first = next(k for k, (_, f) in enumerate(frames) if f == AGENT_SPEECH)
        for k, t in enumerate(times[first:]):
            place = speech[0] + 0.02 * k  # (the clock's grid time nearest it)
            assert abs(t - place) <= SLOT_S / 2 + 2e-6
        assert len(times) - first >= 50
