"""attrs validators that raise the agent's ConfigError naming the setting."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from agent.base.errors import ConfigError


def number_in(lo: float, hi: float) -> Callable[[Any, Any, Any], None]:
    """A finite real number in [lo, hi] (bools are refused: True is not 1 dB)."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        name = f"{type(instance).__name__}.{attribute.name}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ConfigError(f"{name} must be between {lo} and {hi}, got {value!r}")

    return check


def int_in(lo: int, hi: int) -> Callable[[Any, Any, Any], None]:
    """An int in [lo, hi]."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        name = f"{type(instance).__name__}.{attribute.name}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        if not lo <= value <= hi:
            raise ConfigError(f"{name} must be between {lo} and {hi}, got {value!r}")

    return check
