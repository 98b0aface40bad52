"""Passing values between a reply's tasks without a trip round the run loop each time.

A reply crosses several tasks between the model's socket and the caller's ear
(the model's reader, the turn, the voice's sender; the voice's reader, the turn,
the playout), one channel between each two. ``MemorySendChannel.send`` is a
schedule point even when the channel has room, and ``receive`` even when a value
is waiting: the task goes to the back of the run queue and is resumed one pass
later. So every hop of every token and every audio chunk cost the sender a task
step of its own, and so did every value a receiver found already queued; a load
profile showed those steps to be most of what a call costs beyond its frames.

``send_eagerly`` and ``receive_eagerly`` are the same calls without that schedule
point when they need not wait: they are still cancel points (a cancelled task
raises ``Cancelled`` there, as with ``send`` and ``receive``, so a barge-in
stops a sender or a receiver at once), and they wait as before when the channel
is full or empty. Each task here reaches a real schedule point at its next read
from a socket or an empty channel.

Closing is the same: ``aclose`` (what ``async with channel:`` runs on the way out)
is a schedule point, and a reply closes about a dozen channels (the turn's, the
model's, the voice's, each attempt's view of them), so a reply's tasks close
theirs with a plain ``with``: memory channels and the fallback chains' attempt
channels close at once, no trip round the run loop.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import trio
from trio.lowlevel import checkpoint_if_cancelled

__all__ = ["receive_eagerly", "received_eagerly", "send_eagerly"]

T = TypeVar("T")


async def send_eagerly(channel: trio.MemorySendChannel[T], value: T) -> None:
    """``channel.send(value)``, without yielding when the channel has room."""
    await checkpoint_if_cancelled()
    try:
        channel.send_nowait(value)
    except trio.WouldBlock:
        await channel.send(value)


async def receive_eagerly(channel: trio.MemoryReceiveChannel[T]) -> T:
    """``channel.receive()``, without yielding when a value is waiting."""
    await checkpoint_if_cancelled()
    try:
        return channel.receive_nowait()
    except trio.WouldBlock:
        return await channel.receive()


class received_eagerly(Generic[T]):  # (lower case: read as a call, "async for x in ...")
    """``async for value in received_eagerly(channel)``: each value by
    ``receive_eagerly``, until the channel ends (no async generator: nothing to
    finalise)."""

    __slots__ = ("_channel",)

    def __init__(self, channel: trio.MemoryReceiveChannel[T]) -> None:
        self._channel = channel

    def __aiter__(self) -> received_eagerly[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await receive_eagerly(self._channel)
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
