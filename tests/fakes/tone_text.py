"""PCM that encodes which text was spoken, and its decoder.

The fake TTS servers synthesise ``encode_tones(text)``: every character becomes a
burst of ``char_ms`` of a pure tone whose frequency names the character. Each
frequency is a whole number of cycles per burst, so one FFT per burst finds it
exactly at any sample rate. The first sample of every burst is ``MARKER``, a
value the tone itself never reaches, so the decoder re-synchronises on each
burst. ``decode_tones`` turns PCM back into text, ignoring digital silence
anywhere (even inside a burst, as when playout pauses mid-character), so a test
or the softphone can check what the caller heard after playout re-framed the
audio, padded it with silence and cut it short on a barge-in. PCM that lost
the markers (gain, resampling) is decoded in plain fixed windows instead.

Printable ASCII is encoded; any other character is spoken (and decoded) as "?".
Pure: numpy only, no trio.
"""

from __future__ import annotations

import numpy as np

DEFAULT_CHAR_MS = 30
AMPLITUDE = 8000
MARKER = AMPLITUDE + 1
_FIRST = 32  # " "
_LAST = 126  # "~"
_UNKNOWN = "?"
_FIRST_BIN = 6  # lowest tone: 6 cycles per burst (200 Hz at 30 ms)
# Runs of this many exact zeros are silence (a tone only touches 0 for a sample).
_SILENT_RUN = 4


def samples_per_char(sample_rate: int, char_ms: int = DEFAULT_CHAR_MS) -> int:
    if sample_rate <= 0 or char_ms <= 0:
        raise ValueError(f"sample_rate={sample_rate} and char_ms={char_ms} must be positive")
    samples, remainder = divmod(sample_rate * char_ms, 1000)
    if remainder:
        raise ValueError(f"{char_ms} ms is not a whole number of samples at {sample_rate} Hz")
    highest_bin = _FIRST_BIN + _LAST - _FIRST
    if 2 * highest_bin >= samples:
        raise ValueError(f"{sample_rate} Hz is too low a rate for {char_ms} ms tone bursts")
    return samples


def _code(char: str) -> int:
    code = ord(char)
    return code if _FIRST <= code <= _LAST else ord(_UNKNOWN)


def encode_tones(text: str, sample_rate: int = 8000, *, char_ms: int = DEFAULT_CHAR_MS) -> bytes:
    """16-bit little-endian mono PCM: one tone burst per character of ``text``."""
    n = samples_per_char(sample_rate, char_ms)
    if not text:
        return b""
    bins = np.array([_FIRST_BIN + _code(c) - _FIRST for c in text], dtype=np.float64)
    t = np.arange(n, dtype=np.float64) / n
    # cos starts at full amplitude, so the decoder finds each burst's first sample.
    bursts = np.round(AMPLITUDE * np.cos(2 * np.pi * bins[:, None] * t[None, :]))
    bursts[:, 0] = MARKER
    return bursts.astype("<i2").tobytes()


def decode_tones(pcm: bytes, sample_rate: int = 8000, *, char_ms: int = DEFAULT_CHAR_MS) -> str:
    """The text ``encode_tones`` encoded in ``pcm``; silence is ignored.

    A burst cut short (a barge-in mid-character) counts when at least half of it
    is there.
    """
    n = samples_per_char(sample_rate, char_ms)
    if len(pcm) % 2:
        raise ValueError(f"PCM of {len(pcm)} bytes is not whole 16-bit samples")
    samples = np.frombuffer(pcm, dtype="<i2")
    starts = np.flatnonzero(samples == MARKER)
    if len(starts):
        ends = [*starts[1:], len(samples)]
        bursts = (_without_silence(samples[a:b])[:n] for a, b in zip(starts, ends, strict=True))
    else:
        sound = _without_silence(samples)
        bursts = (sound[a : a + n] for a in range(0, len(sound), n))
    return "".join(_char(burst, n) for burst in bursts if len(burst) >= n // 2)


def _without_silence(samples: np.ndarray) -> np.ndarray:
    zero = np.concatenate(([False], samples == 0, [False]))
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    keep = np.ones(len(samples), dtype=bool)
    for begin, end in zip(edges[::2], edges[1::2], strict=True):
        if end - begin >= _SILENT_RUN:
            keep[begin:end] = False
    return samples[keep]


def _char(burst: np.ndarray, n: int) -> str:
    spectrum = np.abs(np.fft.rfft(burst.astype(np.float64), n))
    code = int(np.argmax(spectrum)) - _FIRST_BIN + _FIRST
    return chr(code) if _FIRST <= code <= _LAST else _UNKNOWN


def tone_duration(text: str, *, char_ms: int = DEFAULT_CHAR_MS) -> float:
    """Seconds of audio ``encode_tones(text)`` makes."""
    return len(text) * char_ms / 1000
