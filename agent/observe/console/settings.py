"""The console's settings and the rule that keeps it off the network without a token."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import attrs

from agent.base.errors import ConfigError
from agent.base.settings import Env, setting


@attrs.frozen
class ConsoleSettings:
    port: int = setting("VOICE_AGENT_CONSOLE_PORT")  # 0: no console
    host: str = setting("VOICE_AGENT_CONSOLE_HOST")
    token: str = attrs.field(default="", repr=False)
    show_callers: bool = setting("VOICE_AGENT_CONSOLE_SHOW_CALLERS")
    max_call_s: float = setting("VOICE_AGENT_MAX_CALL_S")  # a call older than this is not live
    recordings_dir: str = setting("VOICE_AGENT_RECORDINGS_DIR")
    db_path: str = setting("VOICE_AGENT_DB")  # bookings and the outbox
    # Served at all: from the environment, a port; in code (tests), port 0 is any free one.
    enabled: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsoleSettings:
        reader = Env.of(env)
        return cls(
            port=reader.get("VOICE_AGENT_CONSOLE_PORT"),
            host=reader.get("VOICE_AGENT_CONSOLE_HOST"),
            token=reader.get("VOICE_AGENT_CONSOLE_TOKEN") or "",
            show_callers=reader.get("VOICE_AGENT_CONSOLE_SHOW_CALLERS"),
            max_call_s=reader.get("VOICE_AGENT_MAX_CALL_S"),
            recordings_dir=reader.get("VOICE_AGENT_RECORDINGS_DIR"),
            db_path=reader.get("VOICE_AGENT_DB"),
            enabled=reader.get("VOICE_AGENT_CONSOLE_PORT") != 0,
        )

    def check(self) -> None:
        """Refuse a bind beyond loopback without a token: the pages show callers' words."""
        if not self.token and not is_loopback(self.host):
            raise ConfigError(
                f"VOICE_AGENT_CONSOLE_HOST={self.host}: the console listens beyond loopback"
                " only with VOICE_AGENT_CONSOLE_TOKEN set"
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere
