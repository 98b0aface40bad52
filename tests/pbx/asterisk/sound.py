"""What the phone heard and said, read from its two MixMonitor recordings.

Both files are written by one MixMonitor from the phone channel's audiohook, so
sample n of ``heard.wav`` (what the agent sent) and of ``spoken.wav`` (what the
caller said) are the same instant: timings come from the audio itself.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np

from agent.base.wav import read_wav

FRAME_S = 0.02
# Speech is louder than -50 dBFS; the agent's and Playback's silence is digital zero.
ACTIVE_RMS = 32768 * 10 ** (-50 / 20)


def frame_rms(pcm: bytes, rate: int = 8000) -> np.ndarray:
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    n = int(rate * FRAME_S)
    frames = samples[: len(samples) // n * n].reshape(-1, n)
    return np.sqrt((frames**2).mean(axis=1)) if len(frames) else np.zeros(0)


@attrs.frozen
class Recording:
    """Frame activity of the two legs, one bool per 20 ms frame."""

    heard: np.ndarray  # the agent's audio reached the phone
    spoken: np.ndarray  # the caller was talking

    @classmethod
    def load(cls, folder: Path) -> Recording:
        heard = frame_rms(read_wav(folder / "heard.wav", 8000)) > ACTIVE_RMS
        spoken = frame_rms(read_wav(folder / "spoken.wav", 8000)) > ACTIVE_RMS
        n = min(len(heard), len(spoken))
        return cls(heard[:n], spoken[:n])

    @property
    def seconds(self) -> float:
        return len(self.heard) * FRAME_S

    def spoken_between(self, start: float, end: float) -> tuple[float, float] | None:
        """First and last moment of caller speech in [start, end) (seconds)."""
        lo, hi = _index(start), min(_index(end), len(self.spoken))
        active = np.flatnonzero(self.spoken[lo:hi])
        if not len(active):
            return None
        return (lo + active[0]) * FRAME_S, (lo + active[-1] + 1) * FRAME_S

    def first_heard(self, after: float, before: float | None = None) -> float | None:
        lo = _index(after)
        hi = len(self.heard) if before is None else min(_index(before), len(self.heard))
        active = np.flatnonzero(self.heard[lo:hi])
        return (lo + active[0]) * FRAME_S if len(active) else None

    def heard_during(self, start: float, end: float) -> bool:
        return bool(self.heard[_index(start) : _index(end)].any())

    def agent_stop(self, after: float, quiet_s: float = 0.2) -> float | None:
        """When the agent's audio stops after ``after``: the start of the first
        run of at least ``quiet_s`` without agent audio."""
        need = max(1, round(quiet_s / FRAME_S))
        run = 0
        for i in range(_index(after), len(self.heard)):
            run = 0 if self.heard[i] else run + 1
            if run >= need:
                return (i - need + 1) * FRAME_S
        return None


def _index(seconds: float) -> int:
    return max(0, round(seconds / FRAME_S))
