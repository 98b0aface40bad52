"""The media clock: one task drives the outbound frames of every call of a process.

A task per call waking fifty times a second costs a trip through the scheduler
per frame per call; one task that wakes at the grid times (every 2 ms by
default, one grid for the whole process) and sends every frame whose due time is
nearer that grid time than any other, costs one wake-up per slot however many
calls share it. Each call keeps its own 20 ms grid (the C pacer in its
``Playout`` decides its slot); the clock only orders the calls by their next due
time, in a heap. As 20 ms is a whole number of slots, each call's frames leave
the same fraction of a slot early or late every time, and its gaps stay whole
whatever the other calls do.

The nearest grid time, not the slot a frame falls in: after a re-phase (speech
after silence: its first frame went at once, off the grid) the next gap is off by
the distance to the grid, at most half a slot this way, where sending at the start
of the frame's slot was off by up to a whole one. So 2 ms slots keep the 1 ms
bound that 1 ms slots had, with half the grid times to wake at (each wake-up is a
sleep and a wake of the process: ~40 us of CPU in a VM, the clock's main fixed
cost; with a hundred calls the process now sleeps about a quarter less often).

Trio has no priorities: a frame due while other tasks run would wait for the
batch in progress to end and then for the clock's turn in the next one (Trio
runs a batch in no set order), milliseconds with a hundred busy calls. So while
the clock runs, an instrument (``_StepHook``) looks at the time before every
task step and sends the frames whose grid time has come right there: a frame is late
by at most the one step that was running when that time came.

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

import contextlib
import contextvars
import heapq
import itertools
import math
import sys
from collections.abc import Callable
from typing import Protocol

import trio

from agent.media.inbound import InboundPoller
from dsp import WakeTimer

# The grid's step: a frame leaves at the grid time nearest its due time, at most
# half of this early or late. Asterisk plays what it gets; 1 ms is far inside its
# tolerance and inside the pacing target (p99 <= 2 ms), and it bounds the wake-ups
# of any number of calls to 10 per frame period.
SLOT_S = 0.002
# A time this close below a slot's start is taken as on it (float rounding of due
# times that sit on the grid must not move a call's frames a whole slot).
_ON_GRID_S = 1e-7


class ClockMember(Protocol):
    def clock_tick(self, now: float, horizon: float) -> float | None:
        """Send the frame due by ``horizon`` (if any) at ``now``; return when the next
        one is due, or None to leave the schedule (its own sender has work)."""

    def clock_failed(self, exc: Exception) -> None:
        """The tick raised ``exc``: the member is off the clock and must end."""


class MediaClock:
    """Orders its members by due time and ticks each when its frame is due."""

    def __init__(
        self,
        nursery: trio.Nursery,
        *,
        slot_s: float = SLOT_S,
        precise: bool = True,
        between_steps: bool = True,
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
        # Each member's ticks run in the context of the task that first scheduled it
        # (its own: the call's log fields, and what a tick's actions start inherits),
        # whichever task the tick happens in.
        self._contexts: dict[ClockMember, contextvars.Context] = {}
        self._seq = itertools.count()
        self._sleeping = False  # the task waits (for the timer, a caller or a deadline)
        self._sleep: trio.CancelScope | None = None  # its wait's scope, without a timer
        self._wake_at = math.inf  # when the sleeping task wakes for its next frame
        self._timer: WakeTimer | None = None  # the task's precise timer, while it runs
        self._armed_at = math.inf  # when the timer fires (inf: disarmed, or fired)
        # The start of the slot of the earliest frame on the schedule (inf: none): what
        # the step hook (``send_overdue``) compares the time with.
        self._next_at = math.inf
        self._task: trio.lowlevel.Task | None = None  # the clock's task, while it runs
        self._now: Callable[[], float] = trio.current_time  # the run's clock, once known
        # Send overdue frames between any two task steps (``send_overdue``).
        self._between_steps = between_steps
        self._running = False
        self._ticking = False  # inside a member's tick (no tick_now in a tick)
        self.wakeups = 0
        self.ticks = 0

    @property
    def members(self) -> int:
        return len(self._live)

    def schedule(self, member: ClockMember, due: float) -> None:
        """(Re)schedule ``member``'s next tick at ``due``, replacing any earlier entry."""
        if member not in self._contexts:
            self._contexts[member] = trio.lowlevel.current_task().context
        self._push(member, due)
        wake_at = self._grid_time(due)
        if wake_at > due and due <= self._now():
            wake_at = due  # due already: at once (speech after silence goes now)
        self._next_at = min(self._next_at, wake_at)
        if self._sleeping and wake_at < self._wake_at:
            self._wake_at = wake_at
            if self._sleep is not None:
                self._sleep.deadline = wake_at  # wakes the task now when in the past
            elif self._timer is not None:
                self._arm(self._timer, wake_at, trio.current_time())
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
        # (From the member's own task its context is entered already.)
        entered = self._contexts.get(member) is trio.lowlevel.current_task().context
        self._tick(member, now, now, self.schedule, in_context=entered)

    def _tick(
        self,
        member: ClockMember,
        now: float,
        horizon: float,
        place: Callable[[ClockMember, float], None],
        *,
        in_context: bool = False,
    ) -> None:
        """One tick of ``member`` (in its context unless ``in_context``: already in
        it), its next one put on the schedule by ``place``; a member whose tick
        raises leaves the clock and is told why."""
        self.ticks += 1
        self._ticking = True
        context = None if in_context else self._contexts.get(member)
        try:
            if context is None:
                due = member.clock_tick(now, horizon)
            else:
                due = context.run(member.clock_tick, now, horizon)
        except Exception as exc:
            del self._live[member]
            self._contexts.pop(member, None)
            member.clock_failed(exc)
            return
        finally:
            self._ticking = False
        if due is None:
            self._live[member] = -1  # off the schedule until its task asks again
        else:
            place(member, due)

    def _push(self, member: ClockMember, due: float) -> None:
        seq = next(self._seq)
        self._live[member] = seq
        heapq.heappush(self._heap, (due, seq, member))

    def send_overdue(self, task: trio.lowlevel.Task) -> None:
        """Between two task steps (``_StepHook``, before ``task``'s): send the frames
        whose grid time has come, if any. Trio runs a batch of ready tasks in no set
        order, after the batch before it ends; a frame due meanwhile went only when
        the clock's own task got its turn, milliseconds late with a hundred busy
        calls. Here it goes at the first step boundary after its grid time."""
        if self._now() < self._next_at or self._ticking or task is self._task:
            return  # (the first test is the one that holds almost always: keep it cheap)
        # (The clock's task still wakes when its timer fires, though its frames have
        # gone: it reads the callers' audio then, which must not wait for a quiet
        # moment with no other task running.)
        self._send_due()

    def _send_due(self) -> None:
        """Tick every member whose grid time has come (and any due already)."""
        heap, live = self._heap, self._live
        now = self._now
        t = now()
        # Due by the middle of the current slot: the grid time nearest it has begun
        # (with room for _grid_time's tolerance, or a tie would wake us for nothing).
        horizon = max(self._slot_start(t) + self.slot_s / 2 + 2 * _ON_GRID_S, t)
        while heap and heap[0][0] <= horizon:
            _, seq, member = heapq.heappop(heap)
            if live.get(member) != seq:
                continue  # replaced, unscheduled or removed since
            self._tick(member, now(), horizon, self._push)
        self._next_at = self._grid_time(heap[0][0]) if heap else math.inf

    def _grid_time(self, due: float) -> float:
        """The time of the process-wide grid nearest ``due`` (a tie: the earlier one),
        when the task sends a frame due then.

        So a call's frames leave the same fraction of a slot early or late every
        time: its 20 ms gaps stay whole however the other calls' phases move the
        wake-ups (a wake-up at the earliest due time instead made each frame's
        offset depend on the others' phases, jitter of up to a slot)."""
        slot = self.slot_s
        return due if slot == 0 else math.ceil((due - slot / 2 - _ON_GRID_S) / slot) * slot

    def _slot_start(self, t: float) -> float:
        """The grid time at or before ``t``."""
        slot = self.slot_s
        return t if slot == 0 else ((t + _ON_GRID_S) // slot) * slot

    def remove(self, member: ClockMember) -> None:
        self._live.pop(member, None)
        self._contexts.pop(member, None)
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
        live, slot, inbound = self._live, self.slot_s, self.inbound
        # The run's clock itself: trio.current_time() is three calls deep per use.
        current_time = self._now = trio.lowlevel.current_clock().current_time
        self._task = trio.lowlevel.current_task()
        hook = _StepHook(self) if self._between_steps else None
        if hook is not None:
            trio.lowlevel.add_instrument(hook)
        timer = self._timer = self._open_timer()
        if timer is not None:
            inbound.watch_timer(timer.fileno())
        try:
            cut_short = False  # the last pass stopped its drain for a frame due
            while live or inbound.members:
                if not cut_short:
                    self.wakeups += 1
                # Frames first: what the callers sent meanwhile can wait the few
                # hundred microseconds the ticks take, a frame due now should not.
                self._send_due()
                if inbound.members:
                    # What callers sent since the last wake-up, cut short when the next
                    # frame's grid time comes meanwhile (a burst of caller audio, or a
                    # hook's long work, must not make that frame late): round again.
                    cut_short = inbound.drain(self._next_at, current_time)
                    if cut_short:
                        continue
                if not live and not inbound.members:
                    break
                wake_at = self._wake_at = self._next_at
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
            if hook is not None:
                # (Gone already if it ever raised: Trio then logs it and drops it, and
                # the frames wait for the clock's own task as before.)
                with contextlib.suppress(KeyError):
                    trio.lowlevel.remove_instrument(hook)
            self._task = None
            self._now = trio.current_time
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
                self._heap.clear()
                self._next_at = math.inf
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


class _StepHook(trio.abc.Instrument):
    """Calls the clock's ``send_overdue`` before every task step (while the clock's
    task runs): the one place Trio lets code run between any two steps."""

    def __init__(self, clock: MediaClock) -> None:
        self._clock = clock

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._clock.send_overdue(task)
