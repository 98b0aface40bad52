"""Passing a value on to the next task without a trip round the run loop for the sender.

A reply crosses several tasks between the model's socket and the caller's ear
(the model's reader, the turn, the voice's sender; the voice's reader, the turn,
the playout), one channel between each two. ``MemorySendChannel.send`` is a
schedule point even when the channel has room: the sending task goes to the back
of the run queue and is resumed one pass later, so every hop of every token and
every audio chunk cost two task steps (the receiver's and the sender's own), and a
load profile showed those steps to be most of what a call costs beyond its frames.

``send_eagerly`` puts the value in at once when there is room (the receiver is
woken as before) and only waits, as ``send`` does, when the channel is full. The
sender then reaches its next checkpoint at its next read from a socket or a
channel, which every sender here does within the same message; so a cancellation
(a barge-in) still stops it there, a step later at most.
"""

from __future__ import annotations

from typing import TypeVar

import trio

__all__ = ["send_eagerly"]

T = TypeVar("T")


async def send_eagerly(channel: trio.MemorySendChannel[T], value: T) -> None:
    """``channel.send(value)``, without yielding when the channel has room."""
    try:
        channel.send_nowait(value)
    except trio.WouldBlock:
        await channel.send(value)
