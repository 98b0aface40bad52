"""Settings: frozen attrs classes with validators, read from the environment.

Each setting has one environment variable (``VOICE_AGENT_*`` for the agent
itself, the vendor's usual name for API keys). A bad value raises
``ConfigError`` naming the variable, the value and what was expected, so a
garbage config never gets as far as a call.

Provider modules define their own settings classes with the same helpers
(``env_str``, ``env_int``, ``env_float``, ``env_bool``, ``env_list``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from agent.base.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, default).strip() or default


def env_int(
    env: Mapping[str, str], name: str, default: int, *, lo: int | None = None, hi: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    _check_range(name, value, lo, hi)
    return value


def env_float(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    lo: float | None = None,
    hi: float | None = None,
) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if value != value:  # NaN
        raise ConfigError(f"{name}={raw!r}: expected a number")
    _check_range(name, value, lo, hi)
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r}: expected true/false (1/0, yes/no, on/off)")


def env_list(env: Mapping[str, str], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _check_range(name: str, value: float, lo: float | None, hi: float | None) -> None:
    if lo is not None and value < lo:
        raise ConfigError(f"{name}={value}: must be at least {lo}")
    if hi is not None and value > hi:
        raise ConfigError(f"{name}={value}: must be at most {hi}")


def _port(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not 0 <= value <= 65535:
        raise ConfigError(f"{attribute.name}={value}: a TCP port is 0..65535")


SAMPLE_RATES = (8000, 12000, 16000, 24000, 32000, 44100, 48000, 96000, 192000)


def _sample_rate(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value not in SAMPLE_RATES:
        raise ConfigError(f"{attribute.name}={value}: AudioSocket rates are {SAMPLE_RATES}")


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{attribute.name}={value}: must be greater than 0")


@attrs.frozen
class ServerSettings:
    """Where and how the AudioSocket server listens."""

    host: str = "127.0.0.1"
    port: int = attrs.field(default=9099, validator=_port)
    sample_rate: int = attrs.field(default=8000, validator=_sample_rate)
    # A connection that has not identified itself by then is closed.
    uuid_timeout_s: float = attrs.field(default=2.0, validator=_positive)
    # Hard cap on one call's length.
    max_call_s: float = attrs.field(default=3600.0, validator=_positive)
    # Time given to cleanup (provider close, goodbye) after a call ends.
    cleanup_timeout_s: float = attrs.field(default=2.0, validator=_positive)
    brain: str = "echo"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerSettings:
        env = os.environ if env is None else env
        return cls(
            host=env_str(env, "VOICE_AGENT_HOST", "127.0.0.1"),
            port=env_int(env, "VOICE_AGENT_PORT", 9099, lo=0, hi=65535),
            sample_rate=env_int(env, "VOICE_AGENT_SAMPLE_RATE", 8000),
            uuid_timeout_s=env_float(env, "VOICE_AGENT_UUID_TIMEOUT_S", 2.0, lo=0.01),
            max_call_s=env_float(env, "VOICE_AGENT_MAX_CALL_S", 3600.0, lo=1.0),
            cleanup_timeout_s=env_float(env, "VOICE_AGENT_CLEANUP_TIMEOUT_S", 2.0, lo=0.01),
            brain=env_str(env, "VOICE_AGENT_BRAIN", "echo"),
        )
