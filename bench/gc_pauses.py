"""The garbage collector's pauses in this process (latency.py prints them).

A collection stops the whole Trio loop: a turn that meets one waits for it. So
the benchmark records every collection's generation, start (on the Trio clock's
``time.monotonic()``) and length, and the slow turns can be checked against them.
"""

from __future__ import annotations

import gc
import time
from typing import Any


class GcPauses:
    def __init__(self) -> None:
        self.pauses: list[tuple[int, float, float]] = []  # (generation, start, seconds)
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.monotonic()
        else:
            now = time.monotonic()
            self.pauses.append((info["generation"], self._started, now - self._started))

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def during(self, start: float, end: float) -> float:
        """Seconds of collection inside [start, end]."""
        return sum(
            min(end, at + length) - max(start, at)
            for _, at, length in self.pauses
            if at < end and at + length > start
        )

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for generation in (0, 1, 2):
            lengths = sorted(ms * 1000 for g, _, ms in self.pauses if g == generation)
            out[f"gen{generation}"] = {
                "n": len(lengths),
                "total_ms": round(sum(lengths), 2),
                "max_ms": round(lengths[-1], 2) if lengths else 0.0,
            }
        return out
