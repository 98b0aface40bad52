"""The LLM's HTTP client: streamed HTTP/1.1 POSTs on kept-alive connections (h11).

Every reply of every call is one POST whose body streams back a token at a time,
so the client's own cost is paid on every turn's critical path: the request out,
then one read per token. httpx (over httpcore, on the lean TLS stream) cost 1.8-2.1
ms of CPU per request in ``bench/llm_client.py`` and about a sixth of the agent
at 100 calls: a request builder, cookie jar, auth and redirect layers, six
nested async generators per chunk read, and a pool that polls every idle
connection on every request. This is only what a streamed chat request needs,
on the same protocol engine (h11, httpcore's own) and the same TLS stream as the
WebSockets (``agent.providers.tls_stream``): 1.1-1.2 ms per request.

``Http1Pool`` keeps idle connections per origin (``http`` or ``https``, host,
port), newest first; one taken from the pool is checked once (a connection the
server closed reads as readable), and a request on a kept-alive connection that
the server closed meanwhile (nothing of a response came back) is sent once more on
a new one. Idle connections expire after ``idle_expiry_s``, at most ``max_idle``
are kept. ``warm`` opens one ahead of a request (while the caller still talks), so
a reply after a quiet spell does not wait for a TCP and TLS handshake (two round
trips to the provider). A response left before its end (a barge-in, an error) closes its
connection: nothing else can use it.

Failures come out in the agent's error tree, with the provider's name:
``ProviderConnectError`` / ``ProviderTimeout`` from ``open_provider_stream``, a read
waiting longer than ``read_timeout`` s is a ``ProviderTimeout``, a dropped or
garbled connection a retryable ``ProviderError``. A proxy is not supported here:
``SharedClient`` uses httpx when the environment names one.
"""

from __future__ import annotations

import contextlib
import select
import ssl
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

import h11
import trio

from agent.base.errors import ConfigError, ProviderError, ProviderTimeout
from agent.providers.tls_stream import TlsSocketStream, open_provider_stream

__all__ = ["Http1Pool", "Http1Response"]

_RECEIVE_BYTES = 65536
# How long an idle connection is kept. A turn comes every few seconds in a call, and
# httpx's 5 s made a fresh handshake (two round trips to the provider) the price
# of most replies on a quiet line. NAT and firewall tables keep idle TCP for
# minutes (Go's HTTP client keeps idle connections 90 s); one the server closed
# meanwhile is seen before use, or its request is sent once more.
IDLE_EXPIRY_S = 60.0
_USER_AGENT = "voice-agent"
Origin = tuple[str, str, int]  # scheme, host, port


class _Connection:
    __slots__ = ("h11", "idle_since", "received", "stream")

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0
        self.received = 0  # bytes read from the server, all told

    def closed_by_peer(self) -> bool:
        """Anything to read on an idle connection (the server's close, stray bytes)."""
        stream = self.stream
        if isinstance(stream, TlsSocketStream):
            sock = stream.ssl_object
            if sock.pending():
                return True
        else:
            sock = stream.socket  # type: ignore[attr-defined]
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))


class _Stale(Exception):
    """A kept-alive connection turned out closed before any of the response came."""


class Http1Response:
    """A response's status and headers, and its body read with ``receive_some``."""

    def __init__(
        self, connection: _Connection, head: h11.Response, provider: str, read_timeout: float
    ) -> None:
        self.status: int = head.status_code
        headers: dict[str, str] = {}
        for name, value in head.headers:
            key = name.decode("latin-1")  # h11 gives names lowercased
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers: Mapping[str, str] = headers
        self.complete = False  # the whole body was read
        self._connection = connection
        self._provider = provider
        self._read_timeout = read_timeout

    async def receive_some(self) -> bytes:
        """The body's next bytes as they came; ``b""`` at its end."""
        event = await _next_event(self._connection, self._provider, self._read_timeout)
        kind = type(event)
        if kind is h11.Data:
            return bytes(event.data)  # type: ignore[union-attr]
        if kind is h11.EndOfMessage:
            self.complete = True
            return b""
        raise _unexpected(self._provider, event)

    async def read(self, limit: int) -> bytes:
        """The rest of the body, up to ``limit`` bytes (an error reply's JSON)."""
        parts: list[bytes] = []
        size = 0
        while size < limit and (part := await self.receive_some()):
            parts.append(part)
            size += len(part)
        return b"".join(parts)[:limit]


class Http1Pool:
    """Kept-alive HTTP/1.1 connections, for streamed POSTs (see the module doc)."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        max_idle: int = 50,
        idle_expiry_s: float = IDLE_EXPIRY_S,
    ) -> None:
        self._context = ssl_context
        self._max_idle = max_idle
        self._idle_expiry_s = idle_expiry_s
        self._idle: dict[Origin, list[_Connection]] = {}
        self._targets: dict[str, tuple[Origin, str, str]] = {}
        self.connections_opened = 0
        self.requests = 0
        self.resent = 0  # requests sent again: their kept-alive connection was closed
        self.warmed = 0  # connections opened ahead of a request (``warm``)
        self._warming: set[Origin] = set()
        self._closed = False

    @property
    def idle_connections(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    @contextlib.asynccontextmanager
    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        provider: str,
        connect_timeout: float,
        read_timeout: float,
    ) -> AsyncIterator[Http1Response]:
        """POST ``body`` to ``url``; the response, its body to be read inside the block.
        Its connection goes back to the pool only if the body was read to its end."""
        origin, target, host = self._target(url)
        try:
            request = h11.Request(
                method="POST",
                target=target,
                headers=[
                    ("Host", host),
                    ("User-Agent", _USER_AGENT),
                    ("Accept-Encoding", "identity"),  # a stream, read as it comes
                    *headers.items(),
                    ("Content-Length", str(len(body))),
                ],
            )
        except h11.LocalProtocolError as exc:  # a header value no request can carry
            raise ProviderError(provider, f"cannot make the request: {exc}") from exc
        self.requests += 1
        connection = await self._take_idle(origin)
        while True:
            if connection is None:
                connection = await self._connect(origin, provider, connect_timeout)
                fresh = True
            else:
                fresh = False
            try:
                head = await _exchange(connection, request, body, provider, read_timeout)
                break
            except _Stale:
                await trio.aclose_forcefully(connection.stream)
                if fresh:
                    raise ProviderError(
                        provider, "the server closed the connection without a reply", retryable=True
                    ) from None
                connection = None  # the server closed it while idle: once more, on a new one
                self.resent += 1
            except BaseException:
                await trio.aclose_forcefully(connection.stream)
                raise
        response = Http1Response(connection, head, provider, read_timeout)
        try:
            yield response
        finally:
            conn = connection.h11
            if response.complete and conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()
                await self._put_idle(origin, connection)
            else:
                await trio.aclose_forcefully(connection.stream)

    def has_idle(self, url: str) -> bool:
        """Whether a request to ``url`` now would find a kept-alive connection (or one
        is being opened for it)."""
        return self._has_idle(self._target(url)[0])

    async def warm(self, url: str, *, provider: str, connect_timeout: float) -> None:
        """Open a connection to ``url``'s origin and keep it idle, unless one is (being)
        kept already. Failing is not an error here: the request will say why."""
        origin = self._target(url)[0]
        if self._has_idle(origin):
            return
        self._warming.add(origin)
        try:
            connection = await self._connect(origin, provider, connect_timeout)
        except ProviderError:
            return
        finally:
            self._warming.discard(origin)
        if self._closed:
            await trio.aclose_forcefully(connection.stream)
            return
        self.warmed += 1
        await self._put_idle(origin, connection)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await trio.aclose_forcefully(connection.stream)

    # --- the pool ---------------------------------------------------------------------

    def _has_idle(self, origin: Origin) -> bool:
        if origin in self._warming:
            return True
        idle = self._idle.get(origin)
        if not idle:
            return False
        newest = idle[-1]
        expired = trio.current_time() - newest.idle_since >= self._idle_expiry_s
        return not expired and not newest.closed_by_peer()

    def _target(self, url: str) -> tuple[Origin, str, str]:
        known = self._targets.get(url)
        if known is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"{url!r} is not an http:// or https:// URL")
            default = 443 if parts.scheme == "https" else 80
            port = parts.port or default
            name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6
            host = name if port == default else f"{name}:{port}"
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            known = self._targets[url] = ((parts.scheme, parts.hostname, port), target, host)
        return known

    async def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = trio.current_time()
        while idle:
            connection = idle.pop()  # the newest: the least likely to have been closed
            if (
                now - connection.idle_since < self._idle_expiry_s
                and not connection.closed_by_peer()
            ):
                return connection
            await trio.aclose_forcefully(connection.stream)
        return None

    async def _put_idle(self, origin: Origin, connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        now = trio.current_time()
        connection.idle_since = now
        idle.append(connection)
        # The oldest first: expired ones, then any beyond the limit.
        while idle and (
            len(idle) > self._max_idle or now - idle[0].idle_since >= self._idle_expiry_s
        ):
            await trio.aclose_forcefully(idle.pop(0).stream)

    async def _connect(self, origin: Origin, provider: str, timeout: float) -> _Connection:
        scheme, host, port = origin
        context = self._context if scheme == "https" else None
        stream = await open_provider_stream(
            provider, host, port, ssl_context=context, timeout=timeout
        )
        self.connections_opened += 1
        return _Connection(stream)


async def _exchange(
    connection: _Connection, request: h11.Request, body: bytes, provider: str, timeout: float
) -> h11.Response:
    """Send the request, read the response's head. ``_Stale`` when the connection
    broke before anything of a response came (a kept-alive one the server closed)."""
    conn = connection.h11
    data = conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
    try:
        await connection.stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise _Stale() from exc
    before = connection.received
    try:
        while True:
            event = await _next_event(connection, provider, timeout)
            if type(event) is h11.Response:
                return event
            if type(event) is not h11.InformationalResponse:  # (a 100 Continue: read on)
                raise _unexpected(provider, event)
    except ProviderError as exc:
        if connection.received == before and not isinstance(exc, ProviderTimeout):
            raise _Stale() from exc  # closed before a byte of the reply
        raise


async def _next_event(connection: _Connection, provider: str, timeout: float) -> object:
    """The response's next event, reading from the server as h11 needs."""
    conn = connection.h11
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise ProviderError(provider, f"connection failed: {exc}", retryable=True) from exc
        if event is not h11.NEED_DATA:
            return event
        data = await _read(connection, provider, timeout)
        connection.received += len(data)
        conn.receive_data(data)


def _unexpected(provider: str, event: object) -> ProviderError:
    return ProviderError(provider, f"unexpected HTTP event {event!r}", retryable=True)


async def _read(connection: _Connection, provider: str, timeout: float) -> bytes:
    """One read, ``b""`` at EOF; a wait longer than ``timeout`` is a ``ProviderTimeout``."""
    with trio.CancelScope(deadline=trio.current_time() + timeout) as scope:
        try:
            return await connection.stream.receive_some(_RECEIVE_BYTES)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ProviderError(provider, f"connection failed: {exc}", retryable=True) from exc
    assert scope.cancelled_caught
    raise ProviderTimeout(provider, f"no data for {timeout:g} s")
