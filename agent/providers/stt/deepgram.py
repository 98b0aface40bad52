"""Deepgram live speech-to-text: the call-scoped session.

``DeepgramStt.run`` owns one WebSocket at a time (``agent.providers.websocket``).
The sending side, ``DeepgramUplink``, keeps the caller's audio in an
``AudioLedger`` whatever the connection's state, so the caller never blocks on
us, and per connection sends it (batched while the caller talks, frame by frame
around a pause: inline as it is read when it can) with KeepAlive / Finalize /
CloseStream, while the receiver maps server messages to events on ``out``.
When a connection drops, the session reconnects (at once after a working
connection, with backoff after failed handshakes) and replays from the end of
the last final result, so audio in flight on the dead socket is sent again
rather than lost.

``task_status.started()`` is called once the first connection is open: a bad
key or an unreachable server fails ``nursery.start`` at the start of the call
instead of surfacing later. Audio sent meanwhile is buffered.

A cancelled session closes the socket at once (no CloseStream: nobody waits for
the transcript), reading the server's close reply for at most a second under a
shield. Wire format, bookkeeping and batching (``deepgram_*``) are pure.
"""

from __future__ import annotations

import logging
import ssl

import attrs
import trio
from trio_websocket import ConnectionClosed

from agent.base.errors import (
    ProviderError,
    RemoteProtocolError,
)
from agent.base.events import SttEvent, Transcript
from agent.base.tls import client_context
from agent.providers.channels import send_eagerly
from agent.providers.stt.deepgram_settings import DeepgramSettings
from agent.providers.stt.deepgram_uplink import DeepgramUplink
from agent.providers.stt.deepgram_wire import (
    PROVIDER,
    Endpoint,
    backoff_delay,
    caused,
    close_error,
    handshake_headers,
    listen_url,
    parse_message,
    rejection_error,
    split_url,
)
from agent.providers.tls_stream import open_provider_stream
from agent.providers.unusable import UnusableMessages
from agent.providers.websocket import WebSocket, open_provider_websocket

__all__ = ["DeepgramSettings", "DeepgramStatistics", "DeepgramStt"]

log = logging.getLogger(__name__)

_GOODBYE_S = 1.0  # at most this for the graceful close on the way out (cancel included)


@attrs.frozen
class DeepgramStatistics:
    connections: int  # opened successfully
    failed_attempts: int  # handshakes that did not open
    audio_bytes_in: int  # taken from the caller
    audio_bytes_sent: int  # written to sockets, replays included
    audio_bytes_dropped: int  # never sent: the buffer overflowed while disconnected
    audio_messages_sent: int  # binary messages: batches, single frames around pauses
    keepalives_sent: int
    finalizes_sent: int
    malformed_messages: int  # not the documented shape: logged once, skipped
    errors_reported: int  # Error messages: logged; the stream goes on


class DeepgramStt:
    """A call-scoped Deepgram session implementing ``SpeechToText``."""

    def __init__(
        self,
        settings: DeepgramSettings,
        sample_rate: int = 8000,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.sample_rate = sample_rate
        self._url = listen_url(settings, sample_rate)  # validates sample_rate
        self._endpoint: Endpoint = split_url(self._url)
        self._headers = handshake_headers(settings)
        self._ssl_context = ssl_context
        self._uplink = DeepgramUplink(settings, sample_rate)
        self.uplink = self._uplink.batcher.uplink()  # the caller's side batches alike (sttfeed)
        self._connections = 0
        self._failed_attempts = 0
        self._unusable = UnusableMessages(PROVIDER, log)
        self._errors = 0
        self._task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED

    # --- public -------------------------------------------------------------

    def finalize(self) -> None:
        """Ask Deepgram to flush the current utterance.

        The request is pinned to the audio taken so far: it goes out right after
        that audio (also after a replay), before anything that comes later.
        """
        self._uplink.finalize()

    def push_audio(self, pcm: bytes) -> None:
        """Caller audio handed over directly (``agent.conversation.sttfeed``), not by
        ``run``'s channel and pump: a message due goes at once, from here when the
        socket takes it (``DeepgramUplink.push``)."""
        self._uplink.push(pcm)

    def caller_speaking(self) -> None:
        """The VAD hears the caller talk (its speech start, or loud again within a
        pause): audio goes in talking-sized batches, what waited longer at once."""
        self._uplink.speaking()

    def caller_pausing(self) -> None:
        """The VAD heard the caller stop: maybe the end of a turn. Deepgram times
        its endpointing on the audio it has, so batched silence would delay
        ``speech_final``: what waits goes now, then every frame on its own around
        the endpointing time (``AudioBatcher.pausing``)."""
        self._uplink.pausing()

    def statistics(self) -> DeepgramStatistics:
        uplink, ledger = self._uplink, self._uplink.ledger
        return DeepgramStatistics(
            connections=self._connections,
            failed_attempts=self._failed_attempts,
            audio_bytes_in=ledger.pushed_bytes,
            audio_bytes_sent=ledger.sent_bytes,
            audio_bytes_dropped=ledger.dropped_bytes,
            audio_messages_sent=uplink.audio_messages,
            keepalives_sent=uplink.keepalives,
            finalizes_sent=uplink.finalizes,
            malformed_messages=self._unusable.count,
            errors_reported=self._errors,
        )

    async def run(
        self,
        audio: trio.MemoryReceiveChannel[bytes],
        out: trio.MemorySendChannel[SttEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        # Errors are caught inside the nursery and raised after it, so callers get
        # a plain ProviderError rather than a one-member exception group.
        failure: ProviderError | None = None
        async with out, trio.open_nursery() as nursery:
            nursery.start_soon(self._uplink.pump, audio)
            try:
                await self._connect_loop(out, task_status)
            except ProviderError as exc:
                failure = exc
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure

    # --- tasks --------------------------------------------------------------

    async def _connect_loop(
        self, out: trio.MemorySendChannel[SttEvent], task_status: trio.TaskStatus[None]
    ) -> None:
        self._task_status = task_status
        failures = 0  # failed attempts in a row
        while True:
            opened_before = self._connections
            error = await self._one_connection(out)
            if error is None:
                return
            if not error.retryable:
                raise error
            if self._connections > opened_before:
                # A working connection dropped: reconnect at once, the clock runs.
                failures = 0
                if self._uplink.audio_done:
                    log.info("%s after the audio ended; not reconnecting", error)
                    return
            else:
                failures += 1
                self._failed_attempts += 1
                if failures > self.settings.reconnect_attempts:
                    raise error
            delay = backoff_delay(
                failures, self.settings.reconnect_initial_s, self.settings.reconnect_max_s
            )
            delay = max(delay, error.retry_after or 0.0)
            log.warning("%s; reconnecting in %.2f s", error, delay)
            await trio.sleep(delay)

    async def _one_connection(self, out: trio.MemorySendChannel[SttEvent]) -> ProviderError | None:
        """Open, stream, close. Returns None when the stream ended as asked, else why not."""
        endpoint = self._endpoint
        context = (self._ssl_context or client_context()) if endpoint.tls else None
        try:
            stream = await open_provider_stream(
                PROVIDER,
                endpoint.host,
                endpoint.port,
                ssl_context=context,
                timeout=self.settings.connect_timeout_s,
            )
        except ProviderError as exc:
            return exc

        try:
            try:
                ws = await open_provider_websocket(
                    PROVIDER,
                    stream,
                    endpoint.host_header,
                    endpoint.resource,
                    headers=self._headers,
                    timeout=self.settings.connect_timeout_s,
                    on_reject=rejection_error,
                )
            except ProviderError as exc:
                return exc
            return await self._stream(ws, out)
        finally:
            await trio.aclose_forcefully(stream)  # after a refusal, or the close timed out

    async def _stream(
        self, ws: WebSocket, out: trio.MemorySendChannel[SttEvent]
    ) -> ProviderError | None:
        self._connections += 1
        offset = self._uplink.connected()
        if self._connections == 1:
            self._task_status.started()
        try:
            async with trio.open_nursery() as inner:
                receive_scope = trio.CancelScope()
                inner.start_soon(self._uplink.send_loop, ws, receive_scope)
                with receive_scope:
                    outcome = await self._receive_loop(ws, out, offset)
                if receive_scope.cancelled_caught:
                    log.warning("deepgram: no close after CloseStream; closing ourselves")
                    outcome = None
                inner.cancel_scope.cancel()
            return outcome
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(_GOODBYE_S):
                await ws.aclose()

    async def _receive_loop(
        self, ws: WebSocket, out: trio.MemorySendChannel[SttEvent], offset: float
    ) -> ProviderError | None:
        listening = True
        self._unusable.new_connection()
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed as exc:
                code = exc.reason.code if exc.reason else 1006
                reason = exc.reason.reason if exc.reason else None
                if self._uplink.close_sent:
                    if code != 1000:
                        log.info("deepgram: closed with %s %s after CloseStream", code, reason)
                    return None
                return caused(close_error(code, reason), exc)
            if isinstance(message, bytes):
                self._unusable.skip(f"a binary message ({len(message)} bytes)")
                continue
            try:
                parsed = parse_message(message, offset=offset)
            except RemoteProtocolError as exc:
                # One garbled frame should not end the call's transcription.
                self._unusable.skip(str(exc))
                continue
            if parsed.error is not None:
                # Deepgram goes on after an Error message; so do we (no reconnect,
                # which would cost the audio in flight and the connection's context).
                self._errors += 1
                log.warning("deepgram: the server reported an error: %s", parsed.error)
                continue
            if parsed.final_end is not None:
                self._uplink.ledger.acknowledge(parsed.final_end)
            if any(isinstance(e, Transcript) and e.end_of_turn for e in parsed.events):
                self._uplink.turn_ended()
            if parsed.kind == "Metadata":
                log.debug("deepgram: metadata, request_id=%s", parsed.request_id)
            for event in parsed.events if listening else ():
                try:
                    await send_eagerly(out, event)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    listening = False  # nobody reads transcripts any more; keep draining
