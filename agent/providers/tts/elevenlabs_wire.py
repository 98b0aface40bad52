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
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import attrs

from agent.base.config import env_float, env_int, env_str
from agent.base.errors import ConfigError, ProviderError, ProviderStatusError, RemoteProtocolError

PROVIDER = "elevenlabs"
DEFAULT_URL = "wss://api.elevenlabs.io"
PCM_RATES = (8000, 16000, 22050, 24000, 44100)
# Error codes after which a new socket with the same input may well succeed.
_RETRYABLE_ERRORS = {"input_timeout_exceeded", "max_active_conversations"}


def _ws_base(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if not re.fullmatch(r"wss?://[^/?#]+", value):
        raise ConfigError(f"{attribute.name}={value!r}: expected ws(s)://host[:port], no path")


def _not_empty(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if not value.strip():
        raise ConfigError(f"{attribute.name}: must not be empty")


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{attribute.name}={value}: must be greater than 0")


def _schedule(instance: object, attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    if not value or any(not 50 <= n <= 500 for n in value):
        raise ConfigError(f"{attribute.name}={value}: each value must be in 50..500")


@attrs.frozen
class ElevenLabsSettings:
    api_key: str = attrs.field(validator=_not_empty, repr=False)
    voice_id: str = attrs.field(validator=_not_empty)
    model_id: str = attrs.field(default="eleven_flash_v2_5", validator=_not_empty)
    url: str = attrs.field(default=DEFAULT_URL, validator=_ws_base)
    stability: float = 0.5
    similarity_boost: float = 0.75
    speed: float = 1.0
    # Smaller than the default [120, 160, 250, 290]: first audio sooner.
    chunk_length_schedule: tuple[int, ...] = attrs.field(
        default=(50, 120, 160, 250), validator=_schedule
    )
    inactivity_timeout_s: int = 20
    connect_timeout_s: float = attrs.field(default=5.0, validator=_positive)
    response_timeout_s: float = attrs.field(default=5.0, validator=_positive)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ElevenLabsSettings:
        env = os.environ if env is None else env
        for name in ("ELEVENLABS_API_KEY", "ELEVENLABS_VOICE_ID"):
            if not env.get(name, "").strip():
                raise ConfigError(f"{name} is not set (needed for the ElevenLabs TTS)")
        return cls(
            api_key=env["ELEVENLABS_API_KEY"].strip(),
            voice_id=env["ELEVENLABS_VOICE_ID"].strip(),
            model_id=env_str(env, "ELEVENLABS_MODEL", "eleven_flash_v2_5"),
            url=env_str(env, "ELEVENLABS_URL", DEFAULT_URL),
            speed=env_float(env, "ELEVENLABS_SPEED", 1.0, lo=0.7, hi=1.2),
            inactivity_timeout_s=env_int(env, "ELEVENLABS_INACTIVITY_TIMEOUT_S", 20, lo=1, hi=180),
            connect_timeout_s=env_float(env, "ELEVENLABS_CONNECT_TIMEOUT_S", 5.0, lo=0.01),
            response_timeout_s=env_float(env, "ELEVENLABS_RESPONSE_TIMEOUT_S", 5.0, lo=0.01),
        )


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
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


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
