"""The media clock: one task drives the outbound frames of every call of a process.

A task per call waking fifty times a second costs a trip through the scheduler
per frame per call; one task that wakes when the earliest frame of any call is
due and sends every frame due in the same slot (1 ms by default) costs one
wake-up per slot however many calls share it. Each call keeps its own grid (the
C pacer in its ``Playout`` decides its slot); the clock only orders the calls by
their next due time, in a heap.

A member sends without waiting (a non-blocking socket send). When its socket
cannot take a frame whole, the member's ``clock_tick`` returns ``None``: it
leaves the schedule, its own task sends what is left, awaiting, and then asks
to be scheduled again, so that call's frames keep their order while the others
go on on time. An exception raised by a member's tick is handed to that member
(``clock_failed``), never to the clock: one call's failure is that call's.

The same task reads the calls' audio (``inbound``, ``agent.media.inbound``): at
every wake-up it reads whatever any caller sent meanwhile, and while its next
frame is due more than a slot away it also waits for a caller's audio to arrive.
So a caller's frame is handled within a slot of its arrival (at once when the
task is idle), and with many calls the two directions share the same wake-ups:
at most one per slot however many calls there are, where a reader per call woke
for every frame.

The clock's task runs in the nursery given to it (the server's call nursery)
only while it has members: it starts with the first and ends with the last, so
it never keeps a draining server alive.

It sleeps on the pacer's wake-up timer (``dsp.WakeTimer``, a timerfd) rather than
on a Trio deadline: Trio's deadlines reach the kernel through epoll_wait in whole
milliseconds, so a frame due in 0.3 ms woke its sender up to a millisecond late
and each call's 20 ms grid jittered by that much; the timer wakes within the
kernel's timer slack (~50 us). Under a virtual clock (``trio.testing.MockClock``)
or without a timerfd it sleeps on deadlines as before.
"""

from __future__ import annotations

import heapq
import itertools
import math
import sys
from collections.abc import Callable
from typing import Protocol

import trio

from agent.media.inbound import InboundPoller
from dsp import WakeTimer

# Frames due within this much of the earliest one go in the same wake-up (early,
# by less than this). Asterisk plays what it gets; 1 ms is far inside its tolerance
# and inside the pacing target (p99 <= 2 ms), and it bounds the wake-ups of any
# number of calls to 20 per frame period.
SLOT_S = 0.001


class ClockMember(Protocol):
    def clock_tick(self, now: float, horizon: float) -> float | None:
        """Send the frame due by ``horizon`` (if any) at ``now``; return when the next
        one is due, or None to leave the schedule (its own sender has work)."""

    def clock_failed(self, exc: Exception) -> None:
        """The tick raised ``exc``: the member is off the clock and must end."""


class MediaClock:
    """Orders its members by due time and ticks each when its frame is due."""

    def __init__(
        self, nursery: trio.Nursery, *, slot_s: float = SLOT_S, precise: bool = True
    ) -> None:
        if not 0 <= slot_s < 0.02:
            raise ValueError(f"slot_s must be in [0, 0.02) s, got {slot_s!r}")
        self.slot_s = slot_s
        self._precise = precise  # sleep on the wake-up timer when there is one
        self._nursery = nursery
        # The inbound side of the same calls (agent.media.inbound): this task reads
        # every call's audio too, at the same wake-ups when it can.
        self.inbound = InboundPoller(self._inbound_changed)
        # (due, seq, member); an entry is current only while _live[member] == seq.
        self._heap: list[tuple[float, int, ClockMember]] = []
        self._live: dict[ClockMember, int] = {}
        self._seq = itertools.count()
        self._sleeping = False  # the task waits (for the timer, a caller or a deadline)
        self._sleep: trio.CancelScope | None = None  # its wait's scope, without a timer
        self._wake_at = math.inf  # when the sleeping task wakes for its next frame
        self._timer: WakeTimer | None = None  # the task's precise timer, while it runs
        self._armed_at = math.inf  # when the timer fires (inf: disarmed, or fired)
        self._running = False
        self._ticking = False  # inside a member's tick (no tick_now in a tick)
        self.wakeups = 0
        self.ticks = 0

    @property
    def members(self) -> int:
        return len(self._live)

    def schedule(self, member: ClockMember, due: float) -> None:
        """(Re)schedule ``member``'s next tick at ``due``, replacing any earlier entry."""
        seq = next(self._seq)
        self._live[member] = seq
        heapq.heappush(self._heap, (due, seq, member))
        if self._sleeping and due < self._wake_at:
            self._wake_at = due
            if self._sleep is not None:
                self._sleep.deadline = due  # wakes the task now when due is in the past
            elif self._timer is not None:
                self._arm(self._timer, due, trio.current_time())
        if not self._running:
            self._running = True
            self._nursery.start_soon(self._run)

    def tick_now(self, member: ClockMember) -> None:
        """Tick ``member`` now, in the caller's task (speech ready after silence: its
        first frame goes within this step, not at the clock task's next wake-up,
        a trip round the run loop later); then schedule its next tick as the clock
        would. Inside the clock's own ticking (a member's hook acting on a
        playout) it is only scheduled now, so no member is ticked inside a tick."""
        if self._ticking or member not in self._live:
            self.schedule(member, trio.current_time())
            return
        now = trio.current_time()
        self._tick(member, now, now, self.schedule)

    def _tick(
        self,
        member: ClockMember,
        now: float,
        horizon: float,
        place: Callable[[ClockMember, float], None],
    ) -> None:
        """One tick of ``member``, its next one put on the schedule by ``place``; a
        member whose tick raises leaves the clock and is told why."""
        self.ticks += 1
        self._ticking = True
        try:
            due = member.clock_tick(now, horizon)
        except Exception as exc:
            del self._live[member]
            member.clock_failed(exc)
            return
        finally:
            self._ticking = False
        if due is None:
            self._live[member] = -1  # off the schedule until its task asks again
        else:
            place(member, due)

    def remove(self, member: ClockMember) -> None:
        self._live.pop(member, None)
        if not self._live:
            # Stale entries hold their members (and their calls) until popped: with
            # no member left, nothing in the heap is current.
            self._heap.clear()
            if not self.inbound.members:
                self._wake()  # the task ends: nothing left to drive

    def _inbound_changed(self) -> None:
        """A call joined or left the inbound poll: start the task, or have it look
        again (a sleep that does not watch the poll must not keep a new caller's
        audio waiting for the next frame due)."""
        if not self._running:
            if self.inbound.members:
                self._running = True
                self._nursery.start_soon(self._run)
        else:
            self._wake()  # it looks again (or ends, with no member left)

    def _wake(self) -> None:
        """Have the sleeping task go round its loop now. With the timer this is the
        timer fired at once, so a wait needs no cancel scope of its own."""
        if not self._sleeping:
            return
        if self._sleep is not None:
            self._sleep.deadline = -math.inf
        elif self._timer is not None:
            now = trio.current_time()
            self._arm(self._timer, now, now)  # (fires at once: a time not ahead)

    async def _run(self) -> None:
        heap, live, slot, inbound = self._heap, self._live, self.slot_s, self.inbound
        heappop, heappush = heapq.heappop, heapq.heappush
        # The run's clock itself: trio.current_time() is three calls deep per use.
        current_time = trio.lowlevel.current_clock().current_time
        seqs = self._seq

        def push(member: ClockMember, due: float) -> None:
            # The task reschedules itself: no sleep to shorten, no task to start.
            seq = next(seqs)
            live[member] = seq
            heappush(heap, (due, seq, member))

        timer = self._timer = self._open_timer()
        if timer is not None:
            inbound.watch_timer(timer.fileno())
        try:
            while live or inbound.members:
                self.wakeups += 1
                # Frames first: what the callers sent meanwhile can wait the few
                # hundred microseconds the ticks take, a frame due now should not.
                horizon = current_time() + slot
                while heap and heap[0][0] <= horizon:
                    _, seq, member = heappop(heap)
                    if live.get(member) != seq:
                        continue  # replaced, unscheduled or removed since
                    self._tick(member, current_time(), horizon, push)
                if inbound.members:
                    inbound.drain()  # what callers sent since the last wake-up
                if not live and not inbound.members:
                    break
                wake_at = self._wake_at = heap[0][0] if heap else math.inf
                # Caller audio waits for the next wake-up when that is within a slot
                # (so busy calls share wake-ups both ways); otherwise its arrival
                # wakes the task (the poll watches the timer too).
                now = current_time()
                fd = inbound.fileno
                if fd is None or wake_at - now <= slot:
                    fd = None if timer is None else timer.fileno()
                if timer is not None and wake_at != self._armed_at:
                    # (Set for the same time and not yet fired, it stays as it is:
                    # a wake-up for caller audio then costs no timer call.)
                    self._arm(timer, wake_at, now)
                self._sleeping = True
                if timer is not None:
                    # The timer wakes it (armed for the next frame, or at once by
                    # ``_wake``), or a caller's audio when fd is the poll.
                    await trio.lowlevel.wait_readable(fd)
                else:
                    with trio.CancelScope(deadline=wake_at) as scope:
                        self._sleep = scope
                        if fd is not None:
                            await trio.lowlevel.wait_readable(fd)
                        else:
                            await trio.sleep_forever()
                    self._sleep = None
                self._sleeping = False
        finally:
            self._sleeping = False
            self._sleep = None
            self._wake_at = math.inf
            self._running = False
            if timer is not None:
                inbound.watch_timer(None)
                timer.close()
                self._timer = None
                self._armed_at = math.inf
            if not live:
                heap.clear()
            if not inbound.members:
                inbound.close()

    def _arm(self, timer: WakeTimer, at: float, now: float) -> None:
        if at == math.inf:
            timer.disarm()
        else:
            timer.arm(at - now)
        # A time already past fires at once: it must be set again next time.
        self._armed_at = at if at > now else -math.inf

    def _open_timer(self) -> WakeTimer | None:
        """The precise timer, unless time is virtual (a test's MockClock: it must
        drive every wake-up) or the system has none (then Trio's deadlines)."""
        # A MockClock is only there if trio.testing was imported (importing it here
        # would pull pytest into a serving process).
        testing = sys.modules.get("trio.testing")
        clock = trio.lowlevel.current_clock()
        if not self._precise or (testing is not None and isinstance(clock, testing.MockClock)):
            return None
        return WakeTimer.open()
