"""How soon a caller talking over the agent stops it, per line echo and caller level.

    python bench/echo_guard.py

Synthetic lines (agent speech at -15 dBFS, like espeak's, coming back with a
given echo return after 60 ms, over -65 dBFS noise; the caller starts after 4 s
of agent speech): the C VAD with the measured echo guard (the default) and with
the fixed one (reference - 12 dB, ``echo_adapt_db_per_s=0``), plus the
turn-taking's pause rule (``barge_in_min_speech_s``, 0.2 s of caller speech):
the time from the caller's first word to the agent's playout pausing. "echo":
seconds of the agent's own echo heard as caller speech before the caller spoke.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.demo.signals import speechlike
from agent.dialogue.turntaking import TurnTakingParams
from dsp import EnergyVad, VadParams, VadTransition

RATE, FRAME = 8000, 160
CALLER_AT, TOTAL = 4.0, 8.0
PAUSE_S = TurnTakingParams().barge_in_min_speech_s


def line(return_db: float, caller_dbfs: float | None) -> tuple[list[bytes], list[bytes]]:
    agent = np.frombuffer(speechlike(TOTAL, -15.0, syllable_s=0.17), np.int16).astype(float)
    heard = np.zeros_like(agent)
    delay = int(0.06 * RATE)
    heard[delay:] = agent[:-delay] * 10 ** (-return_db / 20)
    heard += np.random.default_rng(7).normal(0, 32768 * 10 ** (-65 / 20), len(agent))
    if caller_dbfs is not None:
        start = int(CALLER_AT * RATE)
        caller = speechlike(TOTAL - CALLER_AT, caller_dbfs, syllable_s=0.23)
        heard[start:] += np.frombuffer(caller, np.int16)[: len(agent) - start]
    sent = agent.astype(np.int16).tobytes()
    got = np.clip(heard, -32768, 32767).astype(np.int16).tobytes()
    step = 2 * FRAME
    return [sent[i : i + step] for i in range(0, len(sent), step)], [
        got[i : i + step] for i in range(0, len(got), step)
    ]


def measure(params: VadParams, return_db: float, caller_dbfs: float | None) -> tuple[float, str]:
    vad = EnergyVad(params, RATE)
    echo_s, stopped = 0.0, "-"
    for index, (out, heard) in enumerate(zip(*line(return_db, caller_dbfs), strict=True)):
        vad.note_output(out)
        transition = vad.process(heard)
        t = (index + 1) * FRAME / RATE
        if 1.0 <= t < CALLER_AT and vad.speaking:
            echo_s += FRAME / RATE
        if t >= CALLER_AT and stopped == "-" and transition == VadTransition.SPEECH_START:
            stopped = f"{(t - CALLER_AT + PAUSE_S) * 1000:.0f} ms"
    return echo_s, stopped


def main() -> None:
    guards = {"measured": VadParams(), "fixed": VadParams(echo_adapt_db_per_s=0.0)}
    levels = (-20.0, -25.0, -31.0, -36.0)
    head = " | ".join(f"caller {lv:.0f}" for lv in levels)
    print(f"| echo return | guard | echo heard as caller | {head} |")
    print("|---|---|---|" + "---|" * len(levels))
    for return_db in (6, 10, 15, 20, 30, 40):
        for name, params in guards.items():
            echo_s, _ = measure(params, return_db, None)
            cells = " | ".join(measure(params, return_db, lv)[1] for lv in levels)
            print(f"| {return_db} dB | {name} | {echo_s:.1f} s | {cells} |")
    print(
        f"(time from the caller's first word to playout paused; '-': not while the agent"
        f" talked, {TOTAL - CALLER_AT:.0f} s)"
    )


if __name__ == "__main__":
    main()
