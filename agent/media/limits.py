"""Per-call limits on what a peer may make us hold.

Asterisk sends caller audio in real time, 20 ms at a time. A peer that sends
faster (a flood: large loud frames as fast as TCP takes them) would make every
per-call buffer behind the reader grow without bound (the VAD's utterance, the
STT's send queue, a recording), so caller audio beyond real time plus a small
burst is dropped before anything sees it. The burst absorbs what a real network
does to real-time audio (a late batch of frames after a stall).

Pure: time comes in as ``now`` (seconds).
"""

from __future__ import annotations

import collections


class AudioBudget:
    """A token bucket of caller audio, in seconds of audio.

    It refills at real time and holds at most ``burst_s``; a frame that finds
    too few tokens is dropped. ``dropped_frames``/``dropped_s`` count the loss.
    """

    def __init__(self, burst_s: float, *, bytes_per_s: int, now: float) -> None:
        if burst_s <= 0 or bytes_per_s <= 0:
            raise ValueError(f"burst_s and bytes_per_s must be positive ({burst_s}, {bytes_per_s})")
        self.burst_s = burst_s
        self._per_byte = 1.0 / bytes_per_s
        self._tokens = burst_s
        self._last = now
        self.dropped_frames = 0
        self.dropped_s = 0.0

    def take(self, nbytes: int, now: float) -> bool:
        """True if a frame of ``nbytes`` fits (it is counted); False: drop it."""
        elapsed = now - self._last
        if elapsed > 0:
            self._last = now
            self._tokens = min(self.burst_s, self._tokens + elapsed)
        seconds = nbytes * self._per_byte
        if seconds <= self._tokens:
            self._tokens -= seconds
            return True
        self.dropped_frames += 1
        self.dropped_s += seconds
        return False


class BoundedFrames:
    """Frames kept in arrival order up to ``max_bytes``; beyond it the oldest go.

    For a brain's buffer of one utterance: a caller who never stops talking
    (or a peer that sends loud noise forever) keeps only the latest stretch.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self._frames: collections.deque[bytes] = collections.deque()
        self.nbytes = 0
        self.dropped = 0

    def append(self, frame: bytes) -> None:
        frames = self._frames
        frames.append(frame)
        self.nbytes += len(frame)
        while self.nbytes > self.max_bytes and len(frames) > 1:  # the newest always stays
            self.nbytes -= len(frames.popleft())
            self.dropped += 1

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self):
        return iter(self._frames)

    def join(self) -> bytes:
        return b"".join(self._frames)
