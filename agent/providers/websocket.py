"""A lean client WebSocket for the providers' sessions: wsproto over one stream.

trio-websocket runs every connection with a reader task that hands each message
through a channel, and takes a Trio lock (a trip round the scheduler) for every
send. Deepgram's uplink sends a message every 20-240 ms per call and reads its
results, so that is several task steps per message, thousands a second across
a hundred calls. Here the session's own receiving task reads the socket and
parses in place, a send that finds the socket free goes without a schedule
point, and ``send_nowait`` sends from synchronous code (the caller's audio, as
it is read) when the socket can take the frame at once.

The exceptions are trio-websocket's (``ConnectionClosed`` with its
``CloseReason``, ``ConnectionRejected``, ``HandshakeError``), so a session reads
the same whichever client it runs on. What it does on the wire is RFC 6455 as
wsproto implements it: masked client frames, pings answered, the close
handshake, messages over ``max_message_bytes`` refused with 1009.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable, Sequence

import numpy
import trio
from trio_websocket import CloseReason, ConnectionClosed, ConnectionRejected, HandshakeError
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from agent.base.errors import ProviderConnectError, ProviderStatusError, ProviderTimeout
from agent.media.eager import acquire_eagerly

__all__ = ["MAX_MESSAGE_BYTES", "WebSocket", "open_provider_websocket"]

MAX_MESSAGE_BYTES = 1 << 20  # as trio-websocket's default
_ABNORMAL = 1006  # no close frame: the connection just ended (RFC 6455 7.1.5)
_TOO_BIG = 1009
_REJECT_BODY_BYTES = 65536  # of a refused handshake's answer, at most
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


async def open_provider_websocket(
    provider: str,
    stream: trio.abc.Stream,
    host: str,
    resource: str,
    *,
    headers: Sequence[tuple[bytes, bytes]],
    timeout: float,
    on_reject: Callable[[int, Sequence[tuple[bytes, bytes]], bytes | None], ProviderStatusError],
) -> WebSocket:
    """The opening handshake on ``stream`` (``open_provider_stream``'s), every failure
    turned into the agent's error tree once: what ``on_reject`` makes of a refusal
    (the vendor's status mapping), ``ProviderTimeout``, or a retryable
    ``ProviderConnectError``. The stream stays the caller's to close."""
    try:
        with trio.fail_after(timeout):
            return await WebSocket.connect(stream, host, resource, extra_headers=headers)
    except ConnectionRejected as exc:
        raise on_reject(exc.status_code, exc.headers, exc.body) from exc
    except trio.TooSlowError as exc:
        raise ProviderTimeout(provider, "WebSocket handshake timed out") from exc
    except (HandshakeError, OSError, trio.BrokenResourceError) as exc:
        raise ProviderConnectError(
            provider, f"WebSocket handshake failed: {exc}", retryable=True
        ) from exc


def client_frame(message: bytes | str, mask: bytes) -> bytes:
    """One whole data message as a masked client frame (RFC 6455 5.2): text for a
    str, binary for bytes. wsproto's encoder does the same in several times the
    Python calls, and Deepgram's uplink sends one per frame of caller audio around
    a pause; control frames (close, pong) still go through wsproto."""
    if isinstance(message, str):
        payload, opcode = message.encode(), 0x81  # FIN + text
    else:
        payload, opcode = bytes(message), 0x82  # FIN + binary
    size = len(payload)
    if size < 126:
        header = bytes((opcode, 0x80 | size))
    elif size < 65536:
        header = _HEADER_16.pack(opcode, 0x80 | 126, size)
    else:
        header = _HEADER_64.pack(opcode, 0x80 | 127, size)
    if size < 64:  # (KeepAlive, Finalize): as one big integer
        keys = (mask * (size // 4 + 1))[:size]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(
            size, "big"
        )
        return header + mask + masked
    # Audio: four bytes at a time in numpy, the tail (under four bytes) by hand.
    whole = size // 4 * 4
    words = numpy.frombuffer(payload, dtype=numpy.uint32, count=size // 4)
    masked = (words ^ numpy.frombuffer(mask, dtype=numpy.uint32)[0]).tobytes()
    if whole < size:
        masked += bytes(b ^ k for b, k in zip(payload[whole:], mask, strict=False))
    return header + mask + masked


class _MaskKeys:
    """Masking keys from the system's strong randomness (RFC 6455 10.3), fetched in
    blocks: one getrandom call per 1 024 frames instead of one per frame."""

    __slots__ = ("_at", "_block")

    def __init__(self) -> None:
        self._block = b""
        self._at = 0

    def next(self) -> bytes:
        at = self._at
        if at >= len(self._block):
            self._block, at = os.urandom(4096), 0
        self._at = at + 4
        return self._block[at : at + 4]


class WebSocket:
    """A client WebSocket on ``stream``, open once ``connect`` returns.

    One task receives (``get_message``), any task sends (``send_message``,
    ``send_nowait``); sends keep their order on the wire. ``stream`` is used as a
    Trio stream; when it has ``send_nowait(data) -> bool`` (``TlsSocketStream``),
    so does this WebSocket, else ``send_nowait`` keeps every frame for ``flush``.
    """

    def __init__(self, stream: trio.abc.Stream, conn: Connection, max_message_bytes: int) -> None:
        self._stream = stream
        self._conn = conn
        self._max = max_message_bytes
        self._send_lock = trio.Lock()
        self._mask_keys = _MaskKeys()
        self._stream_send_nowait = getattr(stream, "send_nowait", None)
        # Frames encoded but not yet written (``send_nowait`` found the stream busy):
        # they go first with the next send. ``_owes``: these, or the stream's own
        # rest of a frame it could not write whole.
        self._owed = b""
        self._owes = False
        self._parts: list[bytes | str] = []
        self._size = 0
        self._receiving = False
        self._close_reason: CloseReason | None = None
        self._peer_closed = trio.Event()  # the server's close frame, or the stream's end

    @classmethod
    async def connect(
        cls,
        stream: trio.abc.Stream,
        host: str,
        resource: str,
        *,
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> WebSocket:
        """Run the opening handshake on ``stream`` (``host``: the Host header).

        Raises ``ConnectionRejected`` (status, headers and body of the server's
        answer) or ``HandshakeError`` (the stream ended or the answer was not
        HTTP); a broken stream raises as the stream does. The stream stays the
        caller's to close.
        """
        ws = WSConnection(ConnectionType.CLIENT)
        request = Request(host=host, target=resource, extra_headers=list(extra_headers))
        await stream.send_all(ws.send(request))
        status, headers, body = 0, (), bytearray()
        while True:
            try:
                for event in ws.events():
                    if isinstance(event, AcceptConnection):
                        assert ws.connection is not None
                        return cls(stream, ws.connection, max_message_bytes)
                    if isinstance(event, RejectConnection):
                        status, headers = event.status_code, tuple(event.headers)
                        if not event.has_body:
                            raise ConnectionRejected(status, headers, body=None)
                    elif isinstance(event, RejectData):
                        body += event.data
                        if event.body_finished or len(body) >= _REJECT_BODY_BYTES:
                            # (a refusal's reason is short; an endless one is cut here)
                            raise ConnectionRejected(
                                status, headers, body=bytes(body[:_REJECT_BODY_BYTES])
                            )
                data = await stream.receive_some()
                if not data:
                    raise HandshakeError("the server closed the connection during the handshake")
                ws.receive_data(data)
            except RemoteProtocolError as exc:
                raise HandshakeError(f"the server's handshake answer is not valid: {exc}") from exc

    @property
    def closed(self) -> CloseReason | None:
        """Why the WebSocket closed (None while open)."""
        return self._close_reason

    @property
    def owes(self) -> bool:
        """Frames ``send_nowait`` kept wait for ``flush`` (or the next send)."""
        return self._owes

    # --- sending ---------------------------------------------------------------

    def send_nowait(self, message: bytes | str) -> bool:
        """Send ``message`` from synchronous code. True: the stream took all of it.
        False: it is kept, whole or in part, and goes before anything sent later;
        ``flush`` must be awaited for it to go at all. Raises ``ConnectionClosed``."""
        frame = self._encode(message)
        send = self._stream_send_nowait
        if send is None or self._owes or self._send_lock.locked():
            self._owed += frame
            self._owes = True
            return False
        try:
            # What the stream could not write, it keeps for its next send_all.
            self._owes = not send(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._lost(exc) from exc
        return not self._owes

    async def flush(self) -> None:
        """Send what ``send_nowait`` kept (nothing kept: only a cancel point)."""
        await self._send(b"")

    async def send_message(self, message: bytes | str) -> None:
        """Send one message (a str as a text message); raises ``ConnectionClosed``."""
        await self._send(self._encode(message))

    def _encode(self, message: bytes | str) -> bytes:
        if self._close_reason is not None or self._conn.state is not ConnectionState.OPEN:
            raise ConnectionClosed(self._close_reason or CloseReason(_ABNORMAL, "not open"))
        return client_frame(message, self._mask_keys.next())

    async def _send(self, data: bytes) -> None:
        lock = self._send_lock
        await acquire_eagerly(lock)  # (nobody else sending: the stream's send is the cancel point)
        try:
            data, self._owed = self._owed + data, b""
            await self._stream.send_all(data)  # the stream's own rest goes first
            self._owes = bool(self._owed)  # kept by send_nowait while this one waited
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._lost(exc) from exc
        finally:
            lock.release()

    def _lost(self, exc: BaseException) -> ConnectionClosed:
        if self._close_reason is None:
            self._close_reason = CloseReason(_ABNORMAL, f"the connection broke: {exc}")
        self._peer_closed.set()
        return ConnectionClosed(self._close_reason)

    # --- receiving -------------------------------------------------------------

    async def get_message(self) -> bytes | str:
        """The next whole message. Answers pings and the server's close on the way;
        raises ``ConnectionClosed`` once the WebSocket is closed (the server's close
        frame, a protocol error, an oversized message, or the stream's end)."""
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this WebSocket")
        self._receiving = True
        try:
            while True:
                message = await self._next_message()
                if message is not None:
                    return message
                if self._close_reason is not None:
                    raise ConnectionClosed(self._close_reason)
                await self._receive()
        finally:
            self._receiving = False

    async def _next_message(self) -> bytes | str | None:
        """Handle the events parsed so far; the first whole message, or None."""
        conn = self._conn
        for event in conn.events():
            kind = type(event)
            if kind is BytesMessage or kind is TextMessage:
                assert isinstance(event, (BytesMessage, TextMessage))
                self._size += len(event.data)
                self._parts.append(event.data)
                if self._size > self._max:
                    await self._refuse_oversized()
                    return None
                if event.message_finished:
                    parts, self._parts, self._size = self._parts, [], 0
                    if kind is BytesMessage:
                        return parts[0] if len(parts) == 1 else b"".join(parts)  # type: ignore[arg-type]
                    return parts[0] if len(parts) == 1 else "".join(parts)  # type: ignore[arg-type]
            elif kind is Ping:
                assert isinstance(event, Ping)
                if conn.state is ConnectionState.OPEN:
                    await self._send_quietly(conn.send(event.response()))
            elif kind is CloseConnection:
                assert isinstance(event, CloseConnection)
                await self._peer_closing(event)
                return None
        return None

    async def _receive(self) -> None:
        try:
            data = await self._stream.receive_some()
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            data, broke = b"", exc
        else:
            broke = None
        if not data:
            reason = "the connection ended without a close frame"
            if broke is not None:
                reason = f"the connection broke: {broke}"
            if self._close_reason is None:
                self._close_reason = CloseReason(_ABNORMAL, reason)
            self._peer_closed.set()
            return
        self._conn.receive_data(data)

    async def _peer_closing(self, event: CloseConnection) -> None:
        """The server's close frame, or wsproto's for a frame it could not parse."""
        conn = self._conn
        if self._close_reason is None:
            self._close_reason = CloseReason(event.code, event.reason or None)
        if conn.state is ConnectionState.REMOTE_CLOSING:
            await self._send_quietly(conn.send(event.response()))
        elif conn.state is ConnectionState.OPEN:
            # A protocol error on the server's side: tell it why, then it is over.
            await self._send_quietly(conn.send(CloseConnection(code=event.code)))
        self._peer_closed.set()

    async def _refuse_oversized(self) -> None:
        reason = f"a message over {self._max} bytes"
        self._parts, self._size = [], 0
        self._close_reason = CloseReason(_TOO_BIG, reason)
        if self._conn.state is ConnectionState.OPEN:
            await self._send_quietly(self._conn.send(CloseConnection(_TOO_BIG, reason)))

    async def _send_quietly(self, data: bytes) -> None:
        """A control frame: if the stream broke meanwhile, receiving will find out."""
        with contextlib.suppress(ConnectionClosed):
            await self._send(data)

    # --- closing ---------------------------------------------------------------

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Send a close frame if none went yet, wait for the server's (reading the
        socket unless another task is receiving), then close the stream. A cancel
        or a timeout around it still closes the stream."""
        try:
            if self._close_reason is None and self._conn.state is ConnectionState.OPEN:
                self._close_reason = CloseReason(code, reason)
                with contextlib.suppress(ConnectionClosed, LocalProtocolError):
                    await self._send(self._conn.send(CloseConnection(code=code, reason=reason)))
            if self._receiving:
                await self._peer_closed.wait()
            else:
                self._receiving = True
                try:
                    while not self._peer_closed.is_set():
                        await self._next_message()  # messages after our close are dropped
                        if not self._peer_closed.is_set():
                            await self._receive()
                finally:
                    self._receiving = False
        finally:
            await trio.aclose_forcefully(self._stream)
