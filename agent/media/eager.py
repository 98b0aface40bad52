"""Taking a Trio lock without a trip round the run loop when nobody holds it.

``trio.Lock.acquire`` is a schedule point even when the lock is free: the task
goes to the back of the run queue and resumes a pass later. The senders that
keep their writes in order under a lock (the AudioSocket stream, the providers'
WebSockets) take it once per message, and nearly always find it free; their
stream's send is then the cancel point.
"""

from __future__ import annotations

import trio

__all__ = ["acquire_eagerly"]


async def acquire_eagerly(lock: trio.Lock) -> None:
    """``await lock.acquire()``, without yielding when the lock is free."""
    try:
        lock.acquire_nowait()
    except trio.WouldBlock:
        await lock.acquire()
