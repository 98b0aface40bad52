"""send_eagerly and receive_eagerly: no trip round the run loop when the channel has
room (a value waiting), a wait as with send and receive when it is full (empty), and
a cancel point either way."""

from __future__ import annotations

import pytest
import trio

from agent.providers.channels import receive_eagerly, received_eagerly, send_eagerly


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


async def test_a_waiting_value_is_received_without_yielding():
    send, receive = trio.open_memory_channel[int](2)
    send.send_nowait(1)
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        assert await receive_eagerly(receive) == 1
        assert ran == []  # no schedule point
        send.send_nowait(2)
        send.close()
        assert await receive_eagerly(receive) == 2
        with pytest.raises(trio.EndOfChannel):
            await receive_eagerly(receive)


async def test_an_empty_channel_waits_for_the_sender(autojump_clock):
    send, receive = trio.open_memory_channel[int](1)

    async def later() -> None:
        await trio.sleep(3)
        send.send_nowait(7)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(later)
        assert await receive_eagerly(receive) == 7
        assert trio.current_time() == 3


async def test_both_are_still_cancel_points():
    """A cancelled task stops there (a barge-in), value waiting or room free."""
    send, receive = trio.open_memory_channel[int](2)
    send.send_nowait(1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await receive_eagerly(receive)
    assert scope.cancelled_caught and receive.receive_nowait() == 1  # not taken
    with trio.CancelScope() as scope:
        scope.cancel()
        await send_eagerly(send, 2)
    assert scope.cancelled_caught
    with pytest.raises(trio.WouldBlock):
        receive.receive_nowait()  # not sent


async def test_received_eagerly_iterates_to_the_channels_end():
    send, receive = trio.open_memory_channel[int](3)
    for value in (1, 2, 3):
        send.send_nowait(value)
    send.close()
    assert [value async for value in received_eagerly(receive)] == [1, 2, 3]
