"""ElevenLabs "stream-input" TTS WebSocket: settings and wire format, without I/O.

One socket per utterance: ``wss://api.elevenlabs.io/v1/text-to-speech/{voice}/
stream-input?model_id=…&output_format=pcm_8000``, key in the ``xi-api-key``
header. We send an initial message whose text is one space (with the voice
and generation settings), then text pieces that each end with whitespace, and
``{"text": ""}`` to end the input. The server answers with base64 ``audio``
plus per-character ``alignment`` and finally ``isFinal: true``. Errors are a
JSON object ``{"message", "error", "code": 1008}`` followed by a close.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import attrs

from agent.base.errors import ConfigError, ProviderError, ProviderStatusError, RemoteProtocolError
from agent.base.jsontext import compact_json
from agent.base.settings import Env, default_of, read_settings, setting

PROVIDER = "elevenlabs"
DEFAULT_URL = default_of("ELEVENLABS_URL")
PCM_RATES = (8000, 16000, 22050, 24000, 44100)
# Error codes after which a new socket with the same input may well succeed.
_RETRYABLE_ERRORS = {"input_timeout_exceeded", "max_active_conversations"}


def _schedule(instance: object, attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    if not value or any(not 50 <= n <= 500 for n in value):
        raise ConfigError(f"{attribute.name}={value}: each value must be in 50..500")


@attrs.frozen
class ElevenLabsSettings:
    api_key: str = setting("ELEVENLABS_API_KEY", default=attrs.NOTHING, repr=False)
    voice_id: str = setting("ELEVENLABS_VOICE_ID", default=attrs.NOTHING)
    model_id: str = setting("ELEVENLABS_MODEL")
    url: str = setting("ELEVENLABS_URL")
    stability: float = 0.5
    similarity_boost: float = 0.75
    speed: float = setting("ELEVENLABS_SPEED")
    # Smaller than the default [120, 160, 250, 290]: first audio sooner.
    chunk_length_schedule: tuple[int, ...] = attrs.field(
        default=(50, 120, 160, 250), validator=_schedule
    )
    inactivity_timeout_s: int = setting("ELEVENLABS_INACTIVITY_TIMEOUT_S")
    connect_timeout_s: float = setting("ELEVENLABS_CONNECT_TIMEOUT_S")
    response_timeout_s: float = setting("ELEVENLABS_RESPONSE_TIMEOUT_S")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ElevenLabsSettings:
        reader = Env.of(env)
        for name in ("ELEVENLABS_API_KEY", "ELEVENLABS_VOICE_ID"):
            if not reader.is_set(name):
                raise ConfigError(
                    f"{name} is not set: needed for the ElevenLabs TTS"
                    " (or choose the offline stack explicitly: VOICE_AGENT_OFFLINE=1)"
                )
        return read_settings(cls, reader)


def output_format(sample_rate: int) -> str:
    if sample_rate not in PCM_RATES:
        raise ConfigError(f"sample_rate={sample_rate}: ElevenLabs PCM rates are {PCM_RATES}")
    return f"pcm_{sample_rate}"


def stream_url(settings: ElevenLabsSettings, sample_rate: int) -> str:
    query = urlencode(
        {
            "model_id": settings.model_id,
            "output_format": output_format(sample_rate),
            "inactivity_timeout": settings.inactivity_timeout_s,
        }
    )
    voice = quote(settings.voice_id, safe="")
    return f"{settings.url}/v1/text-to-speech/{voice}/stream-input?{query}"


def connect_headers(settings: ElevenLabsSettings) -> list[tuple[bytes, bytes]]:
    return [(b"xi-api-key", settings.api_key.encode())]


def init_message(settings: ElevenLabsSettings) -> dict[str, Any]:
    return {
        "text": " ",
        "voice_settings": {
            "stability": settings.stability,
            "similarity_boost": settings.similarity_boost,
            "speed": settings.speed,
        },
        "generation_config": {"chunk_length_schedule": list(settings.chunk_length_schedule)},
    }


def text_message(text: str) -> dict[str, Any]:
    """A piece ending in whitespace; a finished sentence is flushed at once."""
    if not text or not text[-1].isspace():
        raise ValueError(f"ElevenLabs text pieces must end with whitespace: {text!r}")
    if re.search(r"[.!?;:]\s+$", text):
        return {"text": text, "flush": True}
    return {"text": text, "try_trigger_generation": True}


END_OF_INPUT: dict[str, Any] = {"text": ""}


def split_words(held: str) -> tuple[str, str]:
    """(what can be sent now: up to the last whitespace, what to hold back)."""
    cut = max(held.rfind(" "), held.rfind("\n"), held.rfind("\t")) + 1
    return held[:cut], held[cut:]


def encode(message: Mapping[str, Any]) -> str:
    return compact_json(message)


@attrs.frozen
class Audio:
    pcm: bytes
    text: str  # the characters this chunk speaks (alignment), "" if none given


@attrs.frozen
class Final:
    pass


@attrs.frozen
class ServerError:
    code: str
    message: str
    status: int | None = None


ServerMessage = Audio | Final | ServerError


def parse_message(raw: str | bytes) -> ServerMessage:
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RemoteProtocolError(f"{PROVIDER}: message is not JSON: {raw[:80]!r}") from exc
    if not isinstance(message, dict):
        raise RemoteProtocolError(f"{PROVIDER}: message is not a JSON object: {raw[:80]!r}")
    if "error" in message and "audio" not in message:
        status = message.get("code")
        return ServerError(
            str(message.get("error")),
            str(message.get("message", "")),
            status if isinstance(status, int) and not isinstance(status, bool) else None,
        )
    audio = message.get("audio")
    pcm = b""
    if audio:
        if not isinstance(audio, str):
            raise RemoteProtocolError(f"{PROVIDER}: audio is not a base64 string")
        try:
            pcm = base64.b64decode(audio, validate=True)
        except binascii.Error as exc:
            raise RemoteProtocolError(f"{PROVIDER}: audio is not base64") from exc
    if pcm:
        return Audio(pcm, _aligned_text(message))
    if message.get("isFinal") or message.get("is_final"):
        return Final()
    return Audio(b"", _aligned_text(message))


def _aligned_text(message: dict[str, Any]) -> str:
    alignment = message.get("alignment") or message.get("normalizedAlignment")
    if not isinstance(alignment, dict):
        return ""
    chars = alignment.get("chars")
    if not isinstance(chars, list) or not all(isinstance(c, str) for c in chars):
        raise RemoteProtocolError(f"{PROVIDER}: alignment.chars is not a list of strings")
    return "".join(chars)


def server_error(error: ServerError) -> ProviderError:
    text = f"{error.code}: {error.message}" if error.message else error.code
    retryable = error.code in _RETRYABLE_ERRORS
    if error.status is None:
        return ProviderError(PROVIDER, text, retryable=retryable)
    return ProviderStatusError(PROVIDER, text, status=error.status, retryable=retryable)


def handshake_error(
    status: int, headers: Any = (), body: bytes | None = None
) -> ProviderStatusError:
    detail = (body or b"").decode("utf-8", "replace").strip()[:200]
    retry_after = None
    for name, value in headers or ():
        if name.lower() == b"retry-after":
            try:
                retry_after = max(0.0, float(value.decode()))
            except ValueError:
                retry_after = None
    return ProviderStatusError(
        PROVIDER,
        f"handshake refused (HTTP {status}){': ' + detail if detail else ''}",
        status=status,
        retryable=status in (408, 425, 429) or status >= 500,
        retry_after=retry_after,
    )
