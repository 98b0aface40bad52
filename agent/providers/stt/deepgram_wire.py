"""Deepgram live speech-to-text: the wire format, without I/O.

One WebSocket per call to ``wss://api.deepgram.com/v1/listen``, configured only
by the query string and authenticated with ``Authorization: Token <key>``.
We send raw PCM as binary frames and ``KeepAlive`` / ``Finalize`` /
``CloseStream`` as JSON text frames; the server answers with JSON ``Results``
(interim and final), ``SpeechStarted``, ``UtteranceEnd`` and a closing
``Metadata``. Timestamps restart at 0 on every connection, so parsing takes the
connection's offset into the call's audio and returns call-relative times.

What audio to send and when (replay and batching) is in ``deepgram_batch``; the
settings (``DEEPGRAM_*``) are in ``deepgram_settings``.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

from agent.base.errors import ProviderError, ProviderStatusError, RemoteProtocolError
from agent.base.events import SpeechStarted, SttEvent, Transcript, UtteranceEnd, Word
from agent.providers.stt.deepgram_settings import DeepgramSettings, uses_keyterm

PROVIDER = "deepgram"

KEEPALIVE = '{"type":"KeepAlive"}'
FINALIZE = '{"type":"Finalize"}'
CLOSE_STREAM = '{"type":"CloseStream"}'

# Close codes after which the same request may work on a new connection.
# 1008 (DATA-0000: undecodable audio) would fail again: it is our bug.
_PERMANENT_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})
# Handshake statuses worth retrying: rate limits and server trouble.
_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


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
    ]
    if settings.smart_format:
        # Smart format includes punctuation: "no need to also set punctuate=true"
        # (developers.deepgram.com/docs/smart-format).
        if settings.no_delay:
            pairs.append(("no_delay", "true"))
    else:
        pairs.append(("punctuate", _flag(settings.punctuate)))
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
    ``error``: an ``Error`` message in Deepgram's words. The stream goes on after
    one (the SDK's ``ListenV1Error``: ``SchemaError`` for a client message it could
    not parse, ``InvalidConfigureMessage``), so it is reported, not a reason to
    drop the connection.
    """

    kind: str
    events: tuple[SttEvent, ...] = ()
    final_end: float | None = None
    error: str | None = None
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
        # The answer to our Finalize ends the turn too: we sent it because the turn
        # logic decided the caller was done (Deepgram's end-of-turn guidance).
        end_of_turn=speech_final or (is_final and from_finalize),
        confidence=_number(best, "confidence", 1.0),
        start=offset + start,
        duration=duration,
        words=_words(best, offset),
        alternatives=_other_transcripts(alternatives[1:], text.strip()),
    )
    return ServerMessage("Results", (transcript,), final_end=final_end)


_MAX_OTHERS = 4  # as many as Whisper's beam gives (``whisper_decode.MAX_ALTERNATIVES``)


def _other_transcripts(others: list[Any], best: str) -> tuple[str, ...]:
    """The other alternatives' texts, in Deepgram's order (best first), when it sends
    any. It does only when asked (``alternatives=N``), which we do not: Deepgram's own
    reference for live streaming does not list it and its staff said nova-2 dropped it
    (github.com/orgs/deepgram/discussions/823). Empty ones and repeats are left out."""
    out: list[str] = []
    for other in others[: _MAX_OTHERS * 2]:  # a peer's thousand alternatives: the first few
        if len(out) == _MAX_OTHERS:
            break
        if not isinstance(other, dict):
            raise RemoteProtocolError("deepgram: an alternative is not an object")
        text = other.get("transcript", "")
        if not isinstance(text, str):
            raise RemoteProtocolError("deepgram: transcript is not a string")
        if text.strip() and text.strip() != best and text.strip() not in out:
            out.append(text.strip())
    return tuple(out)


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
        parts = [data.get(key) for key in ("variant", "code", "description")]
        detail = ": ".join(str(part) for part in parts if part) or text[:200]
        return ServerMessage(kind, error=detail)
    return ServerMessage(kind)


def caused(error: ProviderError, cause: BaseException) -> ProviderError:
    error.__cause__ = cause
    return error
