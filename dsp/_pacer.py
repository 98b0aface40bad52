"""Pacer: the Python face of csrc/pacer.c (a token bucket for audio frames)."""

from __future__ import annotations

import attrs

from dsp._validate import ParamError, int_in
from dsp._voicecore import ffi, lib

_US_PER_HOUR = 3_600_000_000


@attrs.frozen
class PacerParams:
    """frame_us: one frame's duration; burst_frames: how many frames may be
    ahead of real time (1 = only the frame being played); late_us: a frame
    sent more than this after its due time counts as late."""

    frame_us: int = attrs.field(default=20_000, validator=int_in(1, 10_000_000))
    burst_frames: int = attrs.field(default=1, validator=int_in(1, 1_000))
    late_us: int = attrs.field(default=5_000, validator=int_in(0, _US_PER_HOUR))


class Pacer:
    """When may the next frame go? Time is always passed in (int microseconds).

    Due times sit on an absolute grid (a late wake-up does not shift it);
    after a stall of whole frames the missed frames are forgotten rather than
    sent in a burst. ``reset(now)`` re-phases the grid so the next frame goes
    at once (speech after silence, barge-in).
    """

    __slots__ = ("_state", "params")

    def __init__(self, params: PacerParams = PacerParams(), now_us: int = 0) -> None:
        if not isinstance(params, PacerParams):
            raise ParamError(f"Pacer params must be PacerParams, got {type(params).__name__}")
        self.params = params
        self._state = ffi.new("pacer_state *")
        c_params = ffi.new("pacer_params *", attrs.asdict(params))
        lib.pacer_init(self._state, c_params, now_us)

    def due_us(self, now_us: int) -> int:
        """Earliest time the next frame may go; a value <= now_us means now."""
        return _pacer_due_us(self._state, now_us)

    def sent(self, now_us: int) -> None:
        """One frame went out at now_us."""
        _pacer_sent(self._state, now_us)

    def reset(self, now_us: int) -> None:
        """Re-phase: the next frame (and up to burst_frames) may go at once."""
        lib.pacer_reset(self._state, now_us)

    @property
    def frames_sent(self) -> int:
        return self._state.frames_sent

    @property
    def late_frames(self) -> int:
        return self._state.late_frames

    def __repr__(self) -> str:
        return f"<Pacer sent={self.frames_sent} late={self.late_frames}>"


_pacer_due_us = lib.pacer_due_us
_pacer_sent = lib.pacer_sent
