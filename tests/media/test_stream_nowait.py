"""Frames sent without waiting on a real socket pair: whole, or kept in order for flush."""

from __future__ import annotations

import contextlib
import socket
import uuid

import pytest
import trio
import trio.testing

from agent.media.stream import AudioSink, AudioSocketStream
from agent.wire.audiosocket import Audio, Connection, Identify, Role

CALL_ID = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")


def frame(k: int) -> bytes:
    return k.to_bytes(4, "little") * 80  # 320 bytes, numbered


@contextlib.asynccontextmanager
async def pair(*, small_buffers: bool = False):
    """Our server stream and Asterisk's raw socket, identified."""
    ours, theirs = trio.socket.socketpair()
    if small_buffers:
        for sock in (ours, theirs):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server = AudioSocketStream(trio.SocketStream(ours), Role.SERVER)
    peer = trio.SocketStream(theirs)
    asterisk = Connection(Role.CLIENT)
    await peer.send_all(asterisk.send(Identify(CALL_ID)))
    assert await server.receive_event() == Identify(CALL_ID)
    try:
        yield server, peer, asterisk
    finally:
        await server.aclose()
        await peer.aclose()


async def received_frames(peer: trio.SocketStream, asterisk: Connection, count: int) -> list:
    frames = []
    while len(frames) < count:
        asterisk.receive_data(await peer.receive_some(65536))
        while isinstance(event := asterisk.next_event(), Audio):
            frames.append(event.pcm)
    return frames


async def test_a_socket_with_room_takes_each_frame_whole():
    async with pair() as (server, peer, asterisk):
        assert all(server.send_audio_nowait(frame(k)) for k in range(20))
        assert server.bytes_sent == 20 * 323
        assert await received_frames(peer, asterisk, 20) == [frame(k) for k in range(20)]


async def test_a_full_socket_keeps_the_rest_in_order_for_flush():
    async with pair(small_buffers=True) as (server, peer, asterisk):
        sent = 0
        while server.send_audio_nowait(frame(sent)):
            sent += 1
        # The frame the socket could not take whole, and every one after it, wait
        # for flush (a later frame never overtakes the kept part of an earlier one).
        assert not server.send_audio_nowait(frame(sent + 1))
        total = sent + 2
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.flush)
            frames = await received_frames(peer, asterisk, total)
        assert frames == [frame(k) for k in range(total)]
        assert server.bytes_sent == total * 323
        assert server.send_audio_nowait(frame(total))  # drained: the fast path again


async def test_an_in_memory_stream_always_takes_the_awaiting_path():
    ours, theirs = trio.testing.memory_stream_pair()
    server = AudioSocketStream(ours, Role.SERVER)
    await theirs.send_all(Connection(Role.CLIENT).send(Identify(CALL_ID)))
    await server.receive_event()
    assert not server.send_audio_nowait(frame(1))
    assert not server.send_audio_nowait(frame(2))
    await server.flush()
    data = await theirs.receive_some(65536)
    assert data == b"\x10\x01\x40" + frame(1) + b"\x10\x01\x40" + frame(2)


async def test_a_send_after_the_peer_left_is_dropped():
    async with pair() as (server, peer, _):
        sink = AudioSink(server, 8000)
        await peer.aclose()
        assert await server.receive_event() is None  # the caller hung up
        assert sink.send_nowait(frame(1))  # nobody to send to: dropped, not an error
        await sink.flush()


async def test_a_send_on_a_closed_stream_says_so():
    async with pair() as (server, _, _):
        await server.aclose()
        with pytest.raises(trio.ClosedResourceError):
            server.send_audio_nowait(frame(2))
