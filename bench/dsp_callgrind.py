"""A fixed workload for instruction-count profiling of the DSP core.

Wall-clock figures (bench/dsp_speed.py) move with the machine's load; instruction
counts under valgrind's callgrind do not. See docs/performance.md,
"Profiling the DSP core" for the commands. Example:

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=vad_process \
        .venv/bin/python bench/dsp_callgrind.py --frames 10000

Total instructions / frames = instructions per 20 ms frame inside the C VAD.
Run it with --frames 0 and --frames N (no --toggle-collect) and divide the
difference by N for the whole path: Python wrapper + cffi + C.
"""

from __future__ import annotations

import argparse
import math
import sys
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsp import EnergyVad, Pacer


def workload(kind: str, frames: int) -> None:
    # A -20 dBFS 400 Hz tone, 20 ms at 8 kHz; no numpy, to keep startup small.
    amp = 32768 * 10 ** (-20 / 20) * math.sqrt(2)
    frame = array("h", (round(amp * math.sin(2 * math.pi * 400 * i / 8000)) for i in range(160)))
    pcm = frame.tobytes() if sys.byteorder == "little" else _swapped(frame)
    if kind == "vad":
        process = EnergyVad().process
        for _ in range(frames):
            process(pcm)
    elif kind == "vad_echo":
        # The agent talking (the frame at -20 dBFS) and its echo coming back 30 dB down:
        # the echo guard's path, estimate of the echo return included.
        echo = array("h", (v // 32 for v in frame))
        echo_pcm = echo.tobytes() if sys.byteorder == "little" else _swapped(echo)
        vad = EnergyVad()
        note, process = vad.note_output, vad.process
        for _ in range(frames):
            note(pcm)
            process(echo_pcm)
    elif kind == "note_output":
        note = EnergyVad().note_output
        for _ in range(frames):
            note(pcm)
    else:
        pacer = Pacer()
        for i in range(frames):
            now = i * 20_000
            pacer.due_us(now)
            pacer.sent(now)


def _swapped(frame: array) -> bytes:
    frame = array("h", frame)
    frame.byteswap()
    return frame.tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description="DSP workload for callgrind")
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument(
        "--what", choices=["vad", "vad_echo", "note_output", "pacer"], default="vad"
    )
    args = parser.parse_args()
    workload(args.what, args.frames)


if __name__ == "__main__":
    main()
