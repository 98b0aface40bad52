"""A wire-faithful fake of Cartesia's TTS WebSocket, on 127.0.0.1.

It checks the handshake (path, Bearer key, ``Cartesia-Version``) and every message
against the documented shapes (``cartesia_checks``), recording each deviation in
``violations`` (tests assert it stays empty), and records each socket and context
(``cartesia_records``). It speaks ``tone_text`` PCM for the text each context
received, chunked and paced, with word ``timestamps``, and behaves like the service
where it matters to a client: many contexts per socket, continuations, ``done`` only
after ``continue: false`` and all audio, ``cancel`` that stops a context (optionally
after a few late chunks, as a generation already running does), context expiry, and
injectable faults.

Optional fields: with ``sparse=True`` the fake sends only what the SDK's types
make required (cartesia-python 4.x WebSocket responses): chunks without
``status_code``/``step_time``, and every other ``timestamps`` message without
``word_timestamps`` (a client must not depend on fields the vendor may omit).

Expiry: Cartesia drops a context about 1 s after its last audio was streamed
out; more input on it is unsupported. Here a context that is still open
(``continue: true``), has streamed audio, has streamed all it would speak of
its text, and has had neither audio out nor input for ``context_expiry_s`` is
expired: further input on it is recorded as a violation and answered with an
``error`` for that context (and the fake says nothing more on it), so a client
that keeps a context across a long pause (a tool call) fails loudly.

Use: ``fake = await nursery.start(FakeCartesia().serve)``; ``fake.url``.
Faults are plain attributes a test may change at any time; the one-shot ones
reset themselves once fired.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
from collections.abc import Callable
from functools import partial
from typing import Any

import trio
import trio_websocket

from tests.fakes.cartesia_checks import (
    check_handshake,
    check_request,
    fixed_fields,
    handshake_version,
    voice_problem,
)
from tests.fakes.cartesia_records import ConnectionRecord, ContextRecord
from tests.fakes.tone_text import DEFAULT_CHAR_MS, encode_tones
from tests.fakes.wiretime import StampedListener, arrival, open_stamped_listener, send_stamped


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
        context_expiry_s: float = 1.0,
        sparse: bool = False,
    ) -> None:
        self.api_key = api_key
        self.char_ms = char_ms
        self.chars_per_chunk = chars_per_chunk
        self.first_audio_delay = first_audio_delay
        self.chunk_gap = chunk_gap
        self.timestamps_after_audio = timestamps_after_audio
        self.late_chunks_after_cancel = late_chunks_after_cancel
        self.context_expiry_s = context_expiry_s
        self.sparse = sparse
        self.timestamps_without_words = 0  # sent, with ``sparse``
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
        self._listener: StampedListener | None = None
        self.ssl_context: ssl.SSLContext | None = None  # serve wss:// when set
        self._context_count = 0
        self._changed = trio.Event()

    @property
    def url(self) -> str:
        scheme = "ws" if self.ssl_context is None else "wss"
        return f"{scheme}://127.0.0.1:{self.port}/tts/websocket"

    @property
    def contexts(self) -> dict[str, ContextRecord]:
        return {cid: ctx for conn in self.connections for cid, ctx in conn.contexts.items()}

    async def serve(self, *, task_status: trio.TaskStatus[FakeCartesia] = trio.TASK_STATUS_IGNORED):
        # Stamped at the socket (``wiretime``): text arrives when its bytes were
        # read, audio leaves when its first bytes were written.
        self._listener = await open_stamped_listener(self.ssl_context)
        server = trio_websocket.WebSocketServer(self._handle, [self._listener])
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            self.port = self._listener.port
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
        if self._listener is not None:
            record.wire = self._listener.stream_of(request.remote)
        self.connections.append(record)
        self._notify()
        status = self.reject_status or check_handshake(
            request.path, headers, self.api_key, self._violation
        )
        if status:
            body = json.dumps({"error": f"fake cartesia refused the handshake ({status})"})
            await request.reject(status, body=body.encode())
            return
        ws = await request.accept()
        record.accepted = True
        record.version = handshake_version(request.path, headers) or ""
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

    # --- messages -----------------------------------------------------------

    def _on_message(
        self,
        ws: trio_websocket.WebSocketConnection,
        record: ConnectionRecord,
        nursery: trio.Nursery,
        raw: str | bytes,
    ) -> None:
        now = arrival(record.wire)[0]
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
        check_request(message, self._violation, record.version)
        context = record.contexts.get(context_id)
        refused = voice_problem(message.get("voice"), record.version)
        if context is None and refused is not None:
            # Not a voice of this version: no audio, an error for the context.
            context = record.contexts[context_id] = ContextRecord(context_id)
            context.settings = fixed_fields(message)
            nursery.start_soon(
                self._send_error, ws, context, 400, "Invalid voice", refused, "invalid_request"
            )
        elif context is None:
            if context_id in self.contexts:
                self._violation(f"request: context id {context_id!r} reused across sockets")
            context = record.contexts[context_id] = ContextRecord(context_id)
            self._context_count += 1
            fixed = fixed_fields(message)
            context.settings = fixed
            if self._context_count == self.error_context:
                nursery.start_soon(
                    self._send_error,
                    ws,
                    context,
                    self.error_status,
                    "Generation failed",
                    "fake cartesia: injected error",
                    self.error_code,
                )
            else:
                nursery.start_soon(self._generate, ws, record, context)
        else:
            expires_at = context.expires_at(self.context_expiry_s)
            if context.expired_at is not None or (expires_at is not None and now >= expires_at):
                self._reject_expired(ws, nursery, context, expires_at, now)
                return
            if context.closed:
                self._violation(f"request: {context_id!r} got input after continue=false")
            if context.cancelled_at is not None:
                self._violation(f"request: {context_id!r} got input after cancel")
            fixed = fixed_fields(message)
            if fixed != context.settings:
                self._violation(f"request: {context_id!r} changed fixed fields mid-context")
        context.fragments.append((now, message.get("transcript", ""), message.get("continue")))
        context.last_input_at = now
        if message.get("continue") is False:
            context.closed = True
        self._notify(context)

    def _reject_expired(
        self,
        ws: trio_websocket.WebSocketConnection,
        nursery: trio.Nursery,
        context: ContextRecord,
        expires_at: float | None,
        now: float,
    ) -> None:
        """Input on an expired context: the reference only says "unsupported"; a
        plausible service answers with an error for that context and drops the input."""
        if context.expired_at is None:
            context.expired_at = expires_at if expires_at is not None else now
        self._violation(
            f"request: {context.context_id!r} got input {now - context.expired_at:.2f} s after"
            f" it expired ({self.context_expiry_s} s after its last audio; use a new context_id)"
        )
        nursery.start_soon(
            self._send_error,
            ws,
            context,
            400,
            "Context expired",
            f"context {context.context_id} has expired; start a new context",
            "context_expired",
        )
        self._notify(context)

    # --- synthesis ----------------------------------------------------------

    async def _send(self, ws: trio_websocket.WebSocketConnection, message: dict[str, Any]) -> None:
        await ws.send_message(json.dumps(message))

    async def _send_error(
        self,
        ws: trio_websocket.WebSocketConnection,
        context: ContextRecord,
        status: int,
        title: str,
        text: str,
        code: str | None,
    ) -> None:
        message = {
            "type": "error",
            "context_id": context.context_id,
            "status_code": status,
            "done": True,
            "title": title,
            "message": text,
            "error_code": code,
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
                if ctx.expired_at is not None:
                    return  # the service has forgotten it
                ready = ctx.speakable
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
        if self.sparse:
            del chunk["status_code"], chunk["step_time"]
            if ctx.chunks_sent % 2:
                del stamps["word_timestamps"]
                self.timestamps_without_words += 1
        if words and not self.timestamps_after_audio:
            await self._send(ws, stamps)
        if ctx.first_chunk_at is None:  # as it reaches the socket (``wiretime``)
            ctx.first_chunk_at, _ = await send_stamped(partial(self._send, ws, chunk), record.wire)
        else:
            await self._send(ws, chunk)
        if words and self.timestamps_after_audio:
            await self._send(ws, stamps)
        ctx.last_chunk_at = trio.current_time()
        ctx.spoken_chars = end
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
