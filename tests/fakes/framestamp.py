"""Send-time stamps hidden in the caller's silent frames (for the benchmarks).

A benchmark caller writes the wall-clock time (``time.time()``, microseconds mod
2**32) at which it sends a silent frame into the least significant bits of the
frame's first 48 samples: 32 bits of time and a 16-bit check. The agent passes the
caller's audio to the STT as it came, so the fake Deepgram can read, for the frame
that completed an utterance's endpointing silence, when the caller sent it: the
time from there to the audio's arrival at the fake is the agent's uplink (reader,
channel, batcher, WebSocket), which a fake timing itself from the arrival of the
message would book as the provider's. Every sample stays 0 or 1: the frame is
still silence to every detector (-90 dBFS).

Only all-zero (silent) frames are stamped: an utterance ends in silence, and
copying a silent frame out of a table costs the load harness about a microsecond.
"""

from __future__ import annotations

import struct
import time

import numpy as np

STAMP_SAMPLES = 48
_CHECK = 0x5A5A
_WRAP_US = 1 << 32
# Each byte of the stamp as the LSBs of 8 little-endian int16 samples.
_BYTE_SAMPLES = tuple(
    b"".join(struct.pack("<h", (value >> bit) & 1) for bit in range(8)) for value in range(256)
)


def now_us() -> int:
    return time.time_ns() // 1000


_words: list[bytes] = []  # each 16-bit value as 16 samples: built on first use (2 MB)
_zeros: dict[int, bytes] = {}


def stamped_silence(frame_bytes: int, at_us: int | None = None) -> bytes:
    """A silent frame of ``frame_bytes`` carrying the send time ``at_us`` (now).

    Three lookups in a table of 16-bit words: about a microsecond, since the load
    harness stamps every silent frame of every call."""
    if not _words:
        _words.extend(_BYTE_SAMPLES[v & 0xFF] + _BYTE_SAMPLES[v >> 8] for v in range(1 << 16))
    stamp = (now_us() if at_us is None else at_us) % _WRAP_US
    low, high = stamp & 0xFFFF, stamp >> 16
    rest = _zeros.get(frame_bytes)
    if rest is None:
        rest = _zeros[frame_bytes] = bytes(frame_bytes - 2 * STAMP_SAMPLES)
    return _words[low] + _words[high] + _words[(low ^ high ^ _CHECK) & 0xFFFF] + rest


def read_stamp(frame: bytes, near_us: int | None = None) -> float | None:
    """The send time (``time.time()`` seconds) a frame carries, or None if it has none.

    ``near_us``: a time shortly after the send (now, by default), to undo the
    32-bit wrap (71 minutes)."""
    if len(frame) < 2 * STAMP_SAMPLES:
        return None
    samples = np.frombuffer(frame[: 2 * STAMP_SAMPLES], dtype="<i2")
    if samples.min() < 0 or samples.max() > 1:
        return None
    bits = np.packbits(samples.astype(np.uint8), bitorder="little").tobytes()
    stamp, check = struct.unpack("<IH", bits)
    if ((stamp & 0xFFFF) ^ (stamp >> 16) ^ _CHECK) & 0xFFFF != check:
        return None
    near = now_us() if near_us is None else near_us
    full = near - ((near - stamp) % _WRAP_US)
    return full / 1e6
