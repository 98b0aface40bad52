"""The AudioSocket server's settings (the other rooms keep their own settings
classes, each read through the schema in ``agent.base.settings``)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from agent.base.settings import SAMPLE_RATES, read_settings, setting

__all__ = ["SAMPLE_RATES", "ServerSettings"]

CONNECTION_MARGIN = 10


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
    # An identified peer that sends nothing for this long is gone (Asterisk sends a
    # frame every 20 ms for as long as the call lives).
    idle_timeout_s: float = setting("VOICE_AGENT_IDLE_TIMEOUT_S")
    # Caller audio beyond real time plus this much is dropped (agent.media.limits).
    audio_burst_s: float = setting("VOICE_AGENT_AUDIO_BURST_S")
    # Open AudioSocket connections (None: max_calls + 10; 0: no limit).
    max_connections: int | None = setting("VOICE_AGENT_MAX_CONNECTIONS")
    max_calls: int = setting("VOICE_AGENT_MAX_CALLS")

    @property
    def connection_limit(self) -> int:
        """Open connections allowed at once, 0 for no limit: a margin above the
        calls, so a few connecting or ending calls never crowd out a live one."""
        if self.max_connections is not None:
            return self.max_connections
        return self.max_calls + CONNECTION_MARGIN if self.max_calls else 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        return read_settings(cls, env)
