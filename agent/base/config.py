"""The AudioSocket server's settings (the other rooms keep their own settings
classes, each read through the schema in ``agent.base.settings``)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from agent.base.settings import SAMPLE_RATES, read_settings, setting

__all__ = ["SAMPLE_RATES", "ServerSettings"]


@attrs.frozen
class ServerSettings:
    """Where and how the AudioSocket server listens."""

    host: str = setting("VOICE_AGENT_HOST")
    port: int = setting("VOICE_AGENT_PORT")
    sample_rate: int = setting("VOICE_AGENT_SAMPLE_RATE")
    # A connection that has not identified itself by then is closed.
    uuid_timeout_s: float = setting("VOICE_AGENT_UUID_TIMEOUT_S")
    # Hard cap on one call's length.
    max_call_s: float = setting("VOICE_AGENT_MAX_CALL_S")
    # Time given to cleanup (provider close, goodbye) after a call ends.
    cleanup_timeout_s: float = setting("VOICE_AGENT_CLEANUP_TIMEOUT_S")
    brain: str = setting("VOICE_AGENT_BRAIN")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        return read_settings(cls, env)
