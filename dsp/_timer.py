"""The pacer's wake-up timer: the Python face of csrc/pacetimer.c (Linux timerfd).

An event loop's own timeouts are whole milliseconds (epoll_wait), so a sender
sleeping until a frame is due wakes up to a millisecond late. This timer is a
descriptor that becomes readable when it fires, within the kernel's timer slack
(~50 us): wait for it to be readable instead of sleeping.
"""

from __future__ import annotations

import os

from dsp._voicecore import lib

_timer_arm = lib.pacer_timer_arm


class WakeTimer:
    """A one-shot timer as a readable descriptor; ``arm(after_s)`` sets it, ``disarm()``
    stops it, and either clears an expiry nobody read. ``open()`` returns None
    where the system has no such timer (the caller keeps its loop's timeouts)."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def open(cls) -> WakeTimer | None:
        fd = lib.pacer_timer_open()
        return cls(fd) if fd >= 0 else None

    def fileno(self) -> int:
        return self._fd

    def arm(self, after_s: float) -> None:
        """Fire once, ``after_s`` seconds from now (<= 0: at once)."""
        _check(_timer_arm(self._fd, int(after_s * 1e9)))

    def disarm(self) -> None:
        _check(lib.pacer_timer_disarm(self._fd))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __repr__(self) -> str:
        return f"<WakeTimer fd={self._fd}>"


def _check(result: int) -> None:
    if result < 0:
        raise OSError(-result, os.strerror(-result))
