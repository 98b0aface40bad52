"""The LLM's HTTP client over the lean TLS stream (``agent.providers.tls_stream``).

httpx over Trio runs TLS through Trio's ``SSLStream``, a pure-Python state machine
around ``ssl.MemoryBIO``: on the critical path of every reply (the request's
records out, the stream of tokens in) each record costs several Python calls,
buffer copies and a lock. The WebSockets already run over ``TlsSocketStream``
(OpenSSL reads and writes the socket itself); this gives httpcore the same stream
through its public network-backend interface (``httpcore.AsyncNetworkBackend``),
and ``LeanTransport`` puts that connection pool under an ``httpx.AsyncClient``.
Verification is the context's, unchanged; the pool, keep-alive, HTTP/1.1 and the
timeouts are httpcore's. Errors come out as httpx's, as from httpx's own
transport, so ``OpenAICompatibleLLM`` translates them the same way.
"""

from __future__ import annotations

import contextlib
import math
import select
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import httpcore
import httpx
import trio

from agent.providers.tls_stream import TlsSocketStream

__all__ = ["LeanNetworkBackend", "LeanTransport"]

# httpcore's errors -> httpx's, the most specific first (as httpx's transport maps them).
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _HTTPX_ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


@contextlib.contextmanager
def _mapped(errors: dict[type[BaseException], type[Exception]], timeout: float | None):
    """Trio's errors -> httpcore's, under ``timeout`` seconds (None: no limit)."""
    try:
        with trio.fail_after(math.inf if timeout is None else timeout):
            yield
    except tuple(errors) as exc:
        raise next(ours for theirs, ours in errors.items() if isinstance(exc, theirs))(
            str(exc)
        ) from exc


_READ_ERRORS = {
    trio.TooSlowError: httpcore.ReadTimeout,
    trio.BrokenResourceError: httpcore.ReadError,
    trio.ClosedResourceError: httpcore.ReadError,
}
_WRITE_ERRORS = {
    trio.TooSlowError: httpcore.WriteTimeout,
    trio.BrokenResourceError: httpcore.WriteError,
    trio.ClosedResourceError: httpcore.WriteError,
}
_CONNECT_ERRORS = {
    trio.TooSlowError: httpcore.ConnectTimeout,
    OSError: httpcore.ConnectError,  # ssl.SSLError (a refused certificate) included
    trio.BrokenResourceError: httpcore.ConnectError,
}


class LeanNetworkStream(httpcore.AsyncNetworkStream):
    """A TCP connection (``trio.SocketStream``), or the TLS one ``start_tls`` makes of it."""

    def __init__(self, stream: trio.SocketStream | TlsSocketStream, host: str, port: int) -> None:
        self._stream = stream
        self._host, self._port = host, port

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(_READ_ERRORS, timeout):
            return await self._stream.receive_some(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            with _mapped(_WRITE_ERRORS, timeout):
                await self._stream.send_all(buffer)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> LeanNetworkStream:
        if not isinstance(self._stream, trio.SocketStream):
            raise httpcore.ConnectError("TLS over TLS (a proxy tunnel) is not supported here")
        host = server_hostname or self._host
        where = f"{self._host}:{self._port}"
        try:
            with _mapped(_CONNECT_ERRORS, timeout):
                tls = await TlsSocketStream.handshake(self._stream, host, ssl_context, where)
        except BaseException:
            await self._stream.aclose()  # (its socket is closed or handed over already)
            raise
        return LeanNetworkStream(tls, self._host, self._port)

    def get_extra_info(self, info: str) -> Any:
        stream = self._stream
        if isinstance(stream, TlsSocketStream):
            sock = stream.ssl_object
            if info == "ssl_object":
                return sock
        else:
            sock = stream.socket
        if info == "socket":
            return sock
        if info == "client_addr":
            return sock.getsockname()
        if info == "server_addr":
            return sock.getpeername()
        if info == "is_readable":
            # The pool asks this of an idle kept-alive connection: anything to read
            # (a close, unexpected bytes) means it is not reusable.
            if isinstance(stream, TlsSocketStream) and sock.pending():
                return True
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
            return bool(poller.poll(0))
        return None


class LeanNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's Trio backend with ``TlsSocketStream`` for TLS."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> LeanNetworkStream:
        with _mapped(_CONNECT_ERRORS, timeout):
            stream = await trio.open_tcp_stream(host, port, local_address=local_address)
            for option in socket_options or ():
                stream.setsockopt(*option)
        return LeanNetworkStream(stream, host, port)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(f"unix sockets are not supported ({path})")

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        with _as_httpx_errors():
            await self._stream.aclose()


class LeanTransport(httpx.AsyncBaseTransport):
    """An httpx transport: httpcore's connection pool on ``LeanNetworkBackend``
    (HTTP/1.1, no proxy: ``SharedClient`` uses httpx's own transport when the
    environment names one)."""

    def __init__(self, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=LeanNetworkBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self._pool.handle_async_request(core)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
