"""The Python face of the C DSP core (csrc/): energy VAD and frame pacer.

Pure: no trio, no clock reads. Time is passed in; the VAD's clock is the audio.
The pacer's wake-up timer (``WakeTimer``) is the one kernel object here: a
descriptor for the caller's event loop to wait on.
"""

from __future__ import annotations

from dsp._pacer import Pacer, PacerParams
from dsp._timer import WakeTimer
from dsp._vad import SILENCE_DBFS, EnergyVad, VadParams, VadTransition, frame_level_dbfs
from dsp._validate import ParamError

__all__ = [
    "FRAME_MS",
    "SILENCE_DBFS",
    "EnergyVad",
    "Pacer",
    "PacerParams",
    "ParamError",
    "VadParams",
    "VadTransition",
    "WakeTimer",
    "frame_bytes",
    "frame_level_dbfs",
]

#: Frame duration of the AudioSocket stream.
FRAME_MS = 20


def frame_bytes(sample_rate: int = 8000, ms: int = FRAME_MS) -> int:
    """Bytes in one frame of 16-bit mono PCM: 320 for 20 ms at 8 kHz."""
    if sample_rate <= 0 or ms <= 0:
        raise ValueError(f"sample_rate and ms must be positive, got {sample_rate!r}, {ms!r}")
    samples, rest = divmod(sample_rate * ms, 1000)
    if rest:
        raise ValueError(f"{ms} ms at {sample_rate} Hz is not a whole number of samples")
    return samples * 2
