"""The fakes' socket stamps (``tests.fakes.wiretime``), which the latency benchmark
subtracts as provider time: a message arrives when its bytes were read, and an
answer leaves when its first bytes reached the socket, beneath TLS; neither
moves with the work a fake does after the read or before the write."""

from __future__ import annotations

import time

import pytest
import trio
import trio_websocket

from tests.fakes.tls import LoopbackTLS
from tests.fakes.wiretime import (
    StampedStream,
    StampedTlsStream,
    arrival,
    open_stamped_listener,
    send_stamped,
    wire_of,
)


async def _pair(tls: LoopbackTLS | None):
    """A client stream to a stamped listener, and the server's side of it."""
    listener = await open_stamped_listener(None if tls is None else tls.server_context)
    client: trio.abc.Stream = await trio.open_tcp_stream("127.0.0.1", listener.port)
    if tls is not None:
        client = trio.SSLStream(client, tls.client_context(), server_hostname="127.0.0.1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.do_handshake if tls is not None else trio.lowlevel.checkpoint)
        server = await listener.accept()
        if tls is not None:
            await server.do_handshake()
    return listener, client, server


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "tls"])
async def test_arrival_is_the_read_and_departure_the_write_not_the_handlers_time(
    secure, autojump_clock, tmp_path
):
    tls = LoopbackTLS(tmp_path) if secure else None
    listener, client, server = await _pair(tls)
    wire = wire_of(server)
    assert isinstance(wire, StampedTlsStream if secure else StampedStream)

    await client.send_all(b"hello")
    assert await server.receive_some() == b"hello"
    read_at = trio.current_time()
    await trio.sleep(1.0)  # the fake's own work before it looks at the clock
    assert arrival(wire)[0] == read_at

    async def slow_send() -> None:
        await trio.sleep(2.0)  # encoding, framing, a lock: before the bytes go
        await server.send_all(b"answer")

    begun, begun_wall = trio.current_time(), time.time()
    left, left_wall = await send_stamped(slow_send, wire)
    assert left == begun + 2.0
    assert left_wall == pytest.approx(begun_wall + 2.0, abs=0.5)  # (the clock is virtual)
    assert await client.receive_some() == b"answer"
    for stream in (client, server):
        await trio.aclose_forcefully(stream)
    await listener.aclose()


async def test_a_websocket_request_finds_its_stamped_stream_over_tls(tmp_path):
    tls = LoopbackTLS(tmp_path)
    listener = await open_stamped_listener(tls.server_context)
    found: list[StampedStream | StampedTlsStream | None] = []

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        found.append(listener.stream_of(request.remote))
        ws = await request.accept()
        await ws.get_message()

    server = trio_websocket.WebSocketServer(handler, [listener])
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            url = f"wss://127.0.0.1:{listener.port}/"
            async with trio_websocket.open_websocket_url(url, tls.client_context()) as ws:
                await ws.send_message("hi")
            nursery.cancel_scope.cancel()
    (wire,) = found
    assert isinstance(wire, StampedTlsStream) and wire.received_at is not None
