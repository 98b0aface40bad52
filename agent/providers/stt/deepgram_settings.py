"""Deepgram live speech-to-text: the settings (``DEEPGRAM_*``, read through the schema).

Pure: no trio, no sockets.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from agent.base.errors import ConfigError
from agent.base.settings import Env, default_of, read_settings, setting

DEFAULT_URL = default_of("DEEPGRAM_URL")


def uses_keyterm(model: str) -> bool:
    """Nova-3 takes ``keyterm``; it rejects ``keywords`` with HTTP 400 (and vice versa)."""
    return model == "nova-3" or model.startswith("nova-3-")


@attrs.frozen
class DeepgramSettings:
    api_key: str = setting("DEEPGRAM_API_KEY", default=attrs.NOTHING, repr=False)
    url: str = setting("DEEPGRAM_URL")
    model: str = setting("DEEPGRAM_MODEL")
    language: str = setting("DEEPGRAM_LANGUAGE")
    interim_results: bool = setting("DEEPGRAM_INTERIM_RESULTS")
    # Silence (ms) after which Deepgram marks speech_final; 0 sends endpointing=false.
    endpointing_ms: int = setting("DEEPGRAM_ENDPOINTING_MS")
    # Word gap (ms) for UtteranceEnd; 0 leaves it out. Needs interim_results.
    utterance_end_ms: int = setting("DEEPGRAM_UTTERANCE_END_MS")
    vad_events: bool = setting("DEEPGRAM_VAD_EVENTS")
    smart_format: bool = setting("DEEPGRAM_SMART_FORMAT")
    # smart_format holds a final up to 3 s while an entity (a phone number) may go on;
    # no_delay skips that and, often, the formatting (Deepgram changelog 2025-04-02).
    no_delay: bool = setting("DEEPGRAM_NO_DELAY")
    punctuate: bool = setting("DEEPGRAM_PUNCTUATE")
    keyterms: tuple[str, ...] = setting("DEEPGRAM_KEYTERMS", converter=tuple)
    keywords: tuple[str, ...] = setting("DEEPGRAM_KEYWORDS", converter=tuple)
    # Deepgram closes a connection after ~10 s without data; 3-5 s is advised.
    keepalive_s: float = setting("DEEPGRAM_KEEPALIVE_S")
    reconnect_initial_s: float = setting("DEEPGRAM_RECONNECT_INITIAL_S")
    reconnect_max_s: float = setting("DEEPGRAM_RECONNECT_MAX_S")
    # Consecutive failed connection attempts before the session gives up.
    reconnect_attempts: int = setting("DEEPGRAM_RECONNECT_ATTEMPTS")
    # Audio kept for replay (unsent, or sent but not yet covered by a final).
    max_buffer_s: float = setting("DEEPGRAM_MAX_BUFFER_S")
    connect_timeout_s: float = setting("DEEPGRAM_CONNECT_TIMEOUT_S")
    # After CloseStream: how long to wait for the last results and the close.
    close_timeout_s: float = setting("DEEPGRAM_CLOSE_TIMEOUT_S")
    # Caller audio per message while the caller talks (20 = every 20 ms frame on
    # its own). Deepgram advises 20-250 ms; around a pause frames go one by one.
    batch_ms: int = setting("DEEPGRAM_BATCH_MS")

    def __attrs_post_init__(self) -> None:
        if self.utterance_end_ms and not self.interim_results:
            raise ConfigError(
                "DEEPGRAM_UTTERANCE_END_MS needs DEEPGRAM_INTERIM_RESULTS=true"
                " (Deepgram ignores it)"
            )
        if self.keywords and uses_keyterm(self.model):
            raise ConfigError(
                f"DEEPGRAM_KEYWORDS are not supported by {self.model} (Deepgram answers"
                " HTTP 400); use DEEPGRAM_KEYTERMS"
            )
        if self.keyterms and not uses_keyterm(self.model):
            raise ConfigError(
                f"DEEPGRAM_KEYTERMS are a nova-3 feature, not {self.model}; use DEEPGRAM_KEYWORDS"
            )
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ConfigError(
                f"DEEPGRAM_RECONNECT_MAX_S={self.reconnect_max_s:g} is below "
                f"DEEPGRAM_RECONNECT_INITIAL_S={self.reconnect_initial_s:g}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeepgramSettings:
        reader = Env.of(env)
        if not reader.is_set("DEEPGRAM_API_KEY"):
            raise ConfigError(
                "DEEPGRAM_API_KEY is not set: needed for the Deepgram STT"
                " (or choose the offline stack explicitly: VOICE_AGENT_OFFLINE=1)"
            )
        return read_settings(cls, reader)
