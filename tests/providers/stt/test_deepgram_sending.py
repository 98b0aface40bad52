"""What DeepgramStt sends and when, against the fake Deepgram server in virtual time:
audio in batches of ``batch_ms`` while the caller talks, the rest flushed when the
audio ends or after ``batch_ms`` at most, and frame by frame around the
endpointing time once the caller pauses, so the end of turn is not held back
(the batcher's policy itself: test_deepgram_batch.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from agent.base.events import Transcript
from agent.providers.stt.deepgram import DeepgramStt
from tests.fakes.deepgram import open_fake_deepgram
from tests.providers.stt.deepgram_rig import (
    LIMIT,
    RATE,
    SCRIPT,
    frames,
    settings_for,
    silence,
    tone,
    transcribe,
)


def message_sizes(record: Any) -> list[int]:
    return [size for _, size in record.audio_messages]


@pytest.mark.parametrize("direct", [False, True])
async def test_talking_goes_in_batches_and_the_rest_is_flushed_at_the_end(direct, autojump_clock):
    pcm = tone(740)  # 37 frames: seven batches of five, and two
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=RATE) as fake:
            stt = DeepgramStt(settings_for(fake), RATE)  # batch_ms=100
            began = trio.current_time()
            await transcribe(stt, ["speaking", *frames(pcm)], direct=direct)
            fake.check()
    (record,) = fake.connections
    assert bytes(record.audio) == pcm
    assert message_sizes(record) == [1600] * 7 + [640]
    arrivals = [round(at - began, 3) for at, _ in record.audio_messages]
    # A batch leaves with its fifth frame; the last two when the audio ends
    # (0.74 s), not 100 ms after the first of them.
    assert arrivals == [0.08, 0.18, 0.28, 0.38, 0.48, 0.58, 0.68, 0.74]
    assert record.controls == ["CloseStream"]
    assert stt.statistics().audio_messages_sent == 8


@pytest.mark.parametrize("direct", [False, True])
async def test_audio_that_stops_mid_batch_waits_only_batch_ms(direct, autojump_clock):
    plan = ["speaking", *frames(tone(40)), 2.0]  # two frames, then nothing for a while
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=RATE) as fake:
            stt = DeepgramStt(settings_for(fake, batch_ms=100), RATE)
            began = trio.current_time()
            await transcribe(stt, plan, direct=direct)
            fake.check()
    ((at, size),) = fake.connections[0].audio_messages
    assert size == 640 and at - began == pytest.approx(0.1)
    assert fake.connections[0].controls == ["CloseStream"]  # no KeepAlive was due


async def speech_final_at(
    batch_ms: int, *, pausing: bool, direct: bool = False
) -> tuple[float, list[tuple[float, int]]]:
    """When the first end-of-turn final reached us and the audio messages the
    server got (times in s after the start). The speech ends at 0.74 s;
    endpointing is 400 ms."""
    plan = ["speaking", *frames(tone(740)), *(["pausing"] if pausing else [])]
    plan += frames(silence(1500))
    async with open_fake_deepgram(script=SCRIPT, sample_rate=RATE) as fake:
        stt = DeepgramStt(settings_for(fake, batch_ms=batch_ms), RATE)
        began = trio.current_time()
        session = await transcribe(stt, plan, direct=direct)
        fake.check()
    final = next(e for e in session.events if isinstance(e, Transcript) and e.end_of_turn)
    messages = [(at - began, size) for at, size in fake.connections[0].audio_messages]
    return session.times[session.events.index(final)] - began, messages


@pytest.mark.parametrize("direct", [False, True])
async def test_pausing_sends_frame_by_frame_so_the_end_of_turn_is_not_delayed(
    direct, autojump_clock
):
    with trio.fail_after(LIMIT):
        unbatched, _ = await speech_final_at(20, pausing=False, direct=direct)
        paused, messages = await speech_final_at(100, pausing=True, direct=direct)
        late, _ = await speech_final_at(100, pausing=False, direct=direct)
    # The final follows the frame that completes 400 ms of silence (sent at 1.12 s).
    assert unbatched == pytest.approx(1.12, abs=0.005)
    assert paused == pytest.approx(unbatched, abs=0.005)
    # Batched silence would have held that frame back until its batch was full.
    assert late == pytest.approx(1.18, abs=0.005)
    # Around the pause (0.74 s): what waited (two tone frames, maybe with the first
    # quiet one, which comes at the same instant) at once; the silence until 200 ms
    # before the endpointing time (0.94 s) in one message; then frame by frame
    # until the final came (1.12 s); then the quiet's 240 ms messages.
    pause = [(round(at, 3), size) for at, size in messages if at >= 0.74]
    at_once = [size for at, size in pause if at == 0.74]
    assert sum(at_once) in (640, 960)
    gathered, rest = pause[len(at_once)], pause[len(at_once) + 1 :]
    assert gathered[0] in (0.94, 0.96) and gathered[1] > 3000
    single = [at for at, size in rest if size == 320]
    assert single == [round(gathered[0] + 0.02 * i, 3) for i in range(1, len(single) + 1)]
    assert single[-1] == 1.12 == round(paused, 3)
    after = [size for _, size in rest[len(single) :]]
    assert after[:-1] == [3840] * (len(after) - 1)
    assert sum(size for _, size in pause) == 640 + 75 * 320  # all of it, once
