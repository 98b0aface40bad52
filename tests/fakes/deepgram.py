"""A wire-faithful fake of Deepgram's live ``/v1/listen`` WebSocket.

A real WebSocket server on 127.0.0.1 that checks the handshake the way the
documented API needs it (path, query parameters, ``Authorization: Token``),
reads binary PCM and JSON control frames, and answers with ``Results``,
``SpeechStarted``, ``UtteranceEnd`` and ``Metadata`` in Deepgram's shapes.

Transcripts come from a script, one text per detected utterance (or with
``hear``, from each connection's own audio, e.g. ``tone_text.decode_tones``),
timed against the audio actually received (never the clock): a 10 ms energy detector finds
speech; interims come every ``interim_every_ms`` of speech, the final
(``speech_final``) once ``endpointing`` ms of silence follow, ``UtteranceEnd``
once ``utterance_end_ms`` of silence follow the last word. So a client that
streams the same PCM always gets the same messages. Once the script runs out,
every utterance is heard as ``default_text`` (empty by default: no words).

A binary message may hold any amount of audio (one frame, a batch): the
recogniser works through it block by block, and each result leaves
``result_latency_s`` after the message that completed it arrived, as with the
real service, which cannot decide on audio it has not received yet.

Anything a client does that the real service would refuse or that the docs
forbid is recorded in ``violations`` (and the handshake is refused where the
service would refuse it); tests call ``check()``. Faults are injected per
connection with ``Fault`` (the n-th connection gets ``faults[n]``).

Usage::

    async with open_fake_deepgram(script=["I need a plumber."]) as fake:
        settings = DeepgramSettings(api_key=fake.api_key, url=fake.url)
"""

from __future__ import annotations

import json
import math
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, WebSocketServer

from tests.fakes.deepgram_asr import PATH, HeardScript, Recognizer, Script, check_handshake
from tests.fakes.framestamp import read_stamp
from tests.fakes.wiretime import (
    StampedListener,
    StampedStream,
    StampedTlsStream,
    arrival,
    open_stamped_listener,
    send_stamped,
)

__all__ = [
    "ConnectionRecord",
    "FakeDeepgram",
    "Fault",
    "check_handshake",
    "open_fake_deepgram",
]

_CONTROLS = frozenset({"KeepAlive", "Finalize", "CloseStream"})


@attrs.frozen
class Fault:
    """What goes wrong on one connection (all off by default)."""

    reject_status: int | None = None  # refuse the upgrade with this HTTP status
    retry_after: float | None = None  # Retry-After header on the refusal
    close_after_audio_ms: int | None = None  # close once this much audio came in
    close_after_messages: int | None = None  # close after sending this many messages
    close_code: int = 1011
    close_reason: str = "NET-0000"
    malformed_after_messages: int | None = None  # then one frame that is not JSON
    # then an Error message (the stream goes on, as Deepgram's does)
    error_after_messages: int | None = None
    stall_after_audio_ms: int | None = None  # then read on but never answer or close


@attrs.define(eq=False)
class ConnectionRecord:
    """What one connection attempt looked like from the server's side."""

    index: int
    target: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    accepted: bool = False
    rejected_status: int | None = None
    audio: bytearray = attrs.field(factory=bytearray)
    audio_messages: list[tuple[float, int]] = attrs.field(factory=list)  # (arrival, bytes)
    controls: list[str] = attrs.field(factory=list)
    sent: list[dict[str, Any]] = attrs.field(factory=list)
    sent_at: list[float] = attrs.field(factory=list)  # when each of ``sent`` left
    # Per final (``speech_final``) Results, wall-clock seconds (``time.time()``): when
    # the caller sent the frame that completed it (its stamp, ``framestamp``; None
    # if unstamped), when the message holding that frame arrived here, when it left.
    final_timing: list[tuple[float | None, float, float]] = attrs.field(factory=list)
    close_code: int | None = None  # as seen by the server
    closed_by: str = ""  # "server" or "client"
    idle_timeout: bool = False
    closed_at: float | None = None  # when the connection ended, whoever closed it
    recognizer: Recognizer | None = None  # once accepted
    done: trio.Event = attrs.field(factory=trio.Event)
    wire: StampedStream | StampedTlsStream | None = None  # its socket's stamps (``wiretime``)

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)


# (due, message or None to close, (caller's stamp, arrival) of the audio that made it)
_Outgoing = tuple[float, dict[str, Any] | None, tuple[float | None, float] | None]


def _completing_stamp(
    audio: bytearray, result: dict[str, Any], rate: int, frame_bytes: int
) -> float | None:
    """The send stamp of the caller frame holding the last audio behind ``result``."""
    if result.get("type") != "Results" or not result.get("speech_final"):
        return None
    end = round((result["start"] + result["duration"]) * rate) * 2
    if end <= 0 or end > len(audio):
        return None
    start = (end - 1) // frame_bytes * frame_bytes
    return read_stamp(bytes(audio[start : start + frame_bytes]))


class FakeDeepgram:
    """The fake server; run ``serve`` in a nursery (or use ``open_fake_deepgram``)."""

    def __init__(
        self,
        *,
        script: Sequence[str] = (),
        default_text: str = "",
        api_key: str = "fake-deepgram-key",
        sample_rate: int | None = None,
        faults: Sequence[Fault] = (),
        result_latency_s: float = 0.0,
        idle_timeout_s: float = 10.0,
        interim_every_ms: int = 300,
        speech_threshold: float = 500.0,
        ssl_context: ssl.SSLContext | None = None,
        hear: Callable[[bytes], str] | None = None,
    ) -> None:
        self.api_key = api_key
        self.ssl_context = ssl_context  # serve wss:// (TLS on loopback) when set
        self.sample_rate = sample_rate
        self.faults = tuple(faults)
        self.result_latency_s = result_latency_s
        self.idle_timeout_s = idle_timeout_s
        self.interim_every_ms = interim_every_ms
        self.speech_threshold = speech_threshold
        self.script = Script(script, default_text)
        # Instead of the script: each connection hears its own audio (``HeardScript``).
        self.hear = hear
        self.connections: list[ConnectionRecord] = []
        self.violations: list[str] = []
        self.port = 0
        self._listener: StampedListener | None = None

    @property
    def url(self) -> str:
        scheme = "ws" if self.ssl_context is None else "wss"
        return f"{scheme}://127.0.0.1:{self.port}{PATH}"

    @property
    def audio_bytes_received(self) -> int:
        return sum(len(record.audio) for record in self.connections)

    def controls(self, kind: str) -> int:
        return sum(record.controls.count(kind) for record in self.connections)

    def check(self) -> None:
        """Fail (AssertionError) if a client broke the documented protocol."""
        if self.violations:
            raise AssertionError("Deepgram protocol violations:\n" + "\n".join(self.violations))

    async def serve(
        self, *, task_status: trio.TaskStatus[FakeDeepgram] = trio.TASK_STATUS_IGNORED
    ) -> None:
        # Served through a stamped listener: arrivals and departures are timed at
        # the socket (``wiretime``), not in the handler.
        self._listener = await open_stamped_listener(self.ssl_context)
        server = WebSocketServer(
            self._handle, [self._listener], connect_timeout=5, disconnect_timeout=5
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            self.port = self._listener.port
            task_status.started(self)

    async def _handle(self, request: WebSocketRequest) -> None:
        index = len(self.connections)
        fault = self.faults[index] if index < len(self.faults) else Fault()
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
        target = request.path
        record = ConnectionRecord(
            index,
            target,
            urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query, keep_blank_values=True),
            headers,
            wire=self._listener.stream_of(request.remote) if self._listener else None,
        )
        self.connections.append(record)
        try:
            status, detail, problems = check_handshake(
                target, headers, self.api_key, self.sample_rate
            )
            self.violations += [f"connection {index}: {problem}" for problem in problems]
            status = status or fault.reject_status
            if status is not None:
                record.rejected_status = status
                extra = [(b"dg-error", (detail or f"fake refusal {status}").encode())]
                if fault.retry_after is not None:
                    extra.append((b"Retry-After", str(fault.retry_after).encode()))
                body = json.dumps({"err_code": f"HTTP_{status}", "err_msg": detail}).encode()
                await request.reject(status, extra_headers=extra, body=body)
                return
            request_id = f"fake-{index}"
            ws = await request.accept(extra_headers=[(b"dg-request-id", request_id.encode())])
            record.accepted = True
            await self._converse(ws, record, fault, request_id)
        except ConnectionClosed as exc:
            record.closed_by = record.closed_by or "client"
            record.close_code = exc.reason.code if exc.reason else None
        finally:
            record.closed_at = trio.current_time()
            record.done.set()

    async def _converse(
        self, ws: WebSocketConnection, record: ConnectionRecord, fault: Fault, request_id: str
    ) -> None:
        endpointing = record.param("endpointing") or "10"
        utterance_end = record.param("utterance_end_ms")
        rate = int(record.param("sample_rate") or 0)
        recognizer = Recognizer(
            self.script if self.hear is None else HeardScript(self.hear),
            sample_rate=rate,
            interim_results=record.param("interim_results") == "true",
            endpointing_ms=None if endpointing == "false" else int(endpointing),
            utterance_end_ms=int(utterance_end) if utterance_end else None,
            vad_events=record.param("vad_events") == "true",
            interim_every_ms=self.interim_every_ms,
            threshold=self.speech_threshold,
            request_id=request_id,
            smart_format=record.param("smart_format") == "true",
            no_delay=record.param("no_delay") == "true",
        )
        record.recognizer = recognizer
        outbox_in, outbox = trio.open_memory_channel[_Outgoing](math.inf)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._send_results, ws, record, fault, outbox)
            await self._read_client(ws, record, fault, recognizer, outbox_in)
            nursery.cancel_scope.cancel()

    async def _read_client(
        self,
        ws: WebSocketConnection,
        record: ConnectionRecord,
        fault: Fault,
        recognizer: Recognizer,
        outbox: trio.MemorySendChannel[_Outgoing],
    ) -> None:
        rate = recognizer.sample_rate
        frame_bytes = rate * 2 // 50  # the 20 ms frames the agent forwards
        closing = stalled = False
        while True:
            with trio.move_on_after(self.idle_timeout_s) as idle:
                try:
                    message = await ws.get_message()
                except ConnectionClosed as exc:
                    record.closed_by = record.closed_by or "client"
                    record.close_code = exc.reason.code if exc.reason else None
                    return
            if idle.cancelled_caught:
                record.idle_timeout = True
                await self._close(ws, record, 1011, "NET-0001")
                return
            arrived_at, arrived = arrival(record.wire)
            due = arrived_at + self.result_latency_s
            if closing:
                self.violations.append(f"connection {record.index}: data after CloseStream")
            if isinstance(message, bytes):
                if not message:
                    self.violations.append(f"connection {record.index}: empty binary frame")
                record.audio += message
                record.audio_messages.append((arrived_at, len(message)))
                audio_ms = len(record.audio) * 1000 // (2 * rate)
                if (
                    fault.close_after_audio_ms is not None
                    and audio_ms >= fault.close_after_audio_ms
                ):
                    await self._close(ws, record, fault.close_code, fault.close_reason)
                    return
                if (
                    fault.stall_after_audio_ms is not None
                    and audio_ms >= fault.stall_after_audio_ms
                ):
                    stalled = True
                if not stalled:
                    for result in recognizer.feed(message):
                        stamp = _completing_stamp(record.audio, result, rate, frame_bytes)
                        outbox.send_nowait((due, result, (stamp, arrived)))
                continue
            try:
                control = json.loads(message)
                kind = control["type"]
            except (ValueError, TypeError, KeyError):
                self.violations.append(f"connection {record.index}: text frame {message[:60]!r}")
                continue
            record.controls.append(kind)
            if kind not in _CONTROLS:
                self.violations.append(f"connection {record.index}: unknown control {kind!r}")
            elif stalled:
                continue
            elif kind == "Finalize":
                for result in recognizer.finalize():
                    outbox.send_nowait((due, result, None))
            elif kind == "CloseStream":
                closing = True
                for result in recognizer.close():
                    outbox.send_nowait((due, result, None))
                outbox.send_nowait((due, None, None))  # then close

    async def _send_results(
        self,
        ws: WebSocketConnection,
        record: ConnectionRecord,
        fault: Fault,
        outbox: trio.MemoryReceiveChannel[_Outgoing],
    ) -> None:
        try:
            async for due, message, timing in outbox:
                await trio.sleep_until(due)
                if message is None:
                    await self._close(ws, record, 1000, None)
                    return
                # Stamped as its bytes reach the socket (``wiretime``): a stamp
                # after the send was late by however long this process then took to
                # come back, one before it early by the encoding, framing and TLS.
                leaves, leaves_wall = await send_stamped(
                    partial(ws.send_message, json.dumps(message)), record.wire
                )
                record.sent.append(message)
                record.sent_at.append(leaves)
                if timing is not None and message.get("speech_final"):
                    record.final_timing.append((*timing, leaves_wall))
                if fault.malformed_after_messages == len(record.sent):
                    await ws.send_message('{"type": "Results", "channel": ')
                if fault.error_after_messages == len(record.sent):
                    # ListenV1Error (deepgram-python-sdk 7.x): variant, description.
                    error = {
                        "type": "Error",
                        "variant": "SchemaError",
                        "description": "fake: the server could not parse a client message",
                        "message": "{}",
                    }
                    await ws.send_message(json.dumps(error))
                if fault.close_after_messages == len(record.sent):
                    await self._close(ws, record, fault.close_code, fault.close_reason)
                    return
        except ConnectionClosed:
            return

    @staticmethod
    async def _close(
        ws: WebSocketConnection, record: ConnectionRecord, code: int, reason: str | None
    ) -> None:
        if not record.closed_by:
            record.closed_by = "server"
            record.close_code = code
        await ws.aclose(code, reason)


@asynccontextmanager
async def open_fake_deepgram(**options: Any) -> AsyncIterator[FakeDeepgram]:
    """Run a ``FakeDeepgram(**options)`` for the duration of the block."""
    async with trio.open_nursery() as nursery:
        fake = FakeDeepgram(**options)
        await nursery.start(fake.serve)
        try:
            yield fake
        finally:
            nursery.cancel_scope.cancel()
