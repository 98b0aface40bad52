"""Paced playout under MockClock: exact frame times, re-phasing, pause/resume/clear."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import trio

from agent.base.events import AudioChunk
from agent.media.clock import SLOT_S
from agent.media.playout import Playout

FRAME = 320
SILENCE = bytes(FRAME)


def numbered_frames(count: int, first: int = 1) -> bytes:
    """``count`` frames, frame k filled with the sample value ``first + k``."""
    return b"".join(np.full(160, first + k, dtype="<i2").tobytes() for k in range(count))


def frame_number(frame: bytes) -> int:
    return int(np.frombuffer(frame, dtype="<i2")[0])


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []

    async def send(self, frame: bytes) -> None:
        self.sent.append((trio.current_time(), frame))

    def speech(self) -> list[tuple[float, bytes]]:
        return [(t, f) for t, f in self.sent if f != SILENCE]

    def after(self, t0: float) -> list[tuple[float, bytes]]:
        return [(t, f) for t, f in self.sent if t >= t0]


# pytest-trio only takes the clock from the test's own arguments, so every test
# using this fixture asks for autojump_clock itself.
@pytest.fixture
async def playout(nursery):
    recorder = Recorder()
    playout = Playout(recorder.send)
    playout.recorder = recorder
    await nursery.start(playout.run)
    return playout


async def test_idle_sends_silence_every_20ms(playout, autojump_clock):
    await trio.sleep(0.2)
    sent = playout.recorder.sent
    assert len(sent) >= 10
    assert all(frame == SILENCE for _, frame in sent)
    times = [t for t, _ in sent]
    assert all(b - a == pytest.approx(0.02, abs=1e-9) for a, b in itertools.pairwise(times))


async def test_one_second_is_exactly_50_frames_20ms_apart(playout, autojump_clock):
    await trio.sleep(0.107)  # mid-way between two silence slots
    start = trio.current_time()
    utterance = playout.open_utterance()
    playout.write(utterance, numbered_frames(50))
    playout.close_utterance(utterance)
    await utterance.finished.wait()
    speech = playout.recorder.speech()
    assert [frame_number(f) for _, f in speech] == list(range(1, 51))
    # Re-phased: the first speech frame left at once, not at the next silence slot.
    assert speech[0][0] == pytest.approx(start, abs=1e-9)
    times = [t for t, _ in speech]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # The second frame goes at the media clock's grid time nearest its place (the
    # first went off the grid, at once); from there the gaps are whole.
    assert gaps[0] == pytest.approx(0.02, abs=SLOT_S / 2 + 1e-9)
    assert all(gap == pytest.approx(0.02, abs=1e-9) for gap in gaps[1:])
    assert times[-1] - times[0] == pytest.approx(0.98, abs=SLOT_S / 2 + 1e-9)
    assert utterance.sent_bytes == utterance.total_bytes == 50 * FRAME
    assert not utterance.cut
    assert utterance.first_frame_at == pytest.approx(start)


async def test_short_tail_is_padded_and_flagged(playout, autojump_clock):
    utterance = playout.open_utterance()
    playout.write(utterance, numbered_frames(2) + b"\x07\x00" * 40)
    playout.close_utterance(utterance)
    await utterance.finished.wait()
    speech = playout.recorder.speech()
    assert len(speech) == 3
    tail = np.frombuffer(speech[2][1], dtype="<i2")
    assert list(tail[:40]) == [7] * 40 and not tail[40:].any()


async def test_pause_stops_speech_within_a_frame_and_resume_continues(playout, autojump_clock):
    utterance = playout.open_utterance()
    playout.write(utterance, numbered_frames(50))
    playout.close_utterance(utterance)
    await trio.sleep(0.205)
    paused_at = trio.current_time()
    playout.pause()
    await trio.sleep(0.3)
    during = playout.recorder.after(paused_at)
    assert during and all(frame == SILENCE for _, frame in during)
    before = [frame_number(f) for t, f in playout.recorder.sent if t < paused_at and f != SILENCE]
    resumed_at = trio.current_time()
    playout.resume()
    await utterance.finished.wait()
    after = [(t, frame_number(f)) for t, f in playout.recorder.after(resumed_at) if f != SILENCE]
    # Continues exactly where it stopped, first frame at once.
    assert after[0] == (pytest.approx(resumed_at), before[-1] + 1)
    assert before + [n for _, n in after] == list(range(1, 51))


async def test_clear_drops_the_rest_within_a_frame(playout, autojump_clock):
    first = playout.open_utterance()
    playout.write(first, numbered_frames(50))
    playout.close_utterance(first)
    second = playout.open_utterance()
    playout.write(second, numbered_frames(10, first=100))
    await trio.sleep(0.105)  # between two frame slots, so no tie with a send
    cleared_at = trio.current_time()
    playout.clear()
    assert first.finished.is_set() and first.cut
    assert second.finished.is_set() and second.cut
    await trio.sleep(0.2)
    assert all(frame == SILENCE for _, frame in playout.recorder.after(cleared_at))
    assert 0 < first.sent_bytes < first.total_bytes
    assert second.sent_bytes == 0
    assert not playout.has_speech


async def test_heard_text_follows_the_audio_that_left(playout, autojump_clock):
    utterance = playout.open_utterance()
    playout.write(utterance, AudioChunk(numbered_frames(10), "Hello there. "))
    playout.write(utterance, AudioChunk(numbered_frames(10), "How can I help?"))
    playout.close_utterance(utterance)
    await trio.sleep(0.02 * 15 - 0.001)  # 15 of 20 frames sent
    playout.clear()
    assert utterance.sent_bytes == 15 * FRAME
    heard = utterance.heard_text
    assert heard.startswith("Hello there. ")
    assert len(heard) == len("Hello there. ") + len("How can I help?") // 2
    progress = utterance.progress()
    assert progress.sent_bytes == 15 * FRAME and not progress.finished


async def test_underrun_sends_silence_then_rephases(playout, autojump_clock):
    utterance = playout.open_utterance()
    playout.write(utterance, numbered_frames(5))
    await trio.sleep(0.5)  # the TTS is late with the rest
    late_at = trio.current_time()
    playout.write(utterance, numbered_frames(5, first=6))
    playout.close_utterance(utterance)
    await utterance.finished.wait()
    speech = playout.recorder.speech()
    assert [frame_number(f) for _, f in speech] == list(range(1, 11))
    assert speech[5][0] == pytest.approx(late_at)
    assert playout.underruns > 0


async def test_frames_go_out_through_on_frame(autojump_clock, nursery):
    seen: list[bytes] = []
    recorder = Recorder()
    playout = Playout(recorder.send, on_frame=seen.append)
    await nursery.start(playout.run)
    utterance = playout.open_utterance()
    playout.write(utterance, numbered_frames(3))
    playout.close_utterance(utterance)
    await utterance.finished.wait()
    assert seen == [f for _, f in recorder.sent]
    stats = playout.statistics()
    assert stats["speech_frames"] == 3
    assert stats["frames_sent"] == len(recorder.sent)


async def test_on_change_reports_start_end_and_clear_without_polling(playout, autojump_clock):
    seen: list[tuple[float, bool]] = []
    playout.on_change = lambda now: seen.append((now, playout.speaking))
    utterance = playout.open_utterance()
    playout.write(utterance, numbered_frames(3))
    playout.close_utterance(utterance)
    started = trio.current_time()
    await utterance.finished.wait()
    # Once when its first frame left, once when its last frame left.
    assert seen == [(pytest.approx(started), True), (pytest.approx(started + 0.04), False)]
    second = playout.open_utterance()
    playout.write(second, numbered_frames(50))
    await trio.sleep(0.05)
    seen.clear()
    playout.clear()
    assert seen == []  # never from inside clear() (its caller is the listener)
    await trio.sleep(0.03)
    assert len(seen) == 1 and seen[0][1] is False
