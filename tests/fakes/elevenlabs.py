"""A wire-faithful fake of ElevenLabs' stream-input TTS WebSocket, on 127.0.0.1.

Checks the handshake (path, ``model_id`` and ``output_format`` query, the
``xi-api-key`` header) and each message (init with ``text: " "`` first, pieces
ending in whitespace, ``{"text": ""}`` last), recording deviations in
``violations``. Buffers text like the service (generation starts at the
chunk-length schedule, on ``flush``/``try_trigger_generation`` and at the end
of input), speaks ``tone_text`` PCM with per-character ``alignment``, sends
``isFinal`` and closes. Faults: refused handshake, an error message followed
by a 1008 close, a drop mid-stream, a stall.

Use: ``fake = await nursery.start(FakeElevenLabs().serve)``; ``fake.url``.
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

from tests.fakes.tone_text import DEFAULT_CHAR_MS, encode_tones

FORMATS = {f"pcm_{rate}": rate for rate in (8000, 16000, 22050, 24000, 44100)}
_INIT_KEYS = {"text", "voice_settings", "generation_config", "pronunciation_dictionary_locators"}
_TEXT_KEYS = {"text", "flush", "try_trigger_generation"}
_VOICE_KEYS = {"stability", "similarity_boost", "style", "use_speaker_boost", "speed"}


@attrs.define(eq=False)
class StreamRecord:
    """One socket (= one utterance)."""

    path: str
    headers: dict[str, str]
    voice_id: str = ""
    query: dict[str, str] = attrs.field(factory=dict)
    init: dict[str, Any] | None = None
    fragments: list[tuple[float, str]] = attrs.field(factory=list)  # (arrival, text)
    ended: bool = False  # ``{"text": ""}`` received
    closed_by_client_early: bool = False  # closed before the end of input: a cancel
    chunks_sent: int = 0
    final_sent: bool = False

    @property
    def text(self) -> str:
        return "".join(piece for _, piece in self.fragments)


class FakeElevenLabs:
    def __init__(
        self,
        *,
        api_key: str = "test-key",
        char_ms: int = DEFAULT_CHAR_MS,
        chars_per_chunk: int = 5,
        first_audio_delay: float = 0.02,
        chunk_gap: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.char_ms = char_ms
        self.chars_per_chunk = chars_per_chunk
        self.first_audio_delay = first_audio_delay
        self.chunk_gap = chunk_gap
        # Faults.
        self.reject_status: int | None = None
        self.error_code: str | None = None  # sent after the first text, then close 1008
        self.close_after_chunks: int | None = None  # one-shot
        self.malformed_after_chunks: int | None = None  # one-shot: a frame that is not JSON
        self.stall = False
        self.streams: list[StreamRecord] = []
        self.violations: list[str] = []
        self.port = 0
        self._changed = trio.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def serve(
        self, *, task_status: trio.TaskStatus[FakeElevenLabs] = trio.TASK_STATUS_IGNORED
    ) -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                trio_websocket.serve_websocket, self._handle, "127.0.0.1", 0, None
            )
            self.port = server.port
            task_status.started(self)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while True:
            changed = self._changed
            if predicate():
                return
            await changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _violation(self, text: str) -> None:
        self.violations.append(text)
        self._notify()

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        record = StreamRecord(request.path, headers)
        self.streams.append(record)
        self._notify()
        status = self.reject_status or self._check_handshake(record)
        if status:
            await request.reject(status, body=json.dumps({"detail": "fake refused"}).encode())
            return
        ws = await request.accept()
        segments_send, segments_receive = trio.open_memory_channel[str](100)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._generate, ws, record, segments_receive)
            try:
                await self._read(ws, record, segments_send)
            except trio_websocket.ConnectionClosed:
                if not record.ended:
                    record.closed_by_client_early = True
                    self._notify()
                nursery.cancel_scope.cancel()

    def _check_handshake(self, record: StreamRecord) -> int | None:
        parts = urlsplit(record.path)
        match = re.fullmatch(r"/v1/text-to-speech/([^/]+)/stream-input", parts.path)
        if not match:
            self._violation(f"handshake: path {parts.path!r} is not .../{{voice}}/stream-input")
            return 404
        record.voice_id = match.group(1)
        record.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if not record.query.get("model_id"):
            self._violation("handshake: model_id query parameter missing")
        if record.query.get("output_format") not in FORMATS:
            self._violation(
                f"handshake: output_format {record.query.get('output_format')!r} is not PCM"
            )
            return 400
        if record.headers.get("xi-api-key") != self.api_key:
            self._violation("handshake: missing or wrong xi-api-key header")
            return 401
        return None

    async def _read(
        self,
        ws: trio_websocket.WebSocketConnection,
        record: StreamRecord,
        segments: trio.MemorySendChannel[str],
    ) -> None:
        buffered = ""
        schedule = [120, 160, 250, 290]
        while True:
            raw = await ws.get_message()
            now = trio.current_time()
            try:
                message = json.loads(raw)
            except ValueError:
                self._violation(f"message: not JSON: {raw[:60]!r}")
                continue
            if not isinstance(message, dict) or not isinstance(message.get("text"), str):
                self._violation(f"message: no string text: {raw[:80]!r}")
                continue
            if record.ended:
                self._violation("message: sent after the end of input")
                continue
            if record.init is None:
                schedule = self._check_init(message) or schedule
                record.init = message
                continue
            if set(message) - _TEXT_KEYS:
                self._violation(f"message: unknown fields {sorted(set(message) - _TEXT_KEYS)}")
            text = message["text"]
            if text == "":
                record.ended = True
                self._notify()
                await segments.send(buffered)
                await segments.aclose()
                continue
            if not text[-1].isspace():
                self._violation(f"message: text piece {text!r} does not end with whitespace")
            record.fragments.append((now, text))
            self._notify()
            if self.error_code is not None:
                await ws.send_message(
                    json.dumps(
                        {"message": "fake: injected", "error": self.error_code, "code": 1008}
                    )
                )
                await ws.aclose(code=1008, reason=self.error_code)
                return
            buffered += text
            threshold = schedule[min(len(record.fragments) - 1, len(schedule) - 1)]
            trigger = message.get("flush") or message.get("try_trigger_generation")
            if trigger or len(buffered) >= threshold:
                await segments.send(buffered)
                buffered = ""

    def _check_init(self, message: dict[str, Any]) -> list[int] | None:
        if message.get("text") != " ":
            self._violation(f"init: first message text must be one space: {message!r}")
        if set(message) - _INIT_KEYS:
            self._violation(f"init: unknown fields {sorted(set(message) - _INIT_KEYS)}")
        voice = message.get("voice_settings", {})
        if not isinstance(voice, dict) or set(voice) - _VOICE_KEYS:
            self._violation(f"init: bad voice_settings {voice!r}")
        schedule = message.get("generation_config", {}).get("chunk_length_schedule")
        if schedule is None:
            return None
        if not (isinstance(schedule, list) and all(50 <= n <= 500 for n in schedule)):
            self._violation(f"init: chunk_length_schedule {schedule!r} outside 50..500")
            return None
        return schedule

    async def _generate(
        self,
        ws: trio_websocket.WebSocketConnection,
        record: StreamRecord,
        segments: trio.MemoryReceiveChannel[str],
    ) -> None:
        rate = FORMATS.get(record.query.get("output_format", ""), 8000)
        first = True
        try:
            async for segment in segments:
                if first and segment:
                    await trio.sleep(self.first_audio_delay)
                    first = False
                if self.stall:
                    await trio.sleep_forever()
                for begin in range(0, len(segment), self.chars_per_chunk):
                    piece = segment[begin : begin + self.chars_per_chunk]
                    await ws.send_message(json.dumps(self._audio(piece, rate)))
                    record.chunks_sent += 1
                    self._notify()
                    if record.chunks_sent == self.malformed_after_chunks:
                        self.malformed_after_chunks = None
                        await ws.send_message('{"audio": ')
                    close_after = self.close_after_chunks
                    if close_after is not None and record.chunks_sent >= close_after:
                        self.close_after_chunks = None
                        await ws.aclose(code=1011, reason="fake: dropped mid-stream")
                        return
                    await trio.sleep(self.chunk_gap)
            await ws.send_message(json.dumps({"isFinal": True}))
            record.final_sent = True
            self._notify()
            await ws.aclose()
        except trio_websocket.ConnectionClosed:
            return

    def _audio(self, piece: str, rate: int) -> dict[str, Any]:
        pcm = encode_tones(piece, rate, char_ms=self.char_ms)
        alignment = {
            "chars": list(piece),
            "charStartTimesMs": [i * self.char_ms for i in range(len(piece))],
            "charsDurationsMs": [self.char_ms] * len(piece),
        }
        return {
            "audio": base64.b64encode(pcm).decode(),
            "isFinal": None,
            "normalizedAlignment": alignment,
            "alignment": alignment,
        }
