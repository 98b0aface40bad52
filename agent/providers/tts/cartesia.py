"""Cartesia Sonic streaming TTS over one WebSocket per call.

``run`` opens the socket at call start and holds it, with a reader task that
hands each server message to the turn owning its ``context_id``. Each
``speak`` is one agent turn (``cartesia_turn``): text fragments go out with
``continue: true`` as they arrive, then an empty transcript with ``continue:
false``; audio comes back until ``done``. A turn usually is one context; when
its text pauses long enough for the context to expire (a tool call mid-turn),
it goes on on a new one (``cartesia_contexts``). Cancelling ``speak``
(barge-in) sends ``cancel`` for the turn's live contexts and the reader drops
whatever audio of them still arrives, since a cancel does not stop a
generation already running. A dropped socket fails the turn in flight
(retryable) and is reopened by the next ``speak``.

``run_websocket`` is the client WebSocket boundary shared with the ElevenLabs
client: it owns the TCP stream (so a refused handshake leaks no socket) and
translates every connect/handshake failure into the agent's error tree once.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

import attrs
import trio
from trio_websocket import ConnectionClosed

from agent.base.errors import (
    ConfigError,
    ProviderError,
    ProviderStatusError,
    RemoteProtocolError,
)
from agent.base.events import AudioChunk
from agent.base.tls import client_context
from agent.providers.channels import send_eagerly
from agent.providers.tls_stream import open_provider_stream
from agent.providers.tts.cartesia_turn import CartesiaTurn, Connection, Counters
from agent.providers.tts.cartesia_wire import (
    OUTPUT_RATES,
    PROVIDER,
    CartesiaSettings,
    Chunk,
    ServerError,
    ServerMessage,
    connect_headers,
    handshake_error,
    parse_message,
)
from agent.providers.unusable import UnusableMessages
from agent.providers.websocket import WebSocket, open_provider_websocket

__all__ = ["CartesiaSettings", "CartesiaStatistics", "CartesiaTts", "run_websocket"]

log = logging.getLogger(__name__)

RejectMapper = Callable[[int, Sequence[tuple[bytes, bytes]], bytes | None], ProviderStatusError]


async def run_websocket(
    url: str,
    headers: list[tuple[bytes, bytes]],
    session: Callable[[WebSocket], Awaitable[None]],
    *,
    provider: str,
    on_reject: RejectMapper,
    connect_timeout: float,
    close_timeout: float = 1.0,
    task_status: trio.TaskStatus[WebSocket] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Connect, report the connection through ``task_status``, run ``session`` on it.

    Handshake failures are raised (before ``started``) as ``ProviderTimeout``,
    ``ProviderConnectError`` or the ``ProviderStatusError`` ``on_reject`` makes.
    The connection is closed (shielded, bounded) when ``session`` ends.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"{provider}: {url!r} is not a ws:// or wss:// URL")
    secure = parts.scheme == "wss"
    host, port = parts.hostname, parts.port or (443 if secure else 80)
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if port in (80, 443) else f"{host}:{port}"
    stream = await open_provider_stream(
        provider,
        host,
        port,
        ssl_context=client_context() if secure else None,
        timeout=connect_timeout,
    )
    try:
        ws = await open_provider_websocket(
            provider,
            stream,
            host_header,
            resource,
            headers=headers,
            timeout=connect_timeout,
            on_reject=on_reject,
        )
        task_status.started(ws)
        try:
            await session(ws)
        finally:
            # Shielded: cancelled, we still read the server's close reply (bounded).
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + close_timeout
                await ws.aclose()
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


@attrs.frozen
class CartesiaStatistics:
    connections_opened: int
    contexts_started: int
    idle_closes: int  # contexts closed early because the turn's text paused
    cancels_sent: int
    late_chunks_dropped: int
    unusable_messages: int  # not JSON or not the documented shape: logged once, skipped


class CartesiaTts:
    """``TextToSpeech`` over Cartesia's multiplexed WebSocket (see module doc)."""

    name = PROVIDER

    def __init__(self, settings: CartesiaSettings, sample_rate: int = 8000) -> None:
        if sample_rate not in OUTPUT_RATES:
            raise ConfigError(f"sample_rate={sample_rate}: Cartesia outputs {OUTPUT_RATES}")
        self.settings = settings
        self.sample_rate = sample_rate
        self._nursery: trio.Nursery | None = None
        self._connection: Connection | None = None
        self._connect_lock = trio.Lock()
        # Context ids must never repeat on a socket (nor, to be safe, across sockets).
        self._id_prefix = uuid.uuid4().hex[:12]
        self._turn_numbers = itertools.count(1)
        self._counters = Counters()
        self._unusable = UnusableMessages(PROVIDER, log)

    def statistics(self) -> CartesiaStatistics:
        return CartesiaStatistics(
            **attrs.asdict(self._counters), unusable_messages=self._unusable.count
        )

    # --- call scope -------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        error: ProviderError | None = None
        async with trio.open_nursery() as nursery:  # holds the connection task
            self._nursery = nursery
            try:
                await self._connect()
                task_status.started()
                await trio.sleep_forever()
            except ProviderError as exc:
                error = exc  # raised bare below, not wrapped in this nursery's group
            finally:
                self._nursery = None
        if error is not None:
            raise error

    async def _connect(self) -> Connection:
        async with self._connect_lock:
            connection = self._connection
            if connection is not None and not connection.closed:
                return connection
            if self._nursery is None:
                raise RuntimeError("CartesiaTts.speak() needs run() to be running")
            connection = Connection()
            connection.ws = await self._nursery.start(
                functools.partial(
                    run_websocket,
                    self.settings.url,
                    connect_headers(self.settings),
                    functools.partial(self._read, connection),
                    provider=PROVIDER,
                    on_reject=handshake_error,
                    connect_timeout=self.settings.connect_timeout_s,
                )
            )
            self._connection = connection
            self._counters.connections_opened += 1
            return connection

    async def _read(self, connection: Connection, ws: WebSocket) -> None:
        """Dispatch server messages to turns until the socket closes."""
        error = ProviderError(PROVIDER, "connection closed", retryable=True)
        self._unusable.new_connection()
        try:
            while True:
                try:
                    raw = await ws.get_message()
                except ConnectionClosed as exc:
                    reason = exc.reason
                    error = ProviderError(
                        PROVIDER,
                        f"connection closed mid-turn ({reason.code if reason else '?'}"
                        f" {reason.reason if reason and reason.reason else ''})",
                        retryable=True,
                    )
                    error.__cause__ = exc
                    return
                try:
                    message = parse_message(raw)
                except RemoteProtocolError as exc:
                    # The socket is shared by every turn of the call: one message we
                    # cannot read (a new type's shape, a garbled frame) is skipped.
                    self._unusable.skip(str(exc))
                    continue
                await self._dispatch(connection, message)
        finally:
            # No await between marking closed and closing the inboxes: a turn that
            # registers after this sees ``closed`` and never waits on a dead socket.
            connection.closed = True
            connection.error = error
            for inbox in connection.contexts.values():
                inbox.close()

    async def _dispatch(self, connection: Connection, message: ServerMessage) -> None:
        if isinstance(message, ServerError) and message.context_id is None:
            # Connection-level: every turn, once (a turn may own several contexts).
            targets = list(dict.fromkeys(connection.contexts.values()))
        elif message.context_id in connection.contexts:
            targets = [connection.contexts[message.context_id]]
        else:
            if isinstance(message, Chunk) and message.context_id in connection.cancelled:
                self._counters.late_chunks_dropped += 1
            return
        for inbox in targets:
            # A closed inbox means that turn has just ended.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await send_eagerly(inbox, message)

    # --- turn scope -------------------------------------------------------

    async def speak(
        self,
        text: trio.MemoryReceiveChannel[str],
        out: trio.MemorySendChannel[AudioChunk],
    ) -> None:
        with text, out:
            connection = await self._connect()
            if connection.closed:  # closed while we were connecting: fail like a drop
                raise connection.error or ProviderError(PROVIDER, "connection lost", retryable=True)
            turn = CartesiaTurn(
                self.settings,
                self.sample_rate,
                connection,
                self._counters,
                turn_id=f"{self._id_prefix}-{next(self._turn_numbers)}",
            )
            await turn.speak(text, out)
