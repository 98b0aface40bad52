"""Caller audio in for every call of a process, read by the media clock's task.

A reader task per call waking for each caller frame costs, per frame per call, a
trip through the scheduler and two epoll calls (Trio re-arms a one-shot
registration at every wait). Here the calls' sockets sit in one epoll of our own
(level-triggered, registered once per stretch of audio) that the media clock's
task drains at each of its wake-ups (``agent.media.clock``): every call with
data reads it with one non-blocking read and runs its frame path inline (decode,
VAD, the brain's hooks, the STT feed), however many calls were ready together.

Only caller audio at the call's rate takes this path. Anything else (a DTMF, a
hang-up or error message, the caller's EOF, a malformed message, audio beyond the
flood budget, an exception from a hook) hands the call back to its own reader
task, which handles it as it always has and then asks to be polled again.

A member leaves the poll at once when its reader task is cancelled (the abort of
its wait), so no frame of a call that is ending is handled after it ended.
Inline work runs in the reader task's own context (``contextvars``), so a log
line from a hook still carries the call's UUID.
"""

from __future__ import annotations

import contextlib
import math
import select
from collections.abc import Callable
from typing import Protocol

import outcome
import trio


class InboundMember(Protocol):
    def inbound_ready(self) -> bool:
        """Read what arrived and handle it; False hands the call back to its reader."""


class _Entry:
    __slots__ = ("member", "task")

    def __init__(self, member: InboundMember, task: trio.lowlevel.Task) -> None:
        self.member = member
        self.task = task


class InboundPoller:
    """The members' sockets in one epoll; ``drain`` handles every one that is ready.

    ``changed`` is called when a member joins or leaves (the clock's task starts,
    or looks again at what it waits for).
    """

    def __init__(self, changed: Callable[[], None]) -> None:
        self._changed = changed
        self._epoll: select.epoll | None = None
        # The media clock's wake-up timer, watched by the same epoll, so one wait
        # covers both a caller's audio and the next frame due (None: none).
        self._timer_fd: int | None = None
        self._members: dict[int, _Entry] = {}
        self.drains = 0  # drains that found a socket ready
        self.polls = 0  # members' reads (more than drains: calls ready together)
        self.cut_short = 0  # drains stopped for a frame due (``drain``'s ``until``)

    @property
    def members(self) -> int:
        return len(self._members)

    @property
    def fileno(self) -> int | None:
        """The epoll's descriptor, readable when a member's socket is (None: no members)."""
        return self._epoll.fileno() if self._members and self._epoll is not None else None

    def watch_timer(self, fd: int | None) -> None:
        """Make the poll readable also when timer ``fd`` fires (None: stop watching it).
        ``drain`` skips it: it is nobody's audio."""
        if self._epoll is not None:
            if self._timer_fd is not None:
                with contextlib.suppress(OSError):
                    self._epoll.unregister(self._timer_fd)
            if fd is not None:
                self._epoll.register(fd, select.EPOLLIN)
        self._timer_fd = fd

    async def serve(self, fd: int, member: InboundMember) -> None:
        """Poll ``fd`` for ``member`` until the member hands itself back (returns
        False from ``inbound_ready``; what it raised is raised here)."""
        if fd in self._members:
            raise trio.BusyResourceError(f"fd {fd} is already polled")
        if self._epoll is None:
            self._epoll = select.epoll()
            if self._timer_fd is not None:
                self._epoll.register(self._timer_fd, select.EPOLLIN)
        self._epoll.register(fd, select.EPOLLIN)
        self._members[fd] = _Entry(member, trio.lowlevel.current_task())
        self._changed()

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            self._drop(fd)  # at once: nothing of this call is handled after now
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def drain(self, until: float = math.inf, now: Callable[[], float] | None = None) -> bool:
        """Handle every member whose socket is readable now (never waits). With
        ``until`` and ``now``: stop once ``now()`` has reached ``until`` (after at least
        one member), so the clock can send a frame whose grid time has come; the members
        not yet handled stay readable for the next drain. True: it stopped early."""
        members, epoll = self._members, self._epoll
        if not members or epoll is None:
            return False
        ready = epoll.poll(0, len(members) + 1)  # + the clock's timer
        if ready and (len(ready) > 1 or ready[0][0] != self._timer_fd):
            self.drains += 1
        last = len(ready) - 1
        for i, (fd, _) in enumerate(ready):
            entry = members.get(fd)
            if entry is None:
                continue  # the timer, or a member that left since the poll
            self.polls += 1
            try:
                stay = entry.task.context.run(entry.member.inbound_ready)
            except Exception as exc:
                self._hand_back(fd, entry, outcome.Error(exc))
            else:
                if not stay:
                    self._hand_back(fd, entry, outcome.Value(None))
            if i < last and now is not None and now() >= until:
                self.cut_short += 1
                return True
        return False

    def close(self) -> None:
        """Let the epoll go (no members left; the next one makes a new one)."""
        if not self._members and self._epoll is not None:
            self._epoll.close()
            self._epoll = None

    def _drop(self, fd: int) -> None:
        self._members.pop(fd, None)
        if self._epoll is not None:
            with contextlib.suppress(OSError):  # already closed: the kernel dropped it
                self._epoll.unregister(fd)
        if not self._members:
            self._changed()

    def _hand_back(self, fd: int, entry: _Entry, result: outcome.Outcome[None]) -> None:
        self._drop(fd)
        trio.lowlevel.reschedule(entry.task, result)
