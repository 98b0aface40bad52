"""How soon a caller talking over the agent is heard, per line echo, delay and caller level.

    python bench/echo_guard.py [--fixed]

Synthetic calls, as in tests/dsp/test_vad_quiet.py: the agent's greeting (words
rising and falling around -15 dBFS, pauses between them) comes back with a given
echo return (dB) after a given delay over -65 dBFS line noise; the caller starts
1 s into it (the line has been heard for a second) or within its first 300 ms.
Each cell: the time from the caller's first word to the C VAD's SPEECH_START
("-": not while the agent talked, 3 s), plus the turn-taking's pause rule
(``barge_in_min_speech_s``) for when the agent's playout pauses. "echo": seconds
of the agent's own echo heard as caller speech with no caller at all.
``--fixed``: the fixed guard (reference - 12 dB, ``echo_adapt_db_per_s=0``).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.demo.signals import greeting_like, speechlike
from agent.dialogue.turntaking import TurnTakingParams
from dsp import EnergyVad, VadParams, VadTransition

RATE, FRAME, TOTAL_S = 8000, 160, 4.0
PAUSE_S = TurnTakingParams().barge_in_min_speech_s
LEVELS = (-25.0, -31.0, -34.0, -37.0, -40.0)


@functools.cache
def greeting() -> np.ndarray:
    return greeting_like(TOTAL_S, RATE)


def listen(params: VadParams, return_db: float, delay_s: float, caller: float | None, at: float):
    sent = greeting()
    delay = int(delay_s * RATE)
    heard = np.zeros_like(sent)
    heard[delay:] = sent[: len(sent) - delay] * 10 ** (-return_db / 20)
    heard += np.random.default_rng(11).normal(0, 32768 * 10 ** (-65 / 20), len(sent))
    start = int(at * RATE)
    if caller is not None:
        voice = np.frombuffer(speechlike(TOTAL_S, caller, syllable_s=0.23), np.int16)
        heard[start:] += voice[: len(sent) - start]
    out = sent.astype(np.int16).tobytes()
    back = np.clip(heard, -32768, 32767).astype(np.int16).tobytes()
    vad = EnergyVad(params, RATE)
    echo_s, detected = 0.0, None
    for i in range(0, len(out), 2 * FRAME):
        vad.note_output(out[i : i + 2 * FRAME])
        transition = vad.process(back[i : i + 2 * FRAME])
        t = (i // 2 + FRAME) / RATE
        if caller is None and vad.speaking:
            echo_s += FRAME / RATE
        if t > at and detected is None and transition == VadTransition.SPEECH_START:
            detected = t - at
    return echo_s, detected


def cell(detected: float | None) -> str:
    return "-" if detected is None else f"{detected * 1000:.0f} ms"


def table(params: VadParams, at: float, lines) -> None:
    print(
        f"\ncaller starts {at:.1f} s into the greeting: ms to SPEECH_START (+{PAUSE_S * 1000:.0f}"
        " ms to pause the agent)"
    )
    print("| echo return | delay | echo | " + " | ".join(f"{lv:.0f} dBFS" for lv in LEVELS) + " |")
    print("|---|---|---|" + "---|" * len(LEVELS))
    for return_db, delay_s in lines:
        echo_s, _ = listen(params, return_db, delay_s, None, at)
        cells = " | ".join(cell(listen(params, return_db, delay_s, lv, at)[1]) for lv in LEVELS)
        print(f"| {return_db} dB | {delay_s * 1000:.0f} ms | {echo_s:.1f} s | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixed", action="store_true", help="the fixed guard, for comparison")
    args = parser.parse_args()
    params = VadParams(echo_adapt_db_per_s=0.0) if args.fixed else VadParams()
    lines = [(r, d) for r in (6, 12, 20, 30, 40) for d in (0.02, 0.06, 0.15, 0.3)]
    table(params, 1.0, lines)
    table(params, 0.2, [(r, d) for r, d in lines if r >= 30])
    table(params, 0.1, [(r, d) for r, d in lines if r >= 30 and d in (0.06, 0.3)])


if __name__ == "__main__":
    main()
