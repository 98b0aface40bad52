"""send_eagerly: a value goes without a trip round the run loop when the channel has
room, and waits as ``send`` does when it is full."""

from __future__ import annotations

import pytest
import trio

from agent.providers.channels import send_eagerly


async def test_with_room_the_sender_goes_on_without_yielding():
    send, receive = trio.open_memory_channel[int](2)
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        await send_eagerly(send, 1)
        await send_eagerly(send, 2)
        assert ran == []  # no schedule point: the other task has not run yet
        assert [receive.receive_nowait(), receive.receive_nowait()] == [1, 2]


async def test_a_full_channel_waits_for_the_receiver(autojump_clock):
    send, receive = trio.open_memory_channel[int](1)
    send.send_nowait(0)
    sent_at: list[float] = []

    async def sender() -> None:
        await send_eagerly(send, 1)
        sent_at.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        await trio.sleep(5)
        assert sent_at == []
        assert receive.receive_nowait() == 0
        await trio.sleep(0)
    assert sent_at == [5] and receive.receive_nowait() == 1


async def test_a_closed_receiver_is_an_error_as_with_send():
    send, receive = trio.open_memory_channel[int](1)
    await receive.aclose()
    with pytest.raises(trio.BrokenResourceError):
        await send_eagerly(send, 1)
