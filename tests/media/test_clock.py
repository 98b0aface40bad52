"""The media clock under MockClock: 200 calls on one task keep their cadence, re-phase,
pause and clear within the frame; a call whose socket cannot take a frame keeps its
order without delaying the others."""

from __future__ import annotations

import contextvars
import itertools
import random

import numpy as np
import pytest
import trio

from agent.media.clock import SLOT_S, MediaClock
from agent.media.playout import Playout

CALLS = 200
FRAME = 320
SILENCE = bytes(FRAME)
EPS = 2e-6  # the pacer works in whole microseconds


def numbered_frames(count: int, first: int = 1) -> bytes:
    return b"".join(np.full(160, first + k, dtype="<i2").tobytes() for k in range(count))


def frame_number(frame: bytes) -> int:
    return int(np.frombuffer(frame, dtype="<i2")[0])


class Sink:
    """A socket that takes every frame at once, unless told it is full."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []
        self.full_until = -1.0  # while now < full_until, frames wait for flush
        self._kept: list[bytes] = []

    def send_nowait(self, frame: bytes) -> bool:
        if self._kept or trio.current_time() < self.full_until:
            self._kept.append(frame)
            return False
        self.sent.append((trio.current_time(), frame))
        return True

    async def flush(self) -> None:
        await trio.sleep_until(self.full_until)
        while self._kept:
            self.sent.append((trio.current_time(), self._kept.pop(0)))

    def times(self) -> list[float]:
        return [t for t, _ in self.sent]

    def speech(self) -> list[tuple[float, bytes]]:
        return [(t, f) for t, f in self.sent if f != SILENCE]


async def start_calls(nursery: trio.Nursery, clock: MediaClock, rng: random.Random):
    """CALLS playouts joining at random moments of the first 100 ms (random phases)."""
    calls: list[tuple[Playout, Sink]] = []
    for _ in range(CALLS):
        await trio.sleep(rng.uniform(0, 0.1 / CALLS))
        sink = Sink()
        playout = Playout(sink, clock=clock)
        await nursery.start(playout.run)
        calls.append((playout, sink))
    return calls


def assert_on_grid(times: list[float], start: float) -> None:
    """Every frame within half a slot of its place on the 20 ms grid from ``start``
    (it goes at the clock's grid time nearest it), so exactly 50 frames a second."""
    for k, t in enumerate(times):
        place = start + 0.02 * k
        assert abs(t - place) <= SLOT_S / 2 + EPS, (k, t, place)


async def test_200_calls_keep_50_frames_a_second_on_their_grids(autojump_clock, nursery):
    clock = MediaClock(nursery)
    calls = await start_calls(nursery, clock, random.Random(1))
    await trio.sleep(2.0)
    for _, sink in calls:
        times = sink.times()
        assert_on_grid(times, times[0])
        assert all(f == SILENCE for _, f in sink.sent)
        one_second = [t for t in times if times[0] + 0.5 <= t < times[0] + 1.5]
        assert len(one_second) == 50
    # One task did it, waking at most once per slot (and once more for each
    # call joining: its first frame goes at once), not once per call and frame.
    assert clock.ticks >= CALLS * 100
    assert clock.wakeups <= 2.1 / SLOT_S + CALLS


async def test_200_calls_rephase_at_once_and_play_every_frame(autojump_clock, nursery):
    rng = random.Random(2)
    clock = MediaClock(nursery)
    calls = await start_calls(nursery, clock, rng)
    await trio.sleep(0.3)
    utterances = []
    for i, (playout, _sink) in enumerate(calls):
        await trio.sleep(rng.uniform(0, 0.0003))  # anywhere between two silence slots
        ready_at = trio.current_time()
        utterance = playout.open_utterance()
        playout.write(utterance, numbered_frames(25, first=i * 100 + 1))
        playout.close_utterance(utterance)
        utterances.append((ready_at, utterance))
    for _, utterance in utterances:
        await utterance.finished.wait()
    await trio.sleep(0.2)
    for i, ((ready_at, utterance), (_, sink)) in enumerate(zip(utterances, calls, strict=True)):
        speech = sink.speech()
        # The first speech frame left at once (re-phased), then every 20 ms on the new grid.
        assert speech[0][0] == pytest.approx(ready_at, abs=EPS)
        assert [frame_number(f) for _, f in speech] == list(range(i * 100 + 1, i * 100 + 26))
        first = sink.sent.index(speech[0])
        assert_on_grid(sink.times()[first:], ready_at)
        assert utterance.first_frame_at == pytest.approx(ready_at, abs=EPS)
        assert not utterance.cut


async def test_a_steady_call_keeps_whole_gaps_while_the_others_rephase(autojump_clock, nursery):
    """The clock wakes on a process-wide grid of slots, so a call whose phase does not
    change leaves each frame the same fraction of a slot early: the other calls'
    re-phasing (which moves the earliest due time) does not jitter its gaps."""
    rng = random.Random(4)
    clock = MediaClock(nursery)
    calls = await start_calls(nursery, clock, rng)
    steady_sink = calls[0][1]
    await trio.sleep(0.2)
    watched_from = len(steady_sink.sent)
    for round_ in range(3):
        for i, (playout, _) in enumerate(calls[1:], start=1):
            await trio.sleep(rng.uniform(0, 0.0005))  # new phases, anywhere in a slot
            utterance = playout.open_utterance()
            playout.write(utterance, numbered_frames(3, first=round_ * 1000 + i))
            playout.close_utterance(utterance)
    await trio.sleep(0.3)
    times = steady_sink.times()[watched_from:]
    assert len(times) >= 20
    gaps = np.diff(times)
    assert np.all(np.abs(gaps - 0.02) <= EPS), gaps[np.abs(gaps - 0.02) > EPS]


async def test_200_calls_pause_and_clear_within_the_frame(autojump_clock, nursery):
    clock = MediaClock(nursery)
    calls = await start_calls(nursery, clock, random.Random(3))
    utterances = []
    for playout, _ in calls:
        utterance = playout.open_utterance()
        playout.write(utterance, numbered_frames(100))
        playout.close_utterance(utterance)
        utterances.append(utterance)
    await trio.sleep(0.5)
    # A barge-in: the caller's speech pauses every even call, confirmed speech clears
    # every odd one, all from the reader (sync) between two frames.
    acted_at = trio.current_time()
    for i, (playout, _) in enumerate(calls):
        if i % 2:
            playout.clear()
            assert utterances[i].finished.is_set() and utterances[i].cut
        else:
            playout.pause()
    await trio.sleep(0.3)
    for i, (playout, sink) in enumerate(calls):
        assert all(f == SILENCE for t, f in sink.sent if t > acted_at), i
        # From the re-phase at its first speech frame on, silence keeps the cadence.
        first = next(k for k, (_, f) in enumerate(sink.sent) if f != SILENCE)
        assert_on_grid(sink.times()[first:], sink.sent[first][0])
        if i % 2:
            assert not playout.has_speech
    resumed_at = trio.current_time()
    for playout, _ in calls[::2]:
        playout.resume()
    for utterance in utterances[::2]:
        await utterance.finished.wait()
    for (_playout, sink), utterance in zip(calls[::2], utterances[::2], strict=True):
        after = [(t, frame_number(f)) for t, f in sink.sent if t >= resumed_at and f != SILENCE]
        before = [frame_number(f) for t, f in sink.sent if t <= acted_at and f != SILENCE]
        # Resumed at once where it stopped; nothing lost or repeated.
        assert after[0][0] == pytest.approx(resumed_at, abs=EPS)
        assert before + [n for _, n in after] == list(range(1, 101))
        assert not utterance.cut


async def test_a_full_socket_keeps_its_call_in_order_and_delays_no_other(autojump_clock, nursery):
    clock = MediaClock(nursery)
    calls = await start_calls(nursery, clock, random.Random(4))
    slow_playout, slow = calls[17]
    utterance = slow_playout.open_utterance()
    slow_playout.write(utterance, numbered_frames(40))
    slow_playout.close_utterance(utterance)
    await trio.sleep(0.1)
    stalled_at = trio.current_time()
    slow.full_until = stalled_at + 0.07  # the peer reads nothing for 70 ms
    await utterance.finished.wait()
    await trio.sleep(0.2)
    # The slow call: every frame once, in order; its frames went late, none early.
    assert [frame_number(f) for _, f in slow.speech()] == list(range(1, 41))
    late = [t for t, _ in slow.sent if stalled_at < t < stalled_at + 0.069]
    assert not late  # nothing left while the socket was full
    assert slow_playout.fallback_sends >= 1
    # Every other call kept its grid throughout.
    for i, (_, sink) in enumerate(calls):
        if i != 17:
            assert_on_grid(sink.times(), sink.times()[0])


async def test_a_tick_that_raises_ends_only_its_own_call(autojump_clock, nursery):
    clock = MediaClock(nursery)
    good_sink, bad_sink = Sink(), Sink()
    good = Playout(good_sink, clock=clock)
    frames = itertools.count()

    def explode(frame: bytes) -> None:
        if next(frames) == 5:
            raise RuntimeError("recorder broke")

    bad = Playout(bad_sink, clock=clock, on_frame=explode)
    await nursery.start(good.run)
    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="recorder broke")):
        async with trio.open_nursery() as inner:
            await inner.start(bad.run)
    await trio.sleep(0.2)
    assert len(bad_sink.sent) == 6
    assert_on_grid(good_sink.times(), good_sink.times()[0])
    assert good_sink.times()[-1] >= trio.current_time() - 0.02
    assert clock.members == 1


async def test_the_clock_task_ends_with_its_last_call(autojump_clock):
    with trio.fail_after(1):  # a clock task left behind would keep the nursery open
        async with trio.open_nursery() as nursery:
            clock = MediaClock(nursery)
            sink = Sink()
            with trio.move_on_after(0.09):  # frames at 0, 20, ... 80 ms
                await Playout(sink, clock=clock).run()
            assert clock.members == 0
    assert len(sink.sent) == 5


async def test_the_first_speech_frame_leaves_inside_write_with_no_clock_wakeup(
    autojump_clock, nursery
):
    clock = MediaClock(nursery)
    sink = Sink()
    playout = Playout(sink, clock=clock)
    await nursery.start(playout.run)
    await trio.sleep(0.105)  # between two silence slots
    wakeups, ticks = clock.wakeups, clock.ticks
    utterance = playout.open_utterance()
    playout.write(utterance, numbered_frames(3, first=7))
    # Gone before this task yields: no trip round the run loop to the clock's task.
    assert [frame_number(f) for _, f in sink.speech()] == [7]
    assert sink.speech()[0][0] == trio.current_time()
    assert (clock.wakeups, clock.ticks) == (wakeups, ticks + 1)
    playout.close_utterance(utterance)  # speech already flowing: no second frame now
    assert len(sink.speech()) == 1
    await utterance.finished.wait()
    first = sink.sent.index(sink.speech()[0])
    assert [frame_number(f) for _, f in sink.speech()] == [7, 8, 9]
    assert_on_grid(sink.times()[first:], sink.speech()[0][0])


class Nested:
    """A member whose tick asks for another member's tick now (a hook acting on a
    playout from inside the clock's ticking)."""

    def __init__(self, clock: MediaClock, other: Nested | None = None) -> None:
        self.clock, self.other = clock, other
        self.ticked: list[float] = []
        self.inside = False

    def clock_tick(self, now: float, horizon: float) -> float | None:
        assert not self.inside, "ticked inside its own tick"
        self.inside = True
        self.ticked.append(now)
        if self.other is not None and len(self.ticked) == 2:
            before = len(self.other.ticked)
            self.clock.tick_now(self.other)
            assert len(self.other.ticked) == before  # only scheduled, not ticked in here
        self.inside = False
        return now + 0.02

    def clock_failed(self, exc: Exception) -> None:
        raise AssertionError(exc)


async def test_tick_now_inside_a_tick_only_schedules(autojump_clock, nursery):
    clock = MediaClock(nursery)
    b = Nested(clock)
    a = Nested(clock, other=b)
    clock.schedule(b, trio.current_time())
    await trio.sleep(0.005)
    clock.schedule(a, trio.current_time())
    await trio.sleep(0.05)  # a's second tick asks for b now: b ticks at the next wake-up
    asked_at = a.ticked[1]  # 25 ms; b's own grid was 0, 20, 40 ms
    assert b.ticked[:3] == pytest.approx([0.0, 0.02, asked_at], abs=EPS)
    assert b.ticked[3] == pytest.approx(asked_at + 0.02, abs=EPS)  # its grid moved with it
    clock.remove(a)
    clock.remove(b)


@pytest.mark.parametrize("between_steps", [True, False])
async def test_a_frame_due_while_other_tasks_run_long_steps_goes_at_the_next_step(
    autojump_clock, nursery, between_steps
):
    """Five tasks whose every step takes 1 ms (virtual time jumped inside the step):
    with the step hook each frame leaves at the first step boundary after its grid
    time, so at most one step later than the half slot a frame may be late anyway;
    without it, a frame waits until the clock's own task gets its turn in Trio's
    batch, behind up to all five."""
    clock = MediaClock(nursery, between_steps=between_steps)
    sinks = []
    for _ in range(20):
        await trio.sleep(random.Random(len(sinks)).uniform(0, 0.001))
        sink = Sink()
        playout = Playout(sink, clock=clock)
        await nursery.start(playout.run)
        sinks.append(sink)

    async def busy() -> None:
        while True:
            autojump_clock.jump(0.001)  # a step that takes 1 ms
            await trio.lowlevel.checkpoint()

    watched_from = [len(sink.sent) for sink in sinks]
    async with trio.open_nursery() as busy_tasks:
        for _ in range(5):
            busy_tasks.start_soon(busy)
        await trio.sleep(0.5)
        busy_tasks.cancel_scope.cancel()
    lateness = []
    for sink, start in zip(sinks, watched_from, strict=True):
        times = sink.times()
        # each frame against the call's own 20 ms grid, as its first frame set it
        lateness += [t - (times[0] + 0.02 * k) for k, t in enumerate(times)][start:]
    assert len(lateness) > 300
    if between_steps:
        assert max(lateness) <= SLOT_S / 2 + 0.001 + EPS
    else:
        assert max(lateness) >= SLOT_S / 2 + 0.002  # what the hook is for


CALL_NAME: contextvars.ContextVar[str] = contextvars.ContextVar("CALL_NAME", default="none")


class ContextMember:
    """Notes the context variable its ticks see."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def clock_tick(self, now: float, horizon: float) -> float | None:
        self.seen.append(CALL_NAME.get())
        return now + 0.02

    def clock_failed(self, exc: Exception) -> None:
        raise AssertionError(exc)


async def test_each_member_ticks_in_the_context_of_the_task_that_scheduled_it(
    autojump_clock, nursery
):
    """Whichever task a tick happens in (the clock's, another's through the step hook,
    a speech-ready ``tick_now``), it sees its own call's context, so its log lines and
    the tasks its actions start belong to that call."""
    clock = MediaClock(nursery)
    members = {name: ContextMember() for name in ("a", "b", "c")}

    async def join(name: str) -> None:
        CALL_NAME.set(name)
        clock.schedule(members[name], trio.current_time())
        await trio.sleep(0.2)
        clock.tick_now(members[name])  # from its own task: its context is entered
        await trio.sleep(0.1)
        clock.remove(members[name])

    async def busy() -> None:
        CALL_NAME.set("busy")
        for _ in range(300):
            autojump_clock.jump(0.001)  # frames fall due inside this task's steps
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as tasks:
        for name in members:
            tasks.start_soon(join, name)
        tasks.start_soon(busy)
    for name, member in members.items():
        assert len(member.seen) >= 14
        assert set(member.seen) == {name}
