"""Deepgram's uplink sends a due message from where the caller's audio is handed
over, before ``push`` returns, when its sender is idle and the socket takes the
frame; otherwise the sender sends it, in order. Virtual time, a stand-in stream."""

from __future__ import annotations

import trio
import trio.testing

from agent.providers.stt.deepgram_settings import DeepgramSettings
from agent.providers.stt.deepgram_uplink import DeepgramUplink
from agent.providers.stt.deepgram_wire import FINALIZE, KEEPALIVE
from tests.providers.wire_stream import WireStream, messages_on, open_on_wire

FRAME = 320  # 20 ms at 8 kHz


def frame(n: int) -> bytes:
    return bytes([n % 256]) * FRAME


async def start(nursery: trio.Nursery, stream: WireStream) -> DeepgramUplink:
    """An uplink connected over ``stream``, its sender idle, the caller just paused
    and now inside the frame-by-frame part of the pause (every frame due)."""
    uplink = DeepgramUplink(DeepgramSettings(api_key="k"), 8000)
    uplink.connected()
    nursery.start_soon(uplink.send_loop, open_on_wire(stream), trio.CancelScope())
    uplink.pausing()
    await trio.sleep(0.3)  # past endpointing (400 ms) minus the lead (200 ms)
    return uplink


async def test_a_due_frame_leaves_inside_push_when_the_socket_takes_it(autojump_clock):
    stream = WireStream()
    async with trio.open_nursery() as nursery:
        uplink = await start(nursery, stream)
        for n in range(5):
            uplink.push(frame(n))
            # No await since the push: the frame is on the wire already.
            assert messages_on(stream.wire)[-1] == frame(n)
        assert uplink.audio_messages == 5
        assert uplink.ledger.unsent_bytes == 0
        nursery.cancel_scope.cancel()


async def test_what_the_socket_cannot_take_the_sender_sends_and_order_holds(autojump_clock):
    stream = WireStream(room=100)
    async with trio.open_nursery() as nursery:
        uplink = await start(nursery, stream)
        uplink.push(frame(1))  # 100 bytes of it go, the rest is owed
        assert messages_on(stream.wire) == []
        stream.room = float("inf")
        uplink.push(frame(2))  # kept behind the owed rest
        await trio.testing.wait_all_tasks_blocked()  # the sender flushes
        assert messages_on(stream.wire) == [frame(1), frame(2)]
        uplink.push(frame(3))
        assert messages_on(stream.wire)[-1] == frame(3)  # inline again
        nursery.cancel_scope.cancel()


async def test_audio_before_a_finalize_goes_through_the_sender_then_the_finalize(
    autojump_clock,
):
    stream = WireStream()
    async with trio.open_nursery() as nursery:
        uplink = await start(nursery, stream)
        uplink.push(frame(1))
        uplink.finalize()
        uplink.push(frame(2))  # after the Finalize's audio: not inline, not before it
        assert messages_on(stream.wire) == [frame(1)]
        await trio.testing.wait_all_tasks_blocked()
        assert messages_on(stream.wire) == [frame(1), FINALIZE, frame(2)]
        nursery.cancel_scope.cancel()


async def test_a_keepalive_is_timed_from_the_last_message_sent_inline(autojump_clock):
    stream = WireStream()
    keepalive_s = DeepgramSettings(api_key="k").keepalive_s
    async with trio.open_nursery() as nursery:
        uplink = await start(nursery, stream)
        uplink.push(frame(1))
        await trio.sleep(keepalive_s - 0.05)
        assert KEEPALIVE not in messages_on(stream.wire)
        await trio.sleep(0.1)
        assert messages_on(stream.wire) == [frame(1), KEEPALIVE]
        nursery.cancel_scope.cancel()
