"""Where a playout's frames go: sent at once when they can be, else awaiting.

``agent.media.stream.AudioSink`` is a call's (a non-blocking send on its TCP
socket); ``AwaitingSink`` wraps a plain async send (tests, in-memory peers), so
every frame takes the awaiting path.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class FrameSink(Protocol):
    """Where the frames go (``agent.media.stream.AudioSink`` for a call)."""

    def send_nowait(self, frame: bytes) -> bool:
        """Send ``frame`` now if it can go whole without waiting; False: what is left
        of it is kept, in order, for ``flush``, which must run before the next send."""

    async def flush(self) -> None:
        """Send, awaiting, what ``send_nowait`` kept."""


class AwaitingSink:
    """A sink that only has an awaiting send: every frame takes the fallback path."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        self._send = send
        self._kept: collections.deque[bytes] = collections.deque()

    def send_nowait(self, frame: bytes) -> bool:
        self._kept.append(frame)
        return False

    async def flush(self) -> None:
        while self._kept:
            await self._send(self._kept.popleft())
