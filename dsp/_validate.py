"""attrs validators that raise ``ParamError`` naming the parameter."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


class ParamError(ValueError):
    """A DSP parameter or frame is invalid; the message names it and the value.

    The C core's face imports nothing from the application above it, so it has its
    own error; it is a ``ValueError`` like the agent's ``ConfigError``.
    """


def number_in(lo: float, hi: float) -> Callable[[Any, Any, Any], None]:
    """A finite real number in [lo, hi] (bools are refused: True is not 1 dB)."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        name = f"{type(instance).__name__}.{attribute.name}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ParamError(f"{name} must be between {lo} and {hi}, got {value!r}")

    return check


def int_in(lo: int, hi: int) -> Callable[[Any, Any, Any], None]:
    """An int in [lo, hi]."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        name = f"{type(instance).__name__}.{attribute.name}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{name} must be an integer, got {value!r}")
        if not lo <= value <= hi:
            raise ParamError(f"{name} must be between {lo} and {hi}, got {value!r}")

    return check
