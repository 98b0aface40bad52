"""The media clock on the real clock sleeps on the pacer's wake-up timer (a timerfd),
not on Trio's millisecond deadlines. These tests assert order and bounds that hold
however loaded the machine is (a frame may be late, never early), and that every
way of waking the task reaches it; the cadence itself is tested in virtual time
(test_clock.py), where the clock keeps Trio's deadlines."""

from __future__ import annotations

import socket
import sys

import pytest
import trio

from agent.media.clock import SLOT_S, MediaClock
from agent.media.playout import Playout

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="timerfd is Linux's")

EPS = 2e-6  # the pacer works in whole microseconds


class Sink:
    def __init__(self) -> None:
        self.times: list[float] = []

    def send_nowait(self, frame: bytes) -> bool:
        self.times.append(trio.current_time())
        return True

    async def flush(self) -> None:
        pass  # send_nowait always takes the frame


class Member:
    """A clock member with one frame due at ``due``; records when it was ticked."""

    def __init__(self, due: float) -> None:
        self.due = due
        self.ticked: list[float] = []
        self.done = trio.Event()

    def clock_tick(self, now: float, horizon: float) -> float | None:
        self.ticked.append(now)
        self.done.set()
        return None  # off the schedule: one tick is all it wants

    def clock_failed(self, exc: Exception) -> None:
        raise AssertionError(exc)


@pytest.mark.parametrize("precise", [True, False])
async def test_no_frame_leaves_more_than_a_slot_before_its_place(nursery, precise):
    clock = MediaClock(nursery, precise=precise)
    sinks = [Sink() for _ in range(5)]
    starts = []
    with trio.move_on_after(0.3):
        async with trio.open_nursery() as calls:
            for sink in sinks:
                starts.append(trio.current_time())
                await calls.start(Playout(sink, clock=clock).run)
                await trio.sleep(0.003)
    for sink, start in zip(sinks, starts, strict=True):
        assert len(sink.times) >= 5
        # The grid's origin is the time the playout first asked for a frame, no
        # earlier than ``start`` (its first frame may leave late on a busy machine,
        # so that frame's own time is no origin to measure the others by).
        for k, sent in enumerate(sink.times):
            # Late is possible on a busy machine (the pacer then keeps the grid's
            # phase); early by more than a slot is not.
            assert sent >= start + 0.02 * k - SLOT_S - EPS, (k, sent - start)


async def test_a_frame_due_sooner_wakes_the_sleeping_clock(nursery):
    clock = MediaClock(nursery)
    far, near = Member(due=0), Member(due=0)
    clock.schedule(far, trio.current_time() + 60)  # the task sleeps for a minute
    await trio.sleep(0.01)
    with trio.fail_after(10):
        clock.schedule(near, trio.current_time() + 0.005)
        await near.done.wait()
    assert not far.ticked
    clock.remove(far)


async def test_the_timer_wakes_the_clock_while_it_waits_for_caller_audio(nursery):
    """With a caller polled and the next frame more than a slot away, the task waits
    on the callers' poll: the poll must watch the timer too."""
    clock = MediaClock(nursery)
    ours, theirs = socket.socketpair()
    with ours, theirs:

        class Silent:
            def inbound_ready(self) -> bool:
                ours.recv(4096)
                return True

        async with trio.open_nursery() as polled:
            polled.start_soon(clock.inbound.serve, ours.fileno(), Silent())
            await trio.sleep(0.01)
            member = Member(due=0)
            with trio.fail_after(10):
                clock.schedule(member, trio.current_time() + 0.05)
                await member.done.wait()
            polled.cancel_scope.cancel()
    assert len(member.ticked) == 1


async def test_a_caller_joining_wakes_the_clock_sleeping_on_its_timer(nursery):
    """The task waits with no cancel scope of its own: a caller joining the poll while
    it sleeps for a far frame fires the timer at once, so the caller is read now."""
    clock = MediaClock(nursery)
    far = Member(due=0)
    clock.schedule(far, trio.current_time() + 60)  # asleep on the timer alone
    await trio.sleep(0.01)
    ours, theirs = socket.socketpair()
    read = trio.Event()
    with ours, theirs:

        class Reader:
            def inbound_ready(self) -> bool:
                ours.recv(4096)
                read.set()
                return True

        theirs.send(b"x")
        async with trio.open_nursery() as polled:
            polled.start_soon(clock.inbound.serve, ours.fileno(), Reader())
            with trio.fail_after(10):
                await read.wait()
            polled.cancel_scope.cancel()
    assert not far.ticked
    clock.remove(far)


async def test_the_last_member_leaving_ends_the_sleeping_clock_task(nursery):
    clock = MediaClock(nursery)
    far = Member(due=0)
    clock.schedule(far, trio.current_time() + 60)
    await trio.sleep(0.01)
    assert len(nursery.child_tasks) == 1  # the clock's task, asleep for a minute
    clock.remove(far)
    with trio.fail_after(10):
        while nursery.child_tasks:
            await trio.sleep(0.001)
