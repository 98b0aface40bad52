"""Deterministic test signals: silence, tones, noise and speech-like bursts."""

from __future__ import annotations

import numpy as np


def _pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def silence(seconds: float, sample_rate: int = 8000) -> bytes:
    return bytes(2 * round(seconds * sample_rate))


def tone(
    seconds: float, dbfs: float = -20.0, freq: float = 440.0, sample_rate: int = 8000
) -> bytes:
    """A sine whose RMS level is ``dbfs`` (0 dBFS = a full-scale square wave)."""
    n = round(seconds * sample_rate)
    amplitude = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)
    t = np.arange(n) / sample_rate
    return _pcm(amplitude * np.sin(2 * np.pi * freq * t))


def noise(seconds: float, dbfs: float = -50.0, sample_rate: int = 8000, seed: int = 1) -> bytes:
    n = round(seconds * sample_rate)
    rng = np.random.default_rng(seed)
    return _pcm(rng.standard_normal(n) * 32768 * 10 ** (dbfs / 20))


def speechlike(
    seconds: float, dbfs: float = -20.0, sample_rate: int = 8000, syllable_s: float = 0.18
) -> bytes:
    """Voiced 'syllables' (a 140 Hz buzz with formant-ish harmonics) with short dips.

    Loud enough for any VAD, shaped like talk: ~5 syllables a second with
    30 ms dips between them that a VAD's hangover must bridge.
    """
    n = round(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voice = sum(np.sin(k * phase) / k for k in (1, 2, 3, 5, 8))
    period = syllable_s + 0.03
    envelope = ((t % period) < syllable_s).astype(float)
    ramp = max(1, round(0.005 * sample_rate))
    envelope = np.convolve(envelope, np.ones(ramp) / ramp, mode="same")
    x = voice * envelope
    rms = np.sqrt(np.mean(x[envelope > 0.5] ** 2)) if np.any(envelope > 0.5) else 1.0
    return _pcm(x / rms * 32768 * 10 ** (dbfs / 20))


# (seconds, dBFS) per word, a pause after each: a greeting's ups and downs around -15 dBFS.
GREETING_WORDS = ((0.30, -12.0), (0.45, -20.0), (0.25, -14.0), (0.50, -23.0), (0.35, -13.0),
                  (0.40, -19.0), (0.30, -16.0), (0.55, -22.0))  # fmt: skip


def greeting_like(seconds: float, sample_rate: int = 8000) -> np.ndarray:
    """``seconds`` of a synthetic greeting (``GREETING_WORDS`` over and over, 80 ms
    between words and a longer pause after the fourth), as float samples: the agent's
    own audio for echo-guard tables and benches."""
    parts: list[bytes] = []
    while sum(len(p) for p in parts) < seconds * sample_rate * 2:
        for index, (length, dbfs) in enumerate(GREETING_WORDS):
            syllable = 0.12 + 0.02 * (index % 3)
            parts.append(speechlike(length, dbfs, syllable_s=syllable, sample_rate=sample_rate))
            parts.append(silence(0.08 * (3 if index == 3 else 1), sample_rate))
    return np.frombuffer(b"".join(parts), np.int16).astype(float)[: int(seconds * sample_rate)]
