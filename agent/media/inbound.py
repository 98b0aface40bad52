"""Caller audio in for every call of a process, from one task.

A reader task per call waking for each caller frame costs, per frame per call, a
trip through the scheduler and two epoll calls (Trio re-arms a one-shot
registration at every wait). Here the calls' sockets sit in one epoll of our own
(level-triggered, registered once per stretch of audio), and one task waits for
it: when it is readable, every call with data reads it with one non-blocking read
and runs its frame path inline (decode, VAD, the brain's hooks, the STT feed),
however many calls were ready together. A frame is handled as soon as it arrives,
as before: nothing waits for a tick.

Only caller audio at the call's rate takes this path. Anything else (a DTMF, a
hang-up or error message, the caller's EOF, a malformed message, audio beyond the
flood budget, an exception from a hook) hands the call back to its own reader
task, which handles it as it always has and then asks to be polled again.

A member leaves the poll at once when its reader task is cancelled (the abort of
its wait), so no frame of a call that is ending is handled after it ended.
Inline work runs in the reader task's own context (``contextvars``), so a log
line from a hook still carries the call's UUID.

Like the media clock, the task runs in the nursery given to it only while it has
members: it never keeps a draining server alive.
"""

from __future__ import annotations

import contextlib
import select
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
    """Polls the sockets of every member in one epoll; one task handles all of them."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._epoll: select.epoll | None = None
        self._members: dict[int, _Entry] = {}
        self._sleep: trio.CancelScope | None = None
        self._running = False
        self.wakeups = 0  # the task woke with something to read
        self.polls = 0  # members' reads (more than wakeups: calls ready together)

    @property
    def members(self) -> int:
        return len(self._members)

    async def serve(self, fd: int, member: InboundMember) -> None:
        """Poll ``fd`` for ``member`` until the member hands itself back (returns
        False from ``inbound_ready``; what it raised is raised here)."""
        if fd in self._members:
            raise trio.BusyResourceError(f"fd {fd} is already polled")
        if self._epoll is None:
            self._epoll = select.epoll()
        self._epoll.register(fd, select.EPOLLIN)
        self._members[fd] = _Entry(member, trio.lowlevel.current_task())
        if not self._running:
            self._running = True
            self._nursery.start_soon(self._run)

        def abort(_: trio.lowlevel.RaiseCancelT) -> trio.lowlevel.Abort:
            self._drop(fd)  # at once: nothing of this call is handled after now
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _drop(self, fd: int) -> None:
        self._members.pop(fd, None)
        if self._epoll is not None:
            with contextlib.suppress(OSError):  # already closed: the kernel dropped it
                self._epoll.unregister(fd)
        if not self._members and self._sleep is not None:
            self._sleep.cancel()  # the task ends: nothing left to poll

    async def _run(self) -> None:
        members = self._members
        try:
            while members:
                epoll = self._epoll
                assert epoll is not None
                with trio.CancelScope() as scope:
                    self._sleep = scope
                    await trio.lowlevel.wait_readable(epoll.fileno())
                self._sleep = None
                if not members:
                    break
                self.wakeups += 1
                for fd, _ in epoll.poll(0, len(members)):
                    entry = members.get(fd)
                    if entry is None:
                        continue  # left since the poll
                    self.polls += 1
                    try:
                        stay = entry.task.context.run(entry.member.inbound_ready)
                    except Exception as exc:
                        self._hand_back(fd, entry, outcome.Error(exc))
                        continue
                    if not stay:
                        self._hand_back(fd, entry, outcome.Value(None))
        finally:
            self._sleep = None
            self._running = False
            if not members and self._epoll is not None:
                self._epoll.close()
                self._epoll = None

    def _hand_back(self, fd: int, entry: _Entry, result: outcome.Outcome[None]) -> None:
        self._drop(fd)
        trio.lowlevel.reschedule(entry.task, result)
