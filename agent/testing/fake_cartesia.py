"""A wire-faithful fake of Cartesia's TTS WebSocket, on 127.0.0.1.

It checks the handshake (path, Bearer key, ``Cartesia-Version``) and every
message against the documented shapes, recording each deviation in
``violations`` (tests assert it stays empty). It speaks ``tone_text`` PCM for
the text each context received, chunked and paced, with word ``timestamps``,
and behaves like the service where it matters to a client: many contexts per
socket, continuations, ``done`` only after ``continue: false`` and all audio,
``cancel`` that stops a context (optionally after a few late chunks, as a
generation already running does), and injectable faults.

Use: ``fake = await nursery.start(FakeCartesia().serve)``; ``fake.url``.
Faults are plain attributes a test may change at any time; the one-shot ones
reset themselves once fired.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import trio
import trio_websocket

from agent.testing.tone_text import DEFAULT_CHAR_MS, encode_tones

KNOWN_VERSIONS = ("2024-06-10", "2024-11-13", "2025-04-16", "2026-03-01", "2026-08-14")
KNOWN_MODELS = ("sonic-3", "sonic-3.5", "sonic-latest", "sonic-2", "sonic-turbo")
ENCODINGS = ("pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw")
RATES = (8000, 16000, 22050, 24000, 44100, 48000)
_REQUEST_KEYS = {
    "context_id", "model_id", "transcript", "voice", "output_format", "language", "continue",
    "max_buffer_delay_ms", "add_timestamps", "add_phoneme_timestamps",
    "use_normalized_timestamps", "generation_config", "pronunciation_dict_id", "flush",
    "speed", "duration",
}  # fmt: skip
# Every field but these must stay the same across one context's messages.
_MAY_CHANGE = {"transcript", "continue", "duration", "flush"}


@attrs.define(eq=False)
class ContextRecord:
    context_id: str
    # (arrival time, transcript, continue) for every generation request.
    fragments: list[tuple[float, str, bool]] = attrs.field(factory=list)
    settings: dict[str, Any] | None = None
    closed: bool = False  # ``continue: false`` received
    cancelled_at: float | None = None
    chunks_sent: int = 0
    first_chunk_at: float | None = None
    chunks_after_cancel: int = 0
    done_sent: bool = False
    error_sent: bool = False
    changed: trio.Event = attrs.field(factory=trio.Event, repr=False)

    @property
    def text(self) -> str:
        return "".join(piece for _, piece, _ in self.fragments)

    @property
    def sample_rate(self) -> int:
        return (self.settings or {}).get("output_format", {}).get("sample_rate", 8000)


@attrs.define(eq=False)
class ConnectionRecord:
    path: str
    headers: dict[str, str]
    accepted: bool = False
    contexts: dict[str, ContextRecord] = attrs.field(factory=dict)
    chunks_sent: int = 0
    closed_at: float | None = None  # when the socket ended, whoever closed it


class FakeCartesia:
    def __init__(
        self,
        *,
        api_key: str = "test-key",
        char_ms: int = DEFAULT_CHAR_MS,
        chars_per_chunk: int = 4,
        first_audio_delay: float = 0.02,
        chunk_gap: float = 0.0,
        timestamps_after_audio: bool = False,
        late_chunks_after_cancel: int = 0,
    ) -> None:
        self.api_key = api_key
        self.char_ms = char_ms
        self.chars_per_chunk = chars_per_chunk
        self.first_audio_delay = first_audio_delay
        self.chunk_gap = chunk_gap
        self.timestamps_after_audio = timestamps_after_audio
        self.late_chunks_after_cancel = late_chunks_after_cancel
        # Faults.
        self.reject_status: int | None = None  # refuse every handshake with this status
        self.error_context: int | None = None  # the n-th context (1-based) gets an error
        self.error_status = 500
        self.error_code: str | None = None
        self.close_after_chunks: int | None = None  # one-shot: close the socket (1011)
        self.malformed_after_chunks: int | None = None  # one-shot: send a non-JSON frame
        self.stall = False  # accept text, never answer
        # Records.
        self.connections: list[ConnectionRecord] = []
        self.violations: list[str] = []
        self.port = 0
        self._context_count = 0
        self._changed = trio.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/tts/websocket"

    @property
    def contexts(self) -> dict[str, ContextRecord]:
        return {cid: ctx for conn in self.connections for cid, ctx in conn.contexts.items()}

    async def serve(self, *, task_status: trio.TaskStatus[FakeCartesia] = trio.TASK_STATUS_IGNORED):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                trio_websocket.serve_websocket, self._handle, "127.0.0.1", 0, None
            )
            self.port = server.port
            task_status.started(self)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; it is re-checked whenever a record changes."""
        while True:
            changed = self._changed
            if predicate():
                return
            await changed.wait()

    def _notify(self, context: ContextRecord | None = None) -> None:
        self._changed.set()
        self._changed = trio.Event()
        if context is not None:
            context.changed.set()
            context.changed = trio.Event()

    def _violation(self, text: str) -> None:
        self.violations.append(text)
        self._notify()

    # --- handshake ----------------------------------------------------------

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        record = ConnectionRecord(request.path, headers)
        self.connections.append(record)
        self._notify()
        status = self.reject_status or self._check_handshake(request.path, headers)
        if status:
            body = json.dumps({"error": f"fake cartesia refused the handshake ({status})"})
            await request.reject(status, body=body.encode())
            return
        ws = await request.accept()
        record.accepted = True
        try:
            async with trio.open_nursery() as nursery:
                try:
                    while True:
                        raw = await ws.get_message()
                        self._on_message(ws, record, nursery, raw)
                except trio_websocket.ConnectionClosed:
                    pass
                nursery.cancel_scope.cancel()
        finally:
            record.closed_at = trio.current_time()
            self._notify()

    def _check_handshake(self, path: str, headers: dict[str, str]) -> int | None:
        parts = urlsplit(path)
        query = parse_qs(parts.query)
        if parts.path != "/tts/websocket":
            self._violation(f"handshake: path {parts.path!r} is not /tts/websocket")
            return 404
        version = (query.get("cartesia_version") or [headers.get("cartesia-version")])[0]
        if version not in KNOWN_VERSIONS:
            self._violation(f"handshake: Cartesia-Version {version!r} is not a known version")
            return 400
        if "api_key" in query:
            self._violation("handshake: API key in the query (send the Authorization header)")
        if headers.get("authorization") != f"Bearer {self.api_key}":
            # X-API-Key was only documented up to 2025-04-16.
            legacy_ok = version <= "2025-04-16" and headers.get("x-api-key") == self.api_key
            if not legacy_ok:
                self._violation("handshake: missing or wrong 'Authorization: Bearer <key>'")
                return 401
        return None

    # --- messages -----------------------------------------------------------

    def _on_message(
        self,
        ws: trio_websocket.WebSocketConnection,
        record: ConnectionRecord,
        nursery: trio.Nursery,
        raw: str | bytes,
    ) -> None:
        now = trio.current_time()
        if isinstance(raw, bytes):
            self._violation("message: binary frame (Cartesia takes JSON text frames)")
            return
        try:
            message = json.loads(raw)
        except ValueError:
            self._violation(f"message: not JSON: {raw[:60]!r}")
            return
        if not isinstance(message, dict) or not isinstance(message.get("context_id"), str):
            self._violation(f"message: no string context_id: {raw[:80]!r}")
            return
        context_id = message["context_id"]
        if message.get("cancel") is not None:
            if message != {"context_id": context_id, "cancel": True}:
                self._violation(f"cancel: unexpected shape {message!r}")
            context = record.contexts.get(context_id)
            if context is None:
                self._violation(f"cancel: unknown context {context_id!r}")
            elif context.cancelled_at is None:
                context.cancelled_at = now
                self._notify(context)
            return
        self._check_request(message)
        context = record.contexts.get(context_id)
        if context is None:
            if context_id in self.contexts:
                self._violation(f"request: context id {context_id!r} reused across sockets")
            context = record.contexts[context_id] = ContextRecord(context_id)
            self._context_count += 1
            fixed = {k: v for k, v in message.items() if k not in _MAY_CHANGE}
            context.settings = fixed
            if self._context_count == self.error_context:
                nursery.start_soon(self._send_error, ws, context)
            else:
                nursery.start_soon(self._generate, ws, record, context)
        else:
            if context.closed:
                self._violation(f"request: {context_id!r} got input after continue=false")
            if context.cancelled_at is not None:
                self._violation(f"request: {context_id!r} got input after cancel")
            fixed = {k: v for k, v in message.items() if k not in _MAY_CHANGE}
            if fixed != context.settings:
                self._violation(f"request: {context_id!r} changed fixed fields mid-context")
        context.fragments.append((now, message.get("transcript", ""), message.get("continue")))
        if message.get("continue") is False:
            context.closed = True
        self._notify(context)

    def _check_request(self, m: dict[str, Any]) -> None:
        where = f"request {m.get('context_id')!r}"
        extra = set(m) - _REQUEST_KEYS
        if extra:
            self._violation(f"{where}: unknown fields {sorted(extra)}")
        if m.get("model_id") not in KNOWN_MODELS and not re.fullmatch(
            r"sonic-[\w.]+-\d{4}-\d{2}-\d{2}", str(m.get("model_id"))
        ):
            self._violation(f"{where}: model_id {m.get('model_id')!r} is not a Sonic model")
        if not isinstance(m.get("transcript"), str):
            self._violation(f"{where}: transcript must be a string")
        voice = m.get("voice")
        if not (
            isinstance(voice, dict)
            and set(voice) == {"mode", "id"}
            and voice["mode"] == "id"
            and isinstance(voice["id"], str)
            and voice["id"]
        ):
            self._violation(f"{where}: voice must be {{'mode': 'id', 'id': <uuid>}}: {voice!r}")
        fmt = m.get("output_format")
        if not (
            isinstance(fmt, dict)
            and set(fmt) == {"container", "encoding", "sample_rate"}
            and fmt["container"] == "raw"
            and fmt["encoding"] in ENCODINGS
            and fmt["sample_rate"] in RATES
        ):
            self._violation(f"{where}: bad output_format {fmt!r}")
        elif fmt["encoding"] != "pcm_s16le":
            self._violation(f"{where}: the fake only speaks pcm_s16le, got {fmt['encoding']!r}")
        if not isinstance(m.get("language"), str):
            self._violation(f"{where}: language must be an ISO code string")
        for key in ("continue", "add_timestamps"):
            if not isinstance(m.get(key), bool):
                self._violation(f"{where}: {key} must be a bool (sent explicitly)")
        delay = m.get("max_buffer_delay_ms")
        if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 5000:
            self._violation(f"{where}: max_buffer_delay_ms must be sent, an int in 0..5000")

    # --- synthesis ----------------------------------------------------------

    async def _send(self, ws: trio_websocket.WebSocketConnection, message: dict[str, Any]) -> None:
        await ws.send_message(json.dumps(message))

    async def _send_error(
        self, ws: trio_websocket.WebSocketConnection, context: ContextRecord
    ) -> None:
        message = {
            "type": "error",
            "context_id": context.context_id,
            "status_code": self.error_status,
            "done": True,
            "title": "Generation failed",
            "message": "fake cartesia: injected error",
            "error_code": self.error_code,
            "request_id": "fake-request",
        }
        try:
            await self._send(ws, message)
        except trio_websocket.ConnectionClosed:
            return
        context.error_sent = True
        self._notify(context)

    async def _generate(
        self, ws: trio_websocket.WebSocketConnection, record: ConnectionRecord, ctx: ContextRecord
    ) -> None:
        try:
            await trio.sleep(self.first_audio_delay)
            if self.stall:
                await trio.sleep_forever()
            emitted = 0
            while True:
                late = ctx.chunks_after_cancel >= self.late_chunks_after_cancel
                if ctx.cancelled_at is not None and late:
                    return  # a cancelled context never gets ``done``
                text = ctx.text
                # Like a real model, speak only whole words until the input is closed.
                ready = len(text) if ctx.closed else max(text.rfind(" "), text.rfind("\n")) + 1
                if emitted < ready:
                    end = min(ready, emitted + self.chars_per_chunk)
                    await self._send_chunk(ws, record, ctx, emitted, end)
                    emitted = end
                    await self._chunk_faults(ws, record)
                    await trio.sleep(self.chunk_gap)
                elif ctx.closed:
                    await self._send(ws, _done(ctx.context_id))
                    ctx.done_sent = True
                    self._notify(ctx)
                    return
                else:
                    await ctx.changed.wait()
        except trio_websocket.ConnectionClosed:
            return

    async def _send_chunk(
        self,
        ws: trio_websocket.WebSocketConnection,
        record: ConnectionRecord,
        ctx: ContextRecord,
        begin: int,
        end: int,
    ) -> None:
        text = ctx.text
        seconds = self.char_ms / 1000
        words = [w for w in re.finditer(r"\S+", text) if begin < w.end() <= end]
        stamps = {
            "type": "timestamps",
            "context_id": ctx.context_id,
            "status_code": 206,
            "done": False,
            "word_timestamps": {
                "words": [w.group() for w in words],
                "start": [round(w.start() * seconds, 3) for w in words],
                "end": [round(w.end() * seconds, 3) for w in words],
            },
        }
        pcm = encode_tones(text[begin:end], ctx.sample_rate, char_ms=self.char_ms)
        chunk = {
            "type": "chunk",
            "context_id": ctx.context_id,
            "status_code": 206,
            "done": False,
            "step_time": 12.5,
            "data": base64.b64encode(pcm).decode(),
        }
        if words and not self.timestamps_after_audio:
            await self._send(ws, stamps)
        await self._send(ws, chunk)
        if words and self.timestamps_after_audio:
            await self._send(ws, stamps)
        if ctx.first_chunk_at is None:
            ctx.first_chunk_at = trio.current_time()
        ctx.chunks_sent += 1
        record.chunks_sent += 1
        if ctx.cancelled_at is not None:
            ctx.chunks_after_cancel += 1
        self._notify(ctx)

    async def _chunk_faults(
        self, ws: trio_websocket.WebSocketConnection, record: ConnectionRecord
    ) -> None:
        malformed = self.malformed_after_chunks
        if malformed is not None and record.chunks_sent >= malformed:
            self.malformed_after_chunks = None
            await ws.send_message("{this is not json")
        if self.close_after_chunks is not None and record.chunks_sent >= self.close_after_chunks:
            self.close_after_chunks = None
            await ws.aclose(code=1011, reason="fake cartesia: dropped mid-stream")
            raise trio_websocket.ConnectionClosed(None)


def _done(context_id: str) -> dict[str, Any]:
    return {"type": "done", "context_id": context_id, "status_code": 206, "done": True}
