"""The providers' TCP and TLS connections: a lean TLS stream for the WebSockets.

Trio's ``SSLStream`` runs TLS as a pure-Python state machine around
``ssl.MemoryBIO``: every message costs several Python-level calls, buffer
copies and lock checks on top of OpenSSL. The providers' WebSockets (Deepgram's
uplink, Cartesia's and ElevenLabs' audio) carry a message every few tens of
milliseconds per call, so that overhead is paid thousands of times a second.
``TlsSocketStream`` instead drives a non-blocking stdlib ``ssl.SSLSocket``
(OpenSSL reads and writes the socket itself) and only waits on Trio when
OpenSSL says it would block. Certificate and hostname verification are the
context's, unchanged (``agent.base.tls``: the system's authorities plus
``VOICE_AGENT_CA_FILE``).

``open_provider_stream`` connects (TCP, then the TLS handshake when asked) and
turns every failure into the agent's error tree once, with ``host:port`` in
the message: ``ProviderTimeout``, or ``ProviderConnectError`` (a certificate
that is not accepted is not retryable: the next attempt would meet it again).
"""

from __future__ import annotations

import contextlib
import socket
import ssl

import trio
from trio.lowlevel import cancel_shielded_checkpoint, checkpoint_if_cancelled

from agent.base.errors import ProviderConnectError, ProviderTimeout

__all__ = ["TlsSocketStream", "drive_handshake", "open_provider_stream", "take_tls_socket"]

_RECEIVE_BYTES = 65536  # what receive_some reads when not told: a few TLS records
# A read that finds its data without waiting is no schedule point until this much
# has come that way since the stream's last one. Messages come in bursts (a voice's audio
# chunks, a model's tokens, read after the task's turn came round): a trip round
# the run loop after each was a task step per message. The bound keeps a peer that
# sends faster than we read from holding the run loop (and the frames due) for long.
UNYIELDED_BYTES = 16384


async def open_provider_stream(
    provider: str,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    timeout: float,
) -> trio.abc.Stream:
    """A connected stream to ``host:port``, over TLS when ``ssl_context`` is given."""
    where = f"{host}:{port}"
    try:
        with trio.fail_after(timeout):
            tcp = await trio.open_tcp_stream(host, port)
            if ssl_context is None:
                return tcp
            return await TlsSocketStream.handshake(tcp, host, ssl_context, where)
    except trio.TooSlowError as exc:
        raise ProviderTimeout(provider, f"connecting to {where} timed out") from exc
    except ssl.SSLCertVerificationError as exc:
        raise ProviderConnectError(
            provider,
            f"TLS to {where}: the server's certificate was not accepted ({exc.verify_message})",
        ) from exc
    except ssl.SSLError as exc:
        raise ProviderConnectError(
            provider, f"TLS handshake with {where} failed: {exc.reason or exc}", retryable=True
        ) from exc
    except OSError as exc:
        raise ProviderConnectError(
            provider, f"cannot connect to {where}: {exc}", retryable=True
        ) from exc


def take_tls_socket(
    tcp: trio.SocketStream,
    context: ssl.SSLContext,
    *,
    server_hostname: str | None = None,
    server_side: bool = False,
) -> ssl.SSLSocket:
    """``tcp``'s socket taken from Trio (its options stay), non-blocking, wrapped for
    TLS with the handshake not yet done (``drive_handshake``); closed if that fails."""
    raw = socket.socket(fileno=tcp.socket.detach())
    try:
        raw.setblocking(False)
        return context.wrap_socket(
            raw,
            server_side=server_side,
            server_hostname=server_hostname,
            do_handshake_on_connect=False,
        )
    except BaseException:
        raw.close()
        raise


async def drive_handshake(sock: ssl.SSLSocket) -> None:
    """Run the TLS handshake of ``sock`` (non-blocking, ``do_handshake_on_connect``
    off), waiting on Trio whenever OpenSSL would block; its errors (``ssl.SSLError``,
    ``OSError``) are raised as they come."""
    fd = sock.fileno()
    while True:
        try:
            sock.do_handshake()
            return
        except ssl.SSLWantReadError:
            await trio.lowlevel.wait_readable(fd)
        except ssl.SSLWantWriteError:
            await trio.lowlevel.wait_writable(fd)


class TlsSocketStream(trio.abc.Stream):
    """A Trio stream over a connected, handshaken, non-blocking ``ssl.SSLSocket``.

    Semantics as Trio's ``SSLStream(https_compatible=True)``: an EOF without
    ``close_notify`` reads as a plain EOF; a transport or TLS error raises
    ``BrokenResourceError``; a ``send_all`` cancelled while OpenSSL holds a
    half-written record breaks the stream (the record cannot be taken back).
    ``aclose`` sends ``close_notify`` when it can without waiting, then closes.
    ``send_all`` is a cancel point always but a schedule point only when it had to
    wait for the socket (see there); ``receive_some`` likewise, or once
    ``UNYIELDED_BYTES`` have come without one. ``send_nowait`` sends from
    synchronous code.
    """

    def __init__(self, sock: ssl.SSLSocket, where: str) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._where = where
        self._closed = False
        self._broken: BaseException | None = None
        self._sending = False
        self._receiving = False
        self._unyielded = 0  # bytes received since the last schedule point
        # What ``send_nowait`` could not write: OpenSSL wants exactly this buffer
        # again, before anything else.
        self._owed: memoryview | None = None

    @classmethod
    async def handshake(
        cls, tcp: trio.SocketStream, host: str, context: ssl.SSLContext, where: str
    ) -> TlsSocketStream:
        """Take ``tcp``'s socket (its options, TCP_NODELAY included, stay) and handshake.

        Raises ``ssl.SSLError`` / ``OSError`` as they come; the socket is closed then.
        """
        sock = take_tls_socket(tcp, context, server_hostname=host)
        fd = sock.fileno()
        try:
            await drive_handshake(sock)
        except BaseException:
            trio.lowlevel.notify_closing(fd)
            sock.close()
            raise
        return cls(sock, where)

    @property
    def ssl_object(self) -> ssl.SSLSocket:
        """The TLS connection (its certificate, ALPN protocol, ``pending()`` bytes)."""
        return self._sock

    def _usable(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError(f"the stream to {self._where} is closed")
        if self._broken is not None:
            raise trio.BrokenResourceError(f"the stream to {self._where} broke") from self._broken

    def _break(self, exc: BaseException) -> trio.BrokenResourceError:
        self._broken = exc
        return trio.BrokenResourceError(f"TLS to {self._where}: {exc}")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            await checkpoint_if_cancelled()
            self._usable()
            if self._owed is not None:
                owed, self._owed = self._owed, None
                await self._write(owed)
            await self._write(memoryview(data))
            # No schedule point after a send the socket took at once (a cancel point
            # it is, above): every sender here then waits for something (the
            # WebSockets' senders for their next message, the LLM's request for its
            # answer), so a send costs no extra trip round the run loop per message.
        finally:
            self._sending = False

    def send_nowait(self, data: bytes | bytearray | memoryview) -> bool:
        """Send ``data`` now, never waiting. True: the socket took all of it. False:
        the socket is full: what was not written is kept and goes first with the
        next ``send_all`` (``b""`` will do), which the caller must await before it
        calls this again. Raises as ``send_all`` does."""
        if self._sending or self._owed is not None:
            raise trio.BusyResourceError("another send is under way or owed on this stream")
        self._usable()
        view, sock = memoryview(data), self._sock
        while view:
            try:
                view = view[sock.send(view) :]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                self._owed = view  # as send_all's loop: the same buffer again
                return False
            except OSError as exc:  # ssl.SSLError included
                raise self._break(exc) from exc
        return True

    async def _write(self, view: memoryview) -> None:
        sock, fd = self._sock, self._fd
        while view:
            try:
                # Without partial writes OpenSSL takes all of it or, when the
                # socket is full, keeps what it encrypted and wants the same
                # buffer again: so on a WantWrite ``view`` stays as it is.
                view = view[sock.send(view) :]
                continue
            except ssl.SSLWantWriteError:
                wait = trio.lowlevel.wait_writable
            except ssl.SSLWantReadError:
                wait = trio.lowlevel.wait_readable
            except OSError as exc:  # ssl.SSLError included
                raise self._break(exc) from exc
            try:
                await wait(fd)
            except trio.Cancelled as exc:
                self._broken = exc  # a record may be half out: nothing can follow it
                raise
            self._usable()  # closed by another task meanwhile

    async def wait_send_all_might_not_block(self) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            self._usable()
            await trio.lowlevel.wait_writable(self._fd)
        finally:
            self._sending = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this stream")
        self._receiving = True
        try:
            await checkpoint_if_cancelled()
            self._usable()
            size, sock, fd, waited = max_bytes or _RECEIVE_BYTES, self._sock, self._fd, False
            while True:
                try:
                    # b"" at the peer's close_notify or a bare TCP EOF (ragged EOFs
                    # are suppressed, as https_compatible does).
                    data = sock.recv(size)
                    break
                except ssl.SSLWantReadError:
                    wait = trio.lowlevel.wait_readable
                except ssl.SSLWantWriteError:
                    wait = trio.lowlevel.wait_writable
                except OSError as exc:
                    raise self._break(exc) from exc
                waited = True
                await wait(fd)  # a cancel here loses nothing: OpenSSL holds no half-read
                self._usable()
            if waited:
                self._unyielded = 0
            else:
                self._unyielded += len(data)
                if self._unyielded >= UNYIELDED_BYTES:
                    self._unyielded = 0
                    await cancel_shielded_checkpoint()
            return data
        finally:
            self._receiving = False

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self._fd)  # wakes a reader: ClosedResourceError
            if self._broken is None:
                # Sends close_notify; the peer's reply is not waited for (it
                # raises SSLWantReadError here), as the socket closes anyway.
                with contextlib.suppress(OSError, ValueError):
                    self._sock.unwrap()
            self._sock.close()
        await trio.lowlevel.checkpoint()
