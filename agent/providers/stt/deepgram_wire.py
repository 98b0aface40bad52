"""Deepgram live speech-to-text: settings and the wire format, without I/O.

One WebSocket per call to ``wss://api.deepgram.com/v1/listen``, configured only
by the query string and authenticated with ``Authorization: Token <key>``.
We send raw PCM as binary frames and ``KeepAlive`` / ``Finalize`` /
``CloseStream`` as JSON text frames; the server answers with JSON ``Results``
(interim and final), ``SpeechStarted``, ``UtteranceEnd`` and a closing
``Metadata``. Timestamps restart at 0 on every connection, so parsing takes the
connection's offset into the call's audio and returns call-relative times.

What audio to send and when (replay and batching) is in ``deepgram_batch``.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

from agent.base.config import env_bool, env_float, env_int, env_list, env_str
from agent.base.errors import (
    ConfigError,
    ProviderError,
    ProviderStatusError,
    RemoteProtocolError,
)
from agent.base.events import SpeechStarted, SttEvent, Transcript, UtteranceEnd, Word

PROVIDER = "deepgram"
DEFAULT_URL = "wss://api.deepgram.com/v1/listen"

KEEPALIVE = '{"type":"KeepAlive"}'
FINALIZE = '{"type":"Finalize"}'
CLOSE_STREAM = '{"type":"CloseStream"}'

# Audio per message (ms): one telephony frame, up to Deepgram's advised maximum.
BATCH_MS_MIN = 20
BATCH_MS_MAX = 250

# Close codes after which the same request may work on a new connection.
# 1008 (DATA-0000: undecodable audio) would fail again: it is our bug.
_PERMANENT_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})
# Handshake statuses worth retrying: rate limits and server trouble.
_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def uses_keyterm(model: str) -> bool:
    """Nova-3 takes ``keyterm``; it rejects ``keywords`` with HTTP 400 (and vice versa)."""
    return model == "nova-3" or model.startswith("nova-3-")


# --- settings ---------------------------------------------------------------


def _ws_url(instance: object, attribute: attrs.Attribute, value: str) -> None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"{attribute.name}={value!r}: expected a ws:// or wss:// URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"{attribute.name}={value!r}: no query string (settings make it)")


def _not_empty(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if not value.strip():
        raise ConfigError(f"{attribute.name}: must not be empty")


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{attribute.name}={value}: must be greater than 0")


def _non_negative(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 0:
        raise ConfigError(f"{attribute.name}={value}: must be 0 (off) or more")


def _batch_range(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not BATCH_MS_MIN <= value <= BATCH_MS_MAX:
        raise ConfigError(
            f"{attribute.name}={value}: must be {BATCH_MS_MIN} to {BATCH_MS_MAX} ms "
            "(Deepgram's advice for audio per message)"
        )


def _keyword(instance: object, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    for item in value:
        word, sep, boost = item.rpartition(":") if ":" in item else (item, "", "")
        if not word.strip():
            raise ConfigError(f"{attribute.name}: {item!r} has no word")
        if sep:
            try:
                float(boost)
            except ValueError:
                raise ConfigError(
                    f"{attribute.name}: {item!r}: expected WORD or WORD:BOOST (a number)"
                ) from None


@attrs.frozen
class DeepgramSettings:
    api_key: str = attrs.field(validator=_not_empty, repr=False)
    url: str = attrs.field(default=DEFAULT_URL, validator=_ws_url)
    model: str = attrs.field(default="nova-3", validator=_not_empty)
    language: str = attrs.field(default="en-GB", validator=_not_empty)
    interim_results: bool = True
    # Silence (ms) after which Deepgram marks speech_final; 0 sends endpointing=false.
    endpointing_ms: int = attrs.field(default=400, validator=_non_negative)
    # Word gap (ms) for UtteranceEnd; 0 leaves it out. Needs interim_results.
    utterance_end_ms: int = attrs.field(default=1000, validator=_non_negative)
    vad_events: bool = True
    smart_format: bool = True
    punctuate: bool = True
    keyterms: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    keywords: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_keyword)
    # Deepgram closes a connection after ~10 s without data; 3-5 s is advised.
    keepalive_s: float = attrs.field(default=4.0, validator=_positive)
    reconnect_initial_s: float = attrs.field(default=0.25, validator=_positive)
    reconnect_max_s: float = attrs.field(default=4.0, validator=_positive)
    # Consecutive failed connection attempts before the session gives up.
    reconnect_attempts: int = attrs.field(default=5, validator=_non_negative)
    # Audio kept for replay (unsent, or sent but not yet covered by a final).
    max_buffer_s: float = attrs.field(default=10.0, validator=_positive)
    connect_timeout_s: float = attrs.field(default=5.0, validator=_positive)
    # After CloseStream: how long to wait for the last results and the close.
    close_timeout_s: float = attrs.field(default=3.0, validator=_positive)
    # Caller audio per message while the caller talks (20 = every 20 ms frame on
    # its own). Deepgram advises 20-250 ms; around a pause frames go one by one.
    batch_ms: int = attrs.field(default=100, validator=_batch_range)

    def __attrs_post_init__(self) -> None:
        if self.utterance_end_ms and not self.interim_results:
            raise ConfigError("utterance_end_ms needs interim_results=true (Deepgram ignores it)")
        if self.keywords and uses_keyterm(self.model):
            raise ConfigError(
                f"keywords are not supported by {self.model} (Deepgram answers HTTP 400); "
                "use keyterms (DEEPGRAM_KEYTERMS)"
            )
        if self.keyterms and not uses_keyterm(self.model):
            raise ConfigError(
                f"keyterms are a nova-3 feature, not {self.model}; use keywords (DEEPGRAM_KEYWORDS)"
            )
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ConfigError(
                f"reconnect_max_s={self.reconnect_max_s} is below "
                f"reconnect_initial_s={self.reconnect_initial_s}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeepgramSettings:
        env = os.environ if env is None else env
        api_key = env_str(env, "DEEPGRAM_API_KEY", "")
        if not api_key:
            raise ConfigError("DEEPGRAM_API_KEY is not set")
        return cls(
            api_key=api_key,
            url=env_str(env, "DEEPGRAM_URL", DEFAULT_URL),
            model=env_str(env, "DEEPGRAM_MODEL", "nova-3"),
            language=env_str(env, "DEEPGRAM_LANGUAGE", "en-GB"),
            interim_results=env_bool(env, "DEEPGRAM_INTERIM_RESULTS", True),
            endpointing_ms=env_int(env, "DEEPGRAM_ENDPOINTING_MS", 400, lo=0, hi=60000),
            utterance_end_ms=env_int(env, "DEEPGRAM_UTTERANCE_END_MS", 1000, lo=0, hi=60000),
            vad_events=env_bool(env, "DEEPGRAM_VAD_EVENTS", True),
            smart_format=env_bool(env, "DEEPGRAM_SMART_FORMAT", True),
            punctuate=env_bool(env, "DEEPGRAM_PUNCTUATE", True),
            keyterms=env_list(env, "DEEPGRAM_KEYTERMS"),
            keywords=env_list(env, "DEEPGRAM_KEYWORDS"),
            keepalive_s=env_float(env, "DEEPGRAM_KEEPALIVE_S", 4.0, lo=0.1, hi=9.0),
            reconnect_initial_s=env_float(env, "DEEPGRAM_RECONNECT_INITIAL_S", 0.25, lo=0.01),
            reconnect_max_s=env_float(env, "DEEPGRAM_RECONNECT_MAX_S", 4.0, lo=0.01),
            reconnect_attempts=env_int(env, "DEEPGRAM_RECONNECT_ATTEMPTS", 5, lo=0, hi=100),
            max_buffer_s=env_float(env, "DEEPGRAM_MAX_BUFFER_S", 10.0, lo=0.1, hi=600.0),
            connect_timeout_s=env_float(env, "DEEPGRAM_CONNECT_TIMEOUT_S", 5.0, lo=0.1),
            close_timeout_s=env_float(env, "DEEPGRAM_CLOSE_TIMEOUT_S", 3.0, lo=0.1),
            batch_ms=env_int(env, "DEEPGRAM_BATCH_MS", 100, lo=BATCH_MS_MIN, hi=BATCH_MS_MAX),
        )


# --- handshake ----------------------------------------------------------------


def _flag(value: bool) -> str:
    return "true" if value else "false"


def listen_query(settings: DeepgramSettings, sample_rate: int) -> list[tuple[str, str]]:
    """The query pairs, in a stable order; repeatable parameters appear repeated."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate={sample_rate}: must be positive")
    pairs = [
        ("model", settings.model),
        ("language", settings.language),
        # Both are mandatory for raw audio: without them only a Metadata comes back.
        ("encoding", "linear16"),
        ("sample_rate", str(sample_rate)),
        ("channels", "1"),
        ("interim_results", _flag(settings.interim_results)),
        ("endpointing", str(settings.endpointing_ms) if settings.endpointing_ms else "false"),
    ]
    if settings.utterance_end_ms and settings.interim_results:
        pairs.append(("utterance_end_ms", str(settings.utterance_end_ms)))
    pairs += [
        ("vad_events", _flag(settings.vad_events)),
        ("smart_format", _flag(settings.smart_format)),
        ("punctuate", _flag(settings.punctuate)),
    ]
    if uses_keyterm(settings.model):
        pairs += [("keyterm", term) for term in settings.keyterms]
    else:
        pairs += [("keywords", word) for word in settings.keywords]
    return pairs


def listen_url(settings: DeepgramSettings, sample_rate: int) -> str:
    query = urllib.parse.urlencode(
        listen_query(settings, sample_rate), quote_via=urllib.parse.quote
    )
    return f"{settings.url}?{query}"


def handshake_headers(settings: DeepgramSettings) -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", f"Token {settings.api_key}".encode())]


@attrs.frozen
class Endpoint:
    """Where a ws/wss URL points: what the TCP connect and the HTTP request need."""

    host: str
    port: int
    resource: str  # path and query, the HTTP request target
    tls: bool

    @property
    def host_header(self) -> str:
        default = 443 if self.tls else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def split_url(url: str) -> Endpoint:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"{url!r}: expected a ws:// or wss:// URL")
    tls = parts.scheme == "wss"
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Endpoint(parts.hostname, parts.port or (443 if tls else 80), resource, tls)


def _header(headers: tuple[tuple[bytes, bytes], ...], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def rejection_error(
    status: int, headers: tuple[tuple[bytes, bytes], ...], body: bytes | None
) -> ProviderStatusError:
    """A refused upgrade. 401/403 (bad key), 400 (bad parameter), 402: permanent."""
    detail = _header(headers, b"dg-error") or (body or b"").decode("utf-8", "replace").strip()
    retry_after = None
    raw_retry = _header(headers, b"retry-after")
    if raw_retry is not None:
        try:
            retry_after = max(0.0, float(raw_retry))
        except ValueError:
            retry_after = None  # an HTTP date: fall back to our own backoff
    message = f"handshake rejected with HTTP {status}" + (f": {detail[:200]}" if detail else "")
    return ProviderStatusError(
        PROVIDER,
        message,
        status=status,
        retryable=status in _RETRYABLE_STATUSES,
        retry_after=retry_after,
    )


def close_error(code: int, reason: str | None) -> ProviderStatusError:
    """The server closed the socket while we still wanted transcripts."""
    text = f"connection closed with {code}" + (f" {reason}" if reason else "")
    return ProviderStatusError(
        PROVIDER, text, status=code, retryable=code not in _PERMANENT_CLOSE_CODES
    )


def backoff_delay(failures: int, initial: float, maximum: float) -> float:
    """Seconds to wait before the next attempt after ``failures`` failed ones in a row."""
    if failures <= 0:
        return 0.0
    return min(maximum, initial * 2 ** (failures - 1))


# --- server messages ----------------------------------------------------------


@attrs.frozen
class ServerMessage:
    """One parsed server message.

    ``final_end``: for a final ``Results``, where (seconds, connection-relative)
    the audio it covers ends; everything before it will never be re-sent.
    ``error``: an in-band error report; the connection should be dropped.
    """

    kind: str
    events: tuple[SttEvent, ...] = ()
    final_end: float | None = None
    error: ProviderError | None = None
    request_id: str = ""


def _number(obj: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RemoteProtocolError(f"deepgram: field {key!r} is not a number: {value!r}")
    return float(value)


def _words(alternative: Mapping[str, Any], offset: float) -> tuple[Word, ...]:
    words = alternative.get("words", [])
    if not isinstance(words, list):
        raise RemoteProtocolError("deepgram: 'words' is not a list")
    out = []
    for word in words:
        if not isinstance(word, dict):
            raise RemoteProtocolError("deepgram: a word is not an object")
        text = word.get("punctuated_word") or word.get("word")
        if not isinstance(text, str):
            raise RemoteProtocolError(f"deepgram: word without text: {word!r}")
        out.append(
            Word(
                text=text,
                start=offset + _number(word, "start"),
                end=offset + _number(word, "end"),
                confidence=_number(word, "confidence", 1.0),
            )
        )
    return tuple(out)


def _results(data: Mapping[str, Any], offset: float) -> ServerMessage:
    channel = data.get("channel")
    alternatives = channel.get("alternatives") if isinstance(channel, dict) else None
    if not isinstance(alternatives, list):
        raise RemoteProtocolError("deepgram: Results without channel.alternatives")
    is_final = data.get("is_final") is True
    speech_final = data.get("speech_final") is True
    from_finalize = data.get("from_finalize") is True
    start = _number(data, "start", 0.0)
    duration = _number(data, "duration", 0.0)
    final_end = start + duration if is_final else None
    best = alternatives[0] if alternatives else {}
    if not isinstance(best, dict):
        raise RemoteProtocolError("deepgram: an alternative is not an object")
    text = best.get("transcript", "")
    if not isinstance(text, str):
        raise RemoteProtocolError("deepgram: transcript is not a string")
    # An empty interim says nothing. An empty final matters only when it ends the
    # turn (speech_final) or answers our Finalize: the turn logic waits for those.
    if not text.strip() and not (is_final and (speech_final or from_finalize)):
        return ServerMessage("Results", final_end=final_end)
    transcript = Transcript(
        text=text.strip(),
        is_final=is_final,
        end_of_turn=speech_final,
        confidence=_number(best, "confidence", 1.0),
        start=offset + start,
        duration=duration,
        words=_words(best, offset),
    )
    return ServerMessage("Results", (transcript,), final_end=final_end)


def parse_message(text: str, *, offset: float = 0.0) -> ServerMessage:
    """Parse one server text frame; ``offset`` is the connection's start in the call (s).

    Raises ``RemoteProtocolError`` for a frame that is not the documented JSON.
    Unknown types are returned with no events (Deepgram adds types over time).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RemoteProtocolError(f"deepgram: message is not JSON: {text[:80]!r}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise RemoteProtocolError(f"deepgram: message without a type: {text[:80]!r}")
    kind = data["type"]
    if kind == "Results":
        return _results(data, offset)
    if kind == "SpeechStarted":
        return ServerMessage(kind, (SpeechStarted(offset + _number(data, "timestamp", 0.0)),))
    if kind == "UtteranceEnd":
        return ServerMessage(kind, (UtteranceEnd(offset + _number(data, "last_word_end", 0.0)),))
    if kind == "Metadata":
        request_id = data.get("request_id")
        return ServerMessage(kind, request_id=request_id if isinstance(request_id, str) else "")
    if kind == "Error":
        detail = data.get("description") or data.get("message") or data.get("variant") or text
        return ServerMessage(kind, error=ProviderError(PROVIDER, str(detail), retryable=True))
    return ServerMessage(kind)
