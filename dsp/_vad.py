"""EnergyVad: the Python face of csrc/vad.c."""

from __future__ import annotations

import enum

import attrs

from dsp._validate import ParamError, number_in
from dsp._voicecore import ffi, lib

#: Level reported for digital silence (instead of -inf).
SILENCE_DBFS: float = lib.VAD_FLOOR_DBFS
MAX_SAMPLE_RATE = 192_000


class VadTransition(enum.IntEnum):
    """What a frame changed: nothing, or the start or end of speech."""

    NONE = 0
    SPEECH_START = 1
    SPEECH_END = 2


# Indexed by the C return code: a tuple lookup is the cheapest int -> enum.
_TRANSITIONS = (VadTransition.NONE, VadTransition.SPEECH_START, VadTransition.SPEECH_END)
_STOPPING = lib.VAD_STOPPING  # looked up once: `pausing` is read every frame


@attrs.frozen
class VadParams:
    """Energy VAD settings; levels in dBFS (a full-scale square wave is 0 dBFS).

    Speech threshold = max(min_speech_dbfs, noise floor + threshold_db), raised
    while the agent is talking to at least (echo reference - echo return +
    echo_guard_db): the echo reference is the highest level we sent over the
    last echo_hold_ms, then decaying at echo_decay_db_per_s; the echo return is
    measured on the call, from frames where only the agent can be heard: it
    drops to a louder echo at 3x echo_adapt_db_per_s (when the agent starts after
    a silence at once, by at most echo_onset_drop_db); it rises, up to
    echo_return_max_db, to what a whole block of frames (two holds) or the
    per-delay fit proves: at every delay up to the hold, the agent's audio sent
    then came back at least that much weaker. Frames that no delay explains as
    the agent's echo (the caller talking through its pauses) are not learned from
    until its next onset. Until measured it is echo_margin_db + echo_guard_db,
    i.e. the caller must speak within echo_margin_db of our own level, as with a
    fixed guard; on a line with little echo a quiet caller gets through once the
    line has been heard for ~0.6 s, while a line with strong echo stays
    protected. echo_adapt_db_per_s=0 keeps the guard fixed. bench/echo_guard.py
    prints the detection times per line.
    """

    threshold_db: float = attrs.field(default=10.0, validator=number_in(0.0, 60.0))
    min_speech_dbfs: float = attrs.field(default=-45.0, validator=number_in(-100.0, 0.0))
    start_ms: float = attrs.field(default=60.0, validator=number_in(0.0, 5_000.0))
    stop_ms: float = attrs.field(default=240.0, validator=number_in(0.0, 10_000.0))
    floor_rise_db_per_s: float = attrs.field(default=2.0, validator=number_in(0.001, 1_000.0))
    floor_fall_db_per_s: float = attrs.field(default=30.0, validator=number_in(0.001, 10_000.0))
    initial_floor_dbfs: float = attrs.field(default=-60.0, validator=number_in(-100.0, 0.0))
    echo_margin_db: float = attrs.field(default=12.0, validator=number_in(0.0, 60.0))
    echo_hold_ms: float = attrs.field(default=300.0, validator=number_in(0.0, 600.0))
    echo_decay_db_per_s: float = attrs.field(default=40.0, validator=number_in(0.001, 10_000.0))
    echo_guard_db: float = attrs.field(default=6.0, validator=number_in(0.0, 60.0))
    echo_adapt_db_per_s: float = attrs.field(default=10.0, validator=number_in(0.0, 1_000.0))
    echo_return_max_db: float = attrs.field(default=40.0, validator=number_in(0.0, 100.0))
    echo_onset_drop_db: float = attrs.field(default=12.0, validator=number_in(0.0, 100.0))


class EnergyVad:
    """Per-call energy VAD over int16 little-endian frames of any even length.

    ``process`` takes each frame of caller audio and returns a VadTransition;
    ``note_output`` takes each frame sent to the caller (the echo reference).
    The audio itself is the clock, so no time is passed in.
    """

    __slots__ = ("_state", "params", "sample_rate")

    def __init__(self, params: VadParams = VadParams(), sample_rate: int = 8000) -> None:
        if (
            isinstance(sample_rate, bool)
            or not isinstance(sample_rate, int)
            or not 1_000 <= sample_rate <= MAX_SAMPLE_RATE
            or sample_rate % 100
        ):
            raise ParamError(
                f"EnergyVad sample_rate must be a multiple of 100 Hz between 1000 and"
                f" {MAX_SAMPLE_RATE}, got {sample_rate!r}"
            )
        if not isinstance(params, VadParams):
            raise ParamError(f"EnergyVad params must be VadParams, got {type(params).__name__}")
        self.params = params
        self.sample_rate = sample_rate
        c_params = ffi.new("vad_params *", attrs.asdict(params))
        self._state = ffi.new("vad_state *")
        lib.vad_init(self._state, c_params, sample_rate)

    def process(self, frame: bytes) -> VadTransition:
        """Feed one frame of caller audio; returns the transition it caused."""
        n = len(frame)
        if not n or n & 1:
            _as_buffer(frame)  # raises, naming the problem
        try:
            return _TRANSITIONS[_vad_process(self._state, frame, n)]
        except TypeError:
            # Not bytes (bytearray, memoryview, numpy): the slower buffer path.
            buf, n = _as_buffer(frame)
            return _TRANSITIONS[_vad_process(self._state, buf, n)]

    def note_output(self, frame: bytes) -> None:
        """Tell the echo guard about a frame just sent to the caller."""
        n = len(frame)
        if not n or n & 1:
            _as_buffer(frame)  # raises, naming the problem
        try:
            _vad_note_output(self._state, frame, n)
        except TypeError:
            buf, n = _as_buffer(frame)
            _vad_note_output(self._state, buf, n)

    def reset(self) -> None:
        """Forget all state (noise floor back to its initial level, quiet, no echo)."""
        lib.vad_reset(self._state)

    @property
    def level_dbfs(self) -> float:
        """Level of the last processed caller frame."""
        return self._state.level_dbfs

    @property
    def noise_floor_dbfs(self) -> float:
        return self._state.noise_floor_dbfs

    @property
    def threshold_dbfs(self) -> float:
        """The speech threshold the last frame was compared with."""
        return self._state.threshold_dbfs

    @property
    def echo_return_db(self) -> float:
        """How far below the reference the agent's echo comes back (as measured)."""
        return self._state.echo_return_db

    @property
    def echo_reference_dbfs(self) -> float:
        """The echo guard's held-then-decaying maximum of the levels we sent."""
        return self._state.echo_ref_dbfs

    @property
    def speaking(self) -> bool:
        """True from speech start until speech end (speaking or stopping)."""
        return self._state.state >= lib.VAD_SPEAKING

    @property
    def pausing(self) -> bool:
        """True while speech is in its stop hangover: the caller has gone quiet, but not
        yet for ``stop_ms`` (a pause between words, or the end of the turn)."""
        return self._state.state == _STOPPING

    def __repr__(self) -> str:
        return (
            f"<EnergyVad {self.sample_rate} Hz speaking={self.speaking}"
            f" level={self.level_dbfs:.1f} floor={self.noise_floor_dbfs:.1f} dBFS>"
        )


def frame_level_dbfs(frame: bytes) -> float:
    """Level in dBFS of one frame of int16 little-endian samples (silence: -100)."""
    buf, n = _as_buffer(frame)
    return lib.vad_level_dbfs(buf, n)


# Module globals: one dict lookup on the hot path instead of lib's getattr.
_vad_process = lib.vad_process
_vad_note_output = lib.vad_note_output


def _as_buffer(frame: object) -> tuple[object, int]:
    if isinstance(frame, bytes):
        buf, n = frame, len(frame)
    else:
        try:
            view = memoryview(frame)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(f"audio frame must be bytes-like, got {type(frame).__name__}") from None
        if not view.c_contiguous:
            raise ValueError("audio frame buffer must be contiguous")
        n = view.nbytes
        buf = ffi.from_buffer("char[]", view)
    _check_frame_length(n)
    return buf, n


def _check_frame_length(n: int) -> None:
    if n == 0:
        raise ValueError("audio frame is empty")
    if n & 1:
        raise ValueError(f"audio frame has an odd length ({n} bytes): int16 samples are 2 bytes")
