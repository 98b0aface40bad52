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

Over TLS the fakes serve as the agent's clients connect: on the stdlib's
``ssl.SSLSocket``, which reads and writes the socket itself (``StampedTlsStream``,
a server-side ``TlsSocketStream``). Trio's ``SSLStream`` (a Python state machine
round ``ssl.MemoryBIO``) made the fakes nearly as heavy as the agent at a hundred
load calls, on the same two cores. The stamps are then taken round OpenSSL's
calls: a read's once it returned the decrypted bytes, a write's as it begins
(encrypting a record and writing it take microseconds).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable

import trio
from trio_websocket import Endpoint

from agent.providers.tls_stream import TlsSocketStream, drive_handshake, take_tls_socket


class _Stamps:
    """``received_at``, and ``sent_at`` after a ``mark()``."""

    received_at: float | None = None
    sent_at: float | None = None
    _marked = False

    def mark(self) -> None:
        """Stamp the next write (``sent_at``)."""
        self._marked = True
        self.sent_at = None

    def _writing(self) -> None:
        """A write begins: the marked one's time is ``sent_at``."""
        if self._marked:
            self._marked = False
            self.sent_at = trio.current_time()

    def _read(self, data: bytes) -> bytes:
        """A read returned ``data``: its time is ``received_at`` unless it is EOF."""
        if data:
            self.received_at = trio.current_time()
        return data


class StampedStream(_Stamps, trio.abc.HalfCloseableStream):
    """A TCP stream (``trio.SocketStream``) that notes when bytes cross it."""

    def __init__(self, inner: trio.SocketStream) -> None:
        self.inner = inner
        self.socket = inner.socket  # (trio-websocket reads the peer's address from it)
        self.peer = inner.socket.getpeername()[:2]

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self._writing()
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return self._read(await self.inner.receive_some(max_bytes))

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        host, port = self.peer
        return f"StampedStream(peer={host}:{port})"


class StampedTlsStream(_Stamps, TlsSocketStream):
    """The server's side of a TLS connection on an ``ssl.SSLSocket``, stamped round
    OpenSSL's reads and writes; the handshake happens at the first read or write
    (in the connection's own task, so a client that stalls in it holds no other)."""

    def __init__(self, tcp: trio.SocketStream, context: ssl.SSLContext) -> None:
        self.peer = tcp.socket.getpeername()[:2]
        sock = take_tls_socket(tcp, context, server_side=True)
        host, port = self.peer
        super().__init__(sock, f"{host}:{port}")
        self._handshaken = False

    async def do_handshake(self) -> None:
        if self._handshaken:
            return
        try:
            await drive_handshake(self.ssl_object)
        except OSError as exc:  # ssl.SSLError included
            raise trio.BrokenResourceError(f"TLS handshake with {self!r}: {exc}") from exc
        self._handshaken = True

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.do_handshake()
        self._writing()
        await super().send_all(data)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await self.do_handshake()
        return self._read(await super().receive_some(max_bytes))

    def __repr__(self) -> str:
        host, port = self.peer
        return f"StampedTlsStream(peer={host}:{port})"


class StampedListener(trio.abc.Listener[trio.abc.Stream]):
    """Accepts TCP connections as ``StampedStream``, or as ``StampedTlsStream`` when
    given a context; ``stream_of`` finds one by its peer.

    (Not a ``trio.SSLListener`` over a wrapped listener: trio-websocket's server
    insists that one holds a ``trio.SocketListener``, and trio's are final.)"""

    def __init__(self, inner: trio.SocketListener, ssl_context: ssl.SSLContext | None) -> None:
        self.inner = inner
        self.ssl_context = ssl_context
        self._streams: dict[tuple[str, int], StampedStream | StampedTlsStream] = {}

    @property
    def port(self) -> int:
        return self.inner.socket.getsockname()[1]

    async def accept(self) -> trio.abc.Stream:
        tcp = await self.inner.accept()
        stream: StampedStream | StampedTlsStream
        if self.ssl_context is None:
            stream = StampedStream(tcp)
        else:
            stream = StampedTlsStream(tcp, self.ssl_context)
        live = {peer: s for peer, s in self._streams.items() if _open(s)}
        self._streams = live
        live[stream.peer] = stream
        return stream

    async def aclose(self) -> None:
        await self.inner.aclose()

    def stream_of(self, remote: Endpoint | str) -> StampedStream | StampedTlsStream | None:
        """The stream a trio-websocket request came in on, by its ``remote`` (an
        ``Endpoint`` over TLS; the stream's repr without)."""
        if isinstance(remote, Endpoint):
            return self._streams.get((str(remote.address), remote.port))
        return next((s for s in self._streams.values() if repr(s) == remote), None)


def _open(stream: StampedStream | StampedTlsStream) -> bool:
    if isinstance(stream, StampedStream):
        return stream.socket.fileno() >= 0
    return stream.ssl_object.fileno() >= 0


def wire_of(stream: trio.abc.Stream) -> StampedStream | StampedTlsStream | None:
    """``stream``'s stamps, if it has them."""
    return stream if isinstance(stream, (StampedStream, StampedTlsStream)) else None


async def open_stamped_listener(ssl_context: ssl.SSLContext | None) -> StampedListener:
    """A listener on 127.0.0.1, on a port of the kernel's choosing."""
    (tcp,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    return StampedListener(tcp, ssl_context)


def arrival(wire: _Stamps | None) -> tuple[float, float]:
    """When the message a handler just got reached the socket: (trio time, wall
    clock). Without a stamped stream, now."""
    now, wall = trio.current_time(), time.time()
    at = wire.received_at if wire is not None and wire.received_at is not None else now
    return at, wall - (now - at)


async def send_stamped(
    send: Callable[[], Awaitable[object]], wire: _Stamps | None
) -> tuple[float, float]:
    """Await ``send()`` (one message out); when its first bytes reached the socket:
    (trio time, wall clock). Without a stamped stream, as the send began."""
    before, wall_before = trio.current_time(), time.time()
    if wire is not None:
        wire.mark()
    await send()
    at = wire.sent_at if wire is not None and wire.sent_at is not None else before
    return at, wall_before + (at - before)
