"""Cartesia Sonic streaming TTS: settings and the wire format, without I/O.

One WebSocket (``wss://api.cartesia.ai/tts/websocket``) carries many
"contexts"; each agent turn is one context fed with ``continue: true`` pieces
and closed by an empty transcript with ``continue: false`` (or several in a
row when its text pauses past a context's ~1 s lifetime). Auth is
``Authorization: Bearer <key>`` plus a pinned ``Cartesia-Version`` header.
Server messages are JSON with a ``type``: ``chunk`` (base64 PCM),
``timestamps`` (word timings, seconds from the context's start), ``flush_done``,
``done`` and ``error``. Parsing is lenient about extra fields (Cartesia adds
fields within a version) and strict about the fields we use.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from agent.base.errors import ConfigError, ProviderError, ProviderStatusError, RemoteProtocolError
from agent.base.jsontext import compact_json
from agent.base.settings import Env, default_of, read_settings, setting

PROVIDER = "cartesia"
DEFAULT_URL = default_of("CARTESIA_URL")
# Pinned: field defaults (max_buffer_delay_ms above all) change between versions.
# This is the date the official SDK 4.0.1 sends together with Bearer auth.
DEFAULT_VERSION = default_of("CARTESIA_VERSION")
OUTPUT_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
# The first API version whose voice is the bare id: cartesia-python 4.0.0 ("generate SDKs
# for Cartesia-Version 2026-08-14") dropped ``mode`` from the voice specifier, and the
# 4.x README passes ``voice="<uuid>"``. Earlier versions take {"mode": "id", "id": ...}
# (docs.cartesia.ai, versions 2024-06-10 .. 2026-03-01).
VOICE_ID_ONLY_SINCE = "2026-08-14"


def voice_field(version: str, voice_id: str) -> str | dict[str, str]:
    """The ``voice`` of a generation request as API version ``version`` defines it."""
    if version >= VOICE_ID_ONLY_SINCE:  # ISO dates compare as strings
        return voice_id
    return {"mode": "id", "id": voice_id}


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{attribute.name}={value}: must be greater than 0")


def _idle_close(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not 0 < value < 1.0:
        raise ConfigError(f"{attribute.name}={value}: must be in (0, 1) s, before contexts expire")


@attrs.frozen
class CartesiaSettings:
    api_key: str = setting("CARTESIA_API_KEY", default=attrs.NOTHING, repr=False)
    voice_id: str = setting("CARTESIA_VOICE_ID", default=attrs.NOTHING)
    url: str = setting("CARTESIA_URL")
    version: str = setting("CARTESIA_VERSION")
    model_id: str = setting("CARTESIA_MODEL")
    language: str = setting("CARTESIA_LANGUAGE")
    # Always sent: the server default is 0 or 3000 depending on the version.
    # A few hundred ms lets the server gather a phrase from streamed tokens.
    max_buffer_delay_ms: int = setting("CARTESIA_MAX_BUFFER_DELAY_MS")
    add_timestamps: bool = setting("CARTESIA_TIMESTAMPS")
    connect_timeout_s: float = setting("CARTESIA_CONNECT_TIMEOUT_S")
    # No message for a context this long after we sent it text: the turn fails.
    response_timeout_s: float = setting("CARTESIA_RESPONSE_TIMEOUT_S")
    # Budget for the shielded cancel message on barge-in.
    cancel_timeout_s: float = attrs.field(default=0.5, validator=_positive)
    # A turn's context idle this long (its text paused, e.g. for a tool call) is
    # closed and the turn goes on on a new one: Cartesia expires a context ~1 s
    # after its last audio. Why 0.5: see agent/providers/cartesia_contexts.py.
    context_idle_close_s: float = attrs.field(default=0.5, validator=_idle_close)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CartesiaSettings:
        reader = Env.of(env)
        for name in ("CARTESIA_API_KEY", "CARTESIA_VOICE_ID"):
            if not reader.is_set(name):
                raise ConfigError(
                    f"{name} is not set: needed for the Cartesia TTS"
                    " (or choose the offline stack explicitly: VOICE_AGENT_OFFLINE=1)"
                )
        return read_settings(cls, reader)


# --- client -> server ---------------------------------------------------------


def connect_headers(settings: CartesiaSettings) -> list[tuple[bytes, bytes]]:
    return [
        (b"Authorization", f"Bearer {settings.api_key}".encode()),
        (b"Cartesia-Version", settings.version.encode()),
    ]


def generation_request(
    settings: CartesiaSettings,
    *,
    context_id: str,
    transcript: str,
    more: bool,
    sample_rate: int,
) -> dict[str, Any]:
    """One piece of a context; every field but ``transcript``/``continue`` is fixed."""
    if sample_rate not in OUTPUT_RATES:
        raise ConfigError(f"sample_rate={sample_rate}: Cartesia outputs {OUTPUT_RATES}")
    return {
        "context_id": context_id,
        "model_id": settings.model_id,
        "transcript": transcript,
        "voice": voice_field(settings.version, settings.voice_id),
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": sample_rate},
        "language": settings.language,
        "continue": more,
        "max_buffer_delay_ms": settings.max_buffer_delay_ms,
        "add_timestamps": settings.add_timestamps,
    }


def cancel_request(context_id: str) -> dict[str, Any]:
    return {"context_id": context_id, "cancel": True}


def encode(message: Mapping[str, Any]) -> str:
    return compact_json(message)


# --- server -> client ---------------------------------------------------------


@attrs.frozen
class Chunk:
    context_id: str
    pcm: bytes
    flush_id: int | None = None


@attrs.frozen
class Timestamps:
    context_id: str
    words: tuple[str, ...]
    starts: tuple[float, ...]
    ends: tuple[float, ...]


@attrs.frozen
class FlushDone:
    context_id: str
    flush_id: int | None


@attrs.frozen
class Done:
    context_id: str


@attrs.frozen
class ServerError:
    """An ``error`` message; ``context_id`` is None for connection-level errors."""

    context_id: str | None
    status: int | None
    message: str
    error_code: str | None = None


@attrs.frozen
class Other:
    """A message type we do not use (``phoneme_timestamps``, newer additions)."""

    type: str
    context_id: str | None


ServerMessage = Chunk | Timestamps | FlushDone | Done | ServerError | Other


def parse_message(raw: str | bytes) -> ServerMessage:
    """Parse one server message; ``RemoteProtocolError`` names what is wrong."""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RemoteProtocolError(f"{PROVIDER}: message is not JSON: {raw[:80]!r}") from exc
    if not isinstance(message, dict):
        raise RemoteProtocolError(f"{PROVIDER}: message is not a JSON object: {raw[:80]!r}")
    kind = message.get("type")
    context_id = message.get("context_id")
    if context_id is not None and not isinstance(context_id, str):
        raise RemoteProtocolError(f"{PROVIDER}: context_id is not a string: {context_id!r}")
    if kind == "error":
        return _error(message, context_id)
    if kind in ("chunk", "timestamps", "flush_done", "done") and context_id is None:
        raise RemoteProtocolError(f"{PROVIDER}: {kind} message without context_id")
    if kind == "chunk":
        data = message.get("data")
        if not isinstance(data, str):
            raise RemoteProtocolError(f"{PROVIDER}: chunk without base64 data")
        try:
            pcm = base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise RemoteProtocolError(f"{PROVIDER}: chunk data is not base64") from exc
        return Chunk(context_id, pcm, _int_or_none(message.get("flush_id")))
    if kind == "timestamps":
        return _timestamps(message, context_id)
    if kind == "flush_done":
        return FlushDone(context_id, _int_or_none(message.get("flush_id")))
    if kind == "done":
        return Done(context_id)
    if not isinstance(kind, str):
        raise RemoteProtocolError(f"{PROVIDER}: message without a type: {raw[:80]!r}")
    return Other(kind, context_id)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _timestamps(message: dict[str, Any], context_id: str) -> Timestamps:
    table = message.get("word_timestamps")
    if table is None:
        # Optional in the SDK's types (cartesia-python 4.x WebSocket responses): a
        # timestamps message may carry none, e.g. only phoneme timings.
        return Timestamps(context_id, (), (), ())
    if not isinstance(table, dict):
        raise RemoteProtocolError(f"{PROVIDER}: timestamps without word_timestamps")
    words, starts, ends = table.get("words"), table.get("start"), table.get("end")
    if not (isinstance(words, list) and isinstance(starts, list) and isinstance(ends, list)):
        raise RemoteProtocolError(f"{PROVIDER}: word_timestamps needs words/start/end lists")
    if not len(words) == len(starts) == len(ends):
        raise RemoteProtocolError(f"{PROVIDER}: word_timestamps lists differ in length")
    try:
        return Timestamps(
            context_id,
            tuple(str(w) for w in words),
            tuple(float(s) for s in starts),
            tuple(float(e) for e in ends),
        )
    except (TypeError, ValueError) as exc:
        raise RemoteProtocolError(f"{PROVIDER}: word_timestamps times are not numbers") from exc


def _error(message: dict[str, Any], context_id: str | None) -> ServerError:
    status = _int_or_none(message.get("status_code"))
    parts = [message.get(key) for key in ("title", "message", "error")]
    text = ": ".join(str(part) for part in parts if part) or "unspecified error"
    code = message.get("error_code")
    return ServerError(context_id, status, text, code if isinstance(code, str) else None)


# --- errors -------------------------------------------------------------------

# Errors that a later, identical request may not hit: rate limits, overload, 5xx.
_RETRYABLE_STATUS = {408, 425, 429}
_PERMANENT_CODES = {"model_sunsetted"}


def retryable_status(status: int) -> bool:
    return status in _RETRYABLE_STATUS or status >= 500


def retry_after(headers: Sequence[tuple[bytes, bytes]]) -> float | None:
    for name, value in headers:
        if name.lower() == b"retry-after":
            try:
                return max(0.0, float(value.decode().strip()))
            except ValueError:
                return None
    return None


def handshake_error(
    status: int, headers: Sequence[tuple[bytes, bytes]] = (), body: bytes | None = None
) -> ProviderStatusError:
    detail = (body or b"").decode("utf-8", "replace").strip()[:200]
    what = {401: "API key rejected", 403: "access denied", 429: "too many connections"}.get(
        status, "handshake refused"
    )
    return ProviderStatusError(
        PROVIDER,
        f"{what} (HTTP {status}){': ' + detail if detail else ''}",
        status=status,
        retryable=retryable_status(status),
        retry_after=retry_after(headers),
    )


def server_error(error: ServerError) -> ProviderError:
    if error.status is None:
        return ProviderError(PROVIDER, error.message, retryable=False)
    retryable = retryable_status(error.status) and error.error_code not in _PERMANENT_CODES
    return ProviderStatusError(
        PROVIDER,
        f"{error.message} (status {error.status})",
        status=error.status,
        retryable=retryable,
    )


# --- alignment of word timestamps onto audio chunks ---------------------------


class WordAligner:
    """Gives each audio chunk of one context the text it finishes speaking.

    A word belongs to the chunk in which it *ends*, so text is only ever
    claimed as heard once all of it has been played. Timestamps may arrive
    before or after the audio they describe; words that turn up late go with
    the next chunk, and words still pending at ``done`` with ``finish()``. The
    text returned is cut from what was sent (spaces and punctuation kept), so
    the pieces concatenate back to the transcript (up to trailing whitespace).
    """

    # Timestamps are rounded by the server; allow a little slack at chunk ends.
    _SLACK_S = 0.005

    def __init__(self, sample_rate: int) -> None:
        self._bytes_per_s = 2 * sample_rate
        self._audio_bytes = 0
        self._sent = ""
        self._cursor = 0
        self._pending: deque[tuple[str, float]] = deque()

    def add_sent_text(self, text: str) -> None:
        self._sent += text

    def add_timestamps(self, words: Sequence[str], ends: Sequence[float]) -> None:
        self._pending.extend(zip(words, ends, strict=True))

    def text_for_chunk(self, pcm_bytes: int) -> str:
        self._audio_bytes += pcm_bytes
        played_until = self._audio_bytes / self._bytes_per_s + self._SLACK_S
        pieces = []
        while self._pending and self._pending[0][1] <= played_until:
            pieces.append(self._cut(self._pending.popleft()[0]))
        return "".join(pieces)

    def finish(self, *, keep_whitespace: bool = False) -> str:
        """Text not yet given to a chunk (late timestamps, or none at all).

        Whitespace alone is dropped unless ``keep_whitespace``: a turn that goes
        on on another context keeps the space between its sentences."""
        pieces = [self._cut(word) for word, _ in self._pending]
        self._pending.clear()
        rest = self._sent[self._cursor :]
        self._cursor = len(self._sent)
        text = "".join(pieces) + rest
        return text if keep_whitespace or text.strip() else ""

    def _cut(self, word: str) -> str:
        index = self._sent.find(word, self._cursor)
        if index < 0:
            # Normalised by the server ("$5" -> "five dollars"): the sent text it
            # stands for is claimed with the next word found, never early.
            return ""
        piece = self._sent[self._cursor : index + len(word)]
        self._cursor = index + len(word)
        return piece
