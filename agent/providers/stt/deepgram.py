"""Deepgram live speech-to-text over trio-websocket: the call-scoped session.

``DeepgramStt.run`` owns one WebSocket at a time. A pump task drains the
caller's audio channel into an ``AudioLedger`` whatever the connection's state,
so the caller never blocks on us. Per connection a sender forwards the ledger's
audio (batched while the caller talks, frame by frame around a pause) and
KeepAlive / Finalize / CloseStream, while the receiver maps server messages to
events on ``out``. When a connection drops, the session reconnects (at once
after a working connection, with backoff after failed handshakes) and replays
from the end of the last final result, so audio in flight on the dead socket is
sent again rather than lost.

``task_status.started()`` is called once the first connection is open: a bad
key or an unreachable server fails ``nursery.start`` at the start of the call
instead of surfacing later. Audio sent meanwhile is buffered.

A cancelled session closes the socket at once (no CloseStream: nobody waits for
the transcript); trio-websocket's reader task is shielded so it can still read
the close reply. Wire format, bookkeeping and batching (``deepgram_*``) are pure.
"""

from __future__ import annotations

import logging
import math
import ssl

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    wrap_client_stream,
)

from agent.base.errors import (
    ProviderError,
    ProviderTimeout,
    RemoteProtocolError,
)
from agent.base.events import SttEvent, Transcript
from agent.base.tls import client_context
from agent.providers.channels import send_eagerly
from agent.providers.shielded import shielded_nursery
from agent.providers.stt.deepgram_batch import AudioBatcher, AudioLedger
from agent.providers.stt.deepgram_settings import DeepgramSettings
from agent.providers.stt.deepgram_wire import (
    CLOSE_STREAM,
    FINALIZE,
    KEEPALIVE,
    PROVIDER,
    Endpoint,
    backoff_delay,
    caused,
    close_error,
    first_leaf,
    handshake_headers,
    listen_url,
    parse_message,
    rejection_error,
    split_url,
)
from agent.providers.tls_stream import open_provider_stream
from agent.providers.unusable import UnusableMessages

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
        self._ledger = AudioLedger(sample_rate, settings.max_buffer_s)
        self._batcher = AudioBatcher.for_stream(
            sample_rate, settings.batch_ms, settings.endpointing_ms
        )
        self.uplink = self._batcher.uplink()  # the caller's side batches alike (sttfeed)
        self._wakeup = trio.Event()
        # The sender's sleep while it has one: new audio moves its deadline
        # instead of waking it to compute the deadline itself.
        self._sender_sleep: trio.CancelScope | None = None
        self._audio_done = False
        self._finalize_at: int | None = None
        self._close_sent = False
        self._connections = 0
        self._failed_attempts = 0
        self._keepalives = 0
        self._finalizes = 0
        self._unusable = UnusableMessages(PROVIDER, log)
        self._errors = 0
        self._audio_messages = 0
        self._task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED

    # --- public -------------------------------------------------------------

    def finalize(self) -> None:
        """Ask Deepgram to flush the current utterance.

        The request is pinned to the audio taken so far: it goes out right after
        that audio (also after a replay), before anything that comes later.
        """
        self._finalize_at = self._ledger.pushed_bytes
        self._wakeup.set()

    def push_audio(self, pcm: bytes) -> None:
        """Caller audio handed over directly (``agent.conversation.sttfeed``), not by
        ``run``'s channel and pump: the sender wakes when a message (or an alarm) is due."""
        ledger, batcher = self._ledger, self._batcher
        ledger.push(pcm)
        unsent = ledger.unsent_bytes
        if batcher.added(unsent, trio.current_time()):
            self._wakeup.set()
            return
        alarm = batcher.pump_alarm_at(unsent)
        if alarm < math.inf:
            sleep = self._sender_sleep
            if sleep is None:
                self._wakeup.set()  # busy or not connected: it looks before sleeping
            else:
                sleep.deadline = min(sleep.deadline, alarm)
                batcher.pump_alarm_rang()

    def caller_speaking(self) -> None:
        """The VAD hears the caller talk (its speech start, or loud again within a
        pause): audio goes in talking-sized batches, what waited longer at once."""
        now = trio.current_time()
        self._batcher.speaking(now)
        if self._batcher.due(self._ledger.unsent_bytes, now):
            self._wakeup.set()

    def caller_pausing(self) -> None:
        """The VAD heard the caller stop: maybe the end of a turn. Deepgram times
        its endpointing on the audio it has, so batched silence would delay
        ``speech_final``: what waits goes now, then every frame on its own around
        the endpointing time (``AudioBatcher.pausing``)."""
        self._batcher.pausing(trio.current_time())
        self._wakeup.set()

    def statistics(self) -> DeepgramStatistics:
        return DeepgramStatistics(
            connections=self._connections,
            failed_attempts=self._failed_attempts,
            audio_bytes_in=self._ledger.pushed_bytes,
            audio_bytes_sent=self._ledger.sent_bytes,
            audio_bytes_dropped=self._ledger.dropped_bytes,
            audio_messages_sent=self._audio_messages,
            keepalives_sent=self._keepalives,
            finalizes_sent=self._finalizes,
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
            nursery.start_soon(self._pump, audio)
            try:
                await self._connect_loop(out, task_status)
            except ProviderError as exc:
                failure = exc
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure

    # --- tasks --------------------------------------------------------------
    async def _pump(self, audio: trio.MemoryReceiveChannel[bytes]) -> None:
        # The sender is woken once a batch is due, not for every frame. When frames
        # stop coming mid-batch, the alarm on the wait for the next one wakes it.
        ledger, batcher = self._ledger, self._batcher
        async with audio:
            while True:
                with trio.move_on_at(batcher.pump_alarm_at(ledger.unsent_bytes)) as alarm:
                    try:
                        frame = await audio.receive()
                    except trio.EndOfChannel:
                        break
                if alarm.cancelled_caught:
                    batcher.pump_alarm_rang()
                    self._wakeup.set()
                    continue
                ledger.push(frame)
                if batcher.added(ledger.unsent_bytes, trio.current_time()):
                    self._wakeup.set()
        self._audio_done = True
        self._wakeup.set()

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
                if self._audio_done:
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

        outcome: ProviderError | None = None
        try:
            try:
                async with trio.open_nursery() as nursery:
                    # Shielded: cancelled with the call, the library's reader task
                    # could not read the close reply; the close would wait it out.
                    reader, reader_scope = await nursery.start(shielded_nursery)
                    try:
                        outcome = await self._handshake_and_stream(reader, stream, out)
                    finally:
                        reader_scope.cancel()
            except* ConnectionRejected as group:
                rejected = first_leaf(group)
                assert isinstance(rejected, ConnectionRejected)
                outcome = caused(
                    rejection_error(rejected.status_code, rejected.headers, rejected.body),
                    rejected,
                )
        finally:
            # trio-websocket leaves the socket open after a rejected handshake.
            await trio.aclose_forcefully(stream)
        return outcome

    async def _handshake_and_stream(
        self, nursery: trio.Nursery, stream: trio.abc.Stream, out: trio.MemorySendChannel[SttEvent]
    ) -> ProviderError | None:
        endpoint = self._endpoint
        try:
            with trio.fail_after(self.settings.connect_timeout_s):
                ws = await wrap_client_stream(
                    nursery,
                    stream,  # type: ignore[arg-type]
                    endpoint.host_header,
                    endpoint.resource,
                    extra_headers=self._headers,
                )
        except trio.TooSlowError as exc:
            return caused(ProviderTimeout(PROVIDER, "WebSocket handshake timed out"), exc)
        self._connections += 1
        offset = self._ledger.rewind()
        self._batcher.rewound(self._ledger.unsent_bytes)
        self._close_sent = False
        if self._connections == 1:
            self._task_status.started()
        try:
            async with trio.open_nursery() as inner:
                receive_scope = trio.CancelScope()
                inner.start_soon(self._send_loop, ws, receive_scope)
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

    async def _send_loop(self, ws: WebSocketConnection, receive_scope: trio.CancelScope) -> None:
        ledger, batcher = self._ledger, self._batcher
        last_sent = trio.current_time()
        try:
            while True:
                # A fresh event before looking at the state: a wake-up that comes
                # while we send is not lost.
                self._wakeup = trio.Event()
                now = trio.current_time()
                finalize_at = self._finalize_at
                if finalize_at is not None and ledger.position >= finalize_at:
                    self._finalize_at = None
                    await ws.send_message(FINALIZE)
                    self._finalizes += 1
                    last_sent = trio.current_time()
                    continue
                # The audio before a Finalize, and at the end all of it, goes now.
                flush = self._audio_done or finalize_at is not None
                if batcher.due(ledger.unsent_bytes, now, flush=flush):
                    limit = batcher.max_message_bytes
                    if finalize_at is not None:
                        limit = min(limit, finalize_at - ledger.position)
                    message = ledger.next_unsent(limit)
                    assert message is not None  # due: something is unsent
                    await ws.send_message(message)
                    ledger.mark_sent()
                    last_sent = trio.current_time()
                    batcher.sent(ledger.unsent_bytes, last_sent)
                    self._audio_messages += 1
                    continue
                if self._audio_done:
                    self._close_sent = True
                    await ws.send_message(CLOSE_STREAM)
                    receive_scope.deadline = trio.current_time() + self.settings.close_timeout_s
                    return
                keepalive_at = last_sent + self.settings.keepalive_s
                if now >= keepalive_at:
                    await ws.send_message(KEEPALIVE)
                    self._keepalives += 1
                    last_sent = trio.current_time()
                    continue
                with trio.move_on_at(
                    batcher.sleep_until(ledger.unsent_bytes, keepalive_at)
                ) as sleep:
                    self._sender_sleep = sleep
                    try:
                        await self._wakeup.wait()
                    finally:
                        self._sender_sleep = None
        except ConnectionClosed:
            return  # the receiver sees the same close and reports it

    async def _receive_loop(
        self, ws: WebSocketConnection, out: trio.MemorySendChannel[SttEvent], offset: float
    ) -> ProviderError | None:
        listening = True
        self._unusable.new_connection()
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed as exc:
                code = exc.reason.code if exc.reason else 1006
                reason = exc.reason.reason if exc.reason else None
                if self._close_sent:
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
                self._ledger.acknowledge(parsed.final_end)
            if any(isinstance(e, Transcript) and e.end_of_turn for e in parsed.events):
                self._batcher.turn_ended(trio.current_time())
            if parsed.kind == "Metadata":
                log.debug("deepgram: metadata, request_id=%s", parsed.request_id)
            for event in parsed.events if listening else ():
                try:
                    await send_eagerly(out, event)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    listening = False  # nobody reads transcripts any more; keep draining
