"""WAV in and out for the caller, the demo and recordings (16-bit PCM only)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from agent.base.errors import ConfigError


def read_wav(path: str | Path, sample_rate: int = 8000) -> bytes:
    """Read a 16-bit WAV as mono PCM at ``sample_rate`` (mixing down, resampling)."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise ConfigError(f"{path}: not a readable WAV file ({exc})") from exc
    if width != 2:
        raise ConfigError(f"{path}: {8 * width}-bit samples; only 16-bit PCM WAV is supported")
    samples = np.frombuffer(raw, dtype="<i2")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype("<i2")
    if rate != sample_rate:
        import soxr

        samples = soxr.resample(samples, rate, sample_rate)
    return samples.astype("<i2").tobytes()


def write_wav(path: str | Path, pcm: bytes, sample_rate: int = 8000, channels: int = 1) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)


def stereo(left: bytes, right: bytes) -> bytes:
    """Interleave two mono legs (the shorter padded with silence)."""
    a = np.frombuffer(left, dtype="<i2")
    b = np.frombuffer(right, dtype="<i2")
    n = max(len(a), len(b))
    out = np.zeros((n, 2), dtype="<i2")
    out[: len(a), 0] = a
    out[: len(b), 1] = b
    return out.tobytes()
