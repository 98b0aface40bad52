"""When bytes really cross a fake's socket: the stamps the benchmarks subtract.

The fakes time each provider stage from a message's arrival to the answer's
departure, and the benchmarks book the rest of the mouth-to-ear time to the
agent. Stamps taken in a fake's handler are off on both ends, and both ways
against the agent: a message reaches the handler only after the fake's own
reader task has read, decrypted and parsed it, and an answer stamped before
``send_message`` still has the fake's encoding, framing, encryption and the
library's lock (a schedule point) ahead of it. So the fakes serve through
``StampedListener``, whose streams note when a read returned data and when a
write reached the socket, beneath TLS:

* ``received_at``: when the latest read returned bytes. A handler that just got
  a message takes it as the message's arrival (late only if another message of
  the same connection was read since, which errs on the agent's side);
* ``mark()`` before a send, then ``sent_at``: when the first write after the
  mark reached the socket (trio's socket send makes its syscall before it
  yields), which is when the message's first bytes left.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable

import trio
from trio_websocket import Endpoint


class StampedStream(trio.abc.HalfCloseableStream):
    """A TCP stream (``trio.SocketStream``) that notes when bytes cross it."""

    def __init__(self, inner: trio.SocketStream) -> None:
        self.inner = inner
        self.socket = inner.socket  # (trio-websocket reads the peer's address from it)
        self.peer = inner.socket.getpeername()[:2]
        self.received_at: float | None = None
        self.sent_at: float | None = None
        self._marked = False

    def mark(self) -> None:
        """Stamp the next write (``sent_at``)."""
        self._marked = True
        self.sent_at = None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._marked:
            self._marked = False
            self.sent_at = trio.current_time()
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        data = await self.inner.receive_some(max_bytes)
        if data:
            self.received_at = trio.current_time()
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        host, port = self.peer
        return f"StampedStream(peer={host}:{port})"


class StampedListener(trio.abc.Listener[trio.abc.Stream]):
    """Accepts TCP connections as ``StampedStream``, with TLS over them when given a
    context (the stamps stay beneath it); ``stream_of`` finds one by its peer.

    (Not a ``trio.SSLListener`` over a wrapped listener: trio-websocket's server
    insists that one holds a ``trio.SocketListener``, and trio's are final.)"""

    def __init__(self, inner: trio.SocketListener, ssl_context: ssl.SSLContext | None) -> None:
        self.inner = inner
        self.ssl_context = ssl_context
        self._streams: dict[tuple[str, int], StampedStream] = {}

    @property
    def port(self) -> int:
        return self.inner.socket.getsockname()[1]

    async def accept(self) -> trio.abc.Stream:
        stream = StampedStream(await self.inner.accept())
        live = {peer: s for peer, s in self._streams.items() if s.socket.fileno() >= 0}
        self._streams = live
        live[stream.peer] = stream
        if self.ssl_context is None:
            return stream
        return trio.SSLStream(stream, self.ssl_context, server_side=True, https_compatible=True)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def stream_of(self, remote: Endpoint | str) -> StampedStream | None:
        """The stream a trio-websocket request came in on, by its ``remote`` (an
        ``Endpoint`` over TLS; the stream's repr without)."""
        if isinstance(remote, Endpoint):
            return self._streams.get((str(remote.address), remote.port))
        return next((s for s in self._streams.values() if repr(s) == remote), None)


def wire_of(stream: trio.abc.Stream) -> StampedStream | None:
    """The stamped TCP stream beneath ``stream`` (itself, or under TLS), if any."""
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    return stream if isinstance(stream, StampedStream) else None


async def open_stamped_listener(ssl_context: ssl.SSLContext | None) -> StampedListener:
    """A listener on 127.0.0.1, on a port of the kernel's choosing."""
    (tcp,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    return StampedListener(tcp, ssl_context)


def arrival(wire: StampedStream | None) -> tuple[float, float]:
    """When the message a handler just got reached the socket: (trio time, wall
    clock). Without a stamped stream, now."""
    now, wall = trio.current_time(), time.time()
    at = wire.received_at if wire is not None and wire.received_at is not None else now
    return at, wall - (now - at)


async def send_stamped(
    send: Callable[[], Awaitable[object]], wire: StampedStream | None
) -> tuple[float, float]:
    """Await ``send()`` (one message out); when its first bytes reached the socket:
    (trio time, wall clock). Without a stamped stream, as the send began."""
    before, wall_before = trio.current_time(), time.time()
    if wire is not None:
        wire.mark()
    await send()
    at = wire.sent_at if wire is not None and wire.sent_at is not None else before
    return at, wall_before + (at - before)
