"""A recording's waveform for the call page: min/max peaks per column, per channel."""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import numpy as np


def peaks(path: str | Path, columns: int = 800) -> dict:
    """``{"rate", "seconds", "channels": [[[min, max], ...], ...]}`` with peaks in [-1, 1].

    A stereo call recording has the caller on the left and the agent on the right."""
    with wave.open(str(path), "rb") as wav:
        channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit audio, expected 16-bit")
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.float32) / 32768
    count = len(samples)
    columns = max(1, min(columns, count))
    edges = np.linspace(0, count, columns + 1).astype(int)
    out = []
    for channel in range(channels):
        data = samples[:, channel]
        pairs = [
            [round(float(data[a:b].min()), 3), round(float(data[a:b].max()), 3)]
            if b > a
            else [0.0, 0.0]
            for a, b in itertools.pairwise(edges)
        ]
        out.append(pairs)
    return {"rate": rate, "seconds": count / rate if rate else 0.0, "channels": out}
