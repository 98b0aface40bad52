"""What the fake Cartesia checks on the handshake and each generation request.

The documented shapes (reference: cartesia-tts-websocket.md §1-2) of the API
version the handshake named; each deviation is reported through ``violation``.
The voice: versions up to 2026-03-01 take ``{"mode": "id", "id": <uuid>}``;
2026-08-14 (cartesia-python 4.0.0, read 2026-12-02) dropped ``mode``: the voice
is the id string (or ``{"id": <uuid>}``). Whether the real service refuses the
old shape under the new version is not documented; this fake refuses it, so a
client that sends it finds out here rather than on a live call.
``language`` and ``locale`` are never both accepted. Pure: no trio.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

KNOWN_VERSIONS = ("2024-06-10", "2024-11-13", "2025-04-16", "2026-03-01", "2026-08-14")
KNOWN_MODELS = ("sonic-3", "sonic-3.5", "sonic-latest", "sonic-2", "sonic-turbo")
ENCODINGS = ("pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw")
RATES = (8000, 16000, 22050, 24000, 44100, 48000)
REQUEST_KEYS = {
    "context_id", "model_id", "transcript", "voice", "output_format", "language", "continue",
    "max_buffer_delay_ms", "add_timestamps", "add_phoneme_timestamps",
    "use_normalized_timestamps", "generation_config", "pronunciation_dict_id", "flush",
    "speed", "duration", "locale",
}  # fmt: skip
VOICE_ID_ONLY_SINCE = "2026-08-14"
# Every field but these must stay the same across one context's messages.
MAY_CHANGE = {"transcript", "continue", "duration", "flush"}


def fixed_fields(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in MAY_CHANGE}


def check_handshake(
    path: str, headers: dict[str, str], api_key: str, violation: Callable[[str], None]
) -> int | None:
    """The HTTP status to refuse the handshake with, or None to accept it."""
    parts = urlsplit(path)
    query = parse_qs(parts.query)
    if parts.path != "/tts/websocket":
        violation(f"handshake: path {parts.path!r} is not /tts/websocket")
        return 404
    version = (query.get("cartesia_version") or [headers.get("cartesia-version")])[0]
    if version not in KNOWN_VERSIONS:
        violation(f"handshake: Cartesia-Version {version!r} is not a known version")
        return 400
    if "api_key" in query:
        violation("handshake: API key in the query (send the Authorization header)")
    if headers.get("authorization") != f"Bearer {api_key}":
        # X-API-Key was only documented up to 2025-04-16.
        legacy_ok = version <= "2025-04-16" and headers.get("x-api-key") == api_key
        if not legacy_ok:
            violation("handshake: missing or wrong 'Authorization: Bearer <key>'")
            return 401
    return None


def handshake_version(path: str, headers: dict[str, str]) -> str | None:
    """The API version a connection asked for (the query parameter wins)."""
    query = parse_qs(urlsplit(path).query)
    return (query.get("cartesia_version") or [headers.get("cartesia-version")])[0]


def voice_problem(voice: Any, version: str) -> str | None:
    """Why ``voice`` is not a voice of API ``version``, or None."""
    if version >= VOICE_ID_ONLY_SINCE:
        if isinstance(voice, str) and voice:
            return None
        if isinstance(voice, dict) and set(voice) == {"id"} and isinstance(voice["id"], str):
            return None
        return f"voice must be the voice id (or {{'id': <uuid>}}) under {version}: {voice!r}"
    if (
        isinstance(voice, dict)
        and set(voice) == {"mode", "id"}
        and voice["mode"] == "id"
        and isinstance(voice["id"], str)
        and voice["id"]
    ):
        return None
    return f"voice must be {{'mode': 'id', 'id': <uuid>}} under {version}: {voice!r}"


def check_request(
    m: dict[str, Any], violation: Callable[[str], None], version: str = VOICE_ID_ONLY_SINCE
) -> None:
    """Report every way a generation request differs from the documented shape."""
    where = f"request {m.get('context_id')!r}"
    extra = set(m) - REQUEST_KEYS
    if extra:
        violation(f"{where}: unknown fields {sorted(extra)}")
    if m.get("model_id") not in KNOWN_MODELS and not re.fullmatch(
        r"sonic-[\w.]+-\d{4}-\d{2}-\d{2}", str(m.get("model_id"))
    ):
        violation(f"{where}: model_id {m.get('model_id')!r} is not a Sonic model")
    if not isinstance(m.get("transcript"), str):
        violation(f"{where}: transcript must be a string")
    if problem := voice_problem(m.get("voice"), version):
        violation(f"{where}: {problem}")
    fmt = m.get("output_format")
    if not (
        isinstance(fmt, dict)
        and set(fmt) == {"container", "encoding", "sample_rate"}
        and fmt["container"] == "raw"
        and fmt["encoding"] in ENCODINGS
        and fmt["sample_rate"] in RATES
    ):
        violation(f"{where}: bad output_format {fmt!r}")
    elif fmt["encoding"] != "pcm_s16le":
        violation(f"{where}: the fake only speaks pcm_s16le, got {fmt['encoding']!r}")
    if "language" in m and "locale" in m:
        violation(f"{where}: language and locale together (send one)")
    elif not isinstance(m.get("language", m.get("locale")), str):
        violation(f"{where}: language must be an ISO code string")
    for key in ("continue", "add_timestamps"):
        if not isinstance(m.get(key), bool):
            violation(f"{where}: {key} must be a bool (sent explicitly)")
    delay = m.get("max_buffer_delay_ms")
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 5000:
        violation(f"{where}: max_buffer_delay_ms must be sent, an int in 0..5000")
