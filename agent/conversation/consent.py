"""The consent gate: when the caller's audio may first reach a speech-to-text service.

The greeting carries the recording disclosure. Until the gate opens no caller
audio goes to any STT (no connection is even made); the last ``ring_s`` of it
is kept here, in memory only, so that the opening of a sentence the caller
started over the greeting is not lost. Two rules (``VOICE_AGENT_CONSENT``):

- ``talk-over`` (default): the gate opens when the disclosure has played, or
  when the caller talks over it (talking to the agent is engaging with it: the
  barge-in decision). If the caller is speaking when it opens, the STT gets
  their utterance from its onset, with ``pre_roll_s`` before the VAD's start
  (the VAD needs some loud audio before it says speech started), so the whole
  first sentence is heard.
- ``strict``: nothing from before the disclosure ended (played, or cut by the
  caller) ever reaches an STT. A sentence that straddles that moment is heard
  only in part, so it is treated as unheard: ``take_half_heard`` tells the brain
  to ask again instead of acting on its tail.

Pure: frames and times go in, the frames to send come out; the brain does the I/O.
"""

from __future__ import annotations

import collections
from typing import Literal, get_args

import attrs

from agent.base.errors import ConfigError

__all__ = ["CONSENT_MODES", "ConsentGate", "ConsentMode"]

ConsentMode = Literal["talk-over", "strict"]  # as VOICE_AGENT_CONSENT (settings catalog)
CONSENT_MODES: tuple[str, ...] = get_args(ConsentMode)


def _mode(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if value not in CONSENT_MODES:
        raise ConfigError(f"consent={value!r}: use one of {', '.join(CONSENT_MODES)}")


@attrs.define
class ConsentGate:
    """Caller audio before the gate opens: held, then released or dropped."""

    mode: ConsentMode = attrs.field(default="talk-over", validator=_mode)
    ring_s: float = 1.5
    pre_roll_s: float = 0.3
    is_open: bool = False
    opened_at: float | None = None
    held: int = 0  # frames that arrived while closed
    released: int = 0  # of those, frames sent to the STT when it opened
    _frames: collections.deque[tuple[float, bytes]] = attrs.field(factory=collections.deque)
    _onset: float | None = None  # caller speech start while closed (our VAD)
    _half_heard: bool = False

    def hold(self, pcm: bytes, now: float) -> None:
        """A caller frame (ending at ``now``) that arrived while the gate is closed."""
        self.held += 1
        self._frames.append((now, pcm))
        while self._frames and self._frames[0][0] < now - self.ring_s:
            self._frames.popleft()

    def speech_started(self, now: float) -> None:
        if not self.is_open and self._onset is None:
            self._onset = now

    def speech_ended(self, now: float) -> None:
        if not self.is_open:
            self._onset = None  # a cough or a "hello?" that ended: not the next turn

    def open(self, now: float, *, caller_speaking: bool) -> list[bytes]:
        """Open the gate at ``now`` (the disclosure has played or was talked over);
        returns the held frames the STT must get first, oldest first."""
        if self.is_open:
            return []
        self.is_open, self.opened_at = True, now
        frames, self._frames = self._frames, collections.deque()
        onset = self._onset if caller_speaking else None
        if onset is None:
            return []
        if self.mode == "strict":
            self._half_heard = True  # its start was before the disclosure ended
            return []
        released = [pcm for end, pcm in frames if end > onset - self.pre_roll_s]
        self.released = len(released)
        return released

    @property
    def half_heard(self) -> bool:
        return self._half_heard

    def take_half_heard(self) -> bool:
        """True once, for the first turn when its start was kept from the STT (strict)."""
        half, self._half_heard = self._half_heard, False
        return half

    @property
    def ring_frames_max(self) -> int:
        """Frames the ring can hold at 20 ms a frame (the STT channel must take them)."""
        return int(self.ring_s / 0.02) + 1
