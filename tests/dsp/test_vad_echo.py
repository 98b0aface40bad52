"""The measured echo guard: synthetic lines with echo at several return losses, and
callers at several levels talking over the agent (espeak-like speech at -15 dBFS).

What the table says: a line with strong echo (6-10 dB return) no longer hears the
agent's own voice as the caller's, and a line with little echo (30-40 dB) lets a
quiet caller (-31, -36 dBFS) interrupt in 60 ms where the fixed guard (the
reference - 12 dB) never heard them while the agent talked. In between, a
caller less than echo_guard_db above the echo stays below the guard.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from agent.demo.signals import speechlike
from dsp import EnergyVad, VadParams, VadTransition

RATE = 8000
FRAME = 160  # samples: 20 ms
AGENT_DBFS = -15.0
CALLER_AT_S = 4.0  # the agent has been talking this long when the caller starts
TOTAL_S = 7.0
FIXED = VadParams(echo_guard_db=0.0, echo_adapt_db_per_s=0.0)  # reference - 12 dB


@functools.cache
def _agent() -> np.ndarray:
    return np.frombuffer(speechlike(TOTAL_S, AGENT_DBFS, syllable_s=0.17), np.int16).astype(float)


@functools.cache
def _caller(dbfs: float) -> np.ndarray:
    pcm = speechlike(TOTAL_S - CALLER_AT_S, dbfs, syllable_s=0.23)
    return np.frombuffer(pcm, np.int16).astype(float)


def line(return_db: float, caller_dbfs: float | None, delay_s: float = 0.06):
    """(sent frames, heard frames): the agent's speech comes back ``return_db`` down
    after ``delay_s``, over -65 dBFS noise, plus the caller from CALLER_AT_S."""
    agent = _agent()
    delay = int(delay_s * RATE)
    heard = np.zeros_like(agent)
    heard[delay:] = agent[:-delay] * 10 ** (-return_db / 20)
    heard += np.random.default_rng(7).normal(0, 32768 * 10 ** (-65 / 20), len(agent))
    if caller_dbfs is not None:
        start = int(CALLER_AT_S * RATE)
        heard[start:] += _caller(caller_dbfs)[: len(agent) - start]
    sent_pcm = agent.astype(np.int16).tobytes()
    heard_pcm = np.clip(heard, -32768, 32767).astype(np.int16).tobytes()
    step = 2 * FRAME
    return (
        [sent_pcm[i : i + step] for i in range(0, len(sent_pcm), step)],
        [heard_pcm[i : i + step] for i in range(0, len(heard_pcm), step)],
    )


def listen(params: VadParams, return_db: float, caller_dbfs: float | None):
    """Seconds of echo heard as speech before the caller, and how long after the
    caller started speech was detected (None: not while the agent talked)."""
    vad = EnergyVad(params, RATE)
    echo_as_speech = 0.0
    detected = None
    for index, (out, heard) in enumerate(zip(*line(return_db, caller_dbfs), strict=True)):
        vad.note_output(out)
        transition = vad.process(heard)
        t = (index + 1) * FRAME / RATE
        if 1.0 <= t < CALLER_AT_S and vad.speaking:
            echo_as_speech += FRAME / RATE
        if t >= CALLER_AT_S and detected is None and transition == VadTransition.SPEECH_START:
            detected = round(t - CALLER_AT_S, 3)
    return echo_as_speech, detected, vad.echo_return_db


@pytest.mark.parametrize("return_db", [6, 10, 15, 20, 30, 40])
def test_the_agent_alone_is_never_heard_as_the_caller(return_db):
    echo_as_speech, _, measured = listen(VadParams(), return_db, None)
    assert echo_as_speech == 0.0
    assert measured == pytest.approx(min(return_db, 40), abs=1.0)  # the line's echo return


@pytest.mark.parametrize("return_db", [6, 10])
def test_the_fixed_guard_heard_a_strong_echo_as_the_caller(return_db):
    # Why the guard is measured: reference - 12 dB is below a 6-10 dB echo.
    echo_as_speech, _, _ = listen(FIXED, return_db, None)
    assert echo_as_speech > 2.5


@pytest.mark.parametrize(
    ("return_db", "caller_dbfs", "within_s"),
    [
        # Strong echo: protected; a caller must be echo_guard_db over the echo.
        (6, -20.0, None),
        (10, -20.0, None),
        (15, -20.0, 0.25),
        (15, -25.0, None),
        (20, -25.0, 0.25),
        (20, -31.0, None),
        # Little echo: a quiet caller gets through at once.
        (30, -31.0, 0.25),
        (30, -36.0, 0.25),
        (40, -31.0, 0.25),
        (40, -36.0, 0.25),
    ],
)
def test_a_caller_over_the_agent(return_db, caller_dbfs, within_s):
    _, detected, _ = listen(VadParams(), return_db, caller_dbfs)
    if within_s is None:
        assert detected is None
    else:
        assert detected is not None and detected <= within_s


@pytest.mark.parametrize("caller_dbfs", [-31.0, -36.0])
def test_the_fixed_guard_never_heard_a_quiet_caller_over_the_agent(caller_dbfs):
    _, detected, _ = listen(FIXED, 40, caller_dbfs)
    assert detected is None


def test_the_measurement_starts_from_the_fixed_guard_and_resets():
    vad = EnergyVad(VadParams(echo_margin_db=12.0, echo_guard_db=6.0))
    assert vad.echo_return_db == 18.0  # reference - 12 dB until measured
    sent, heard = line(40, None)
    for out, frame in zip(sent[:150], heard[:150], strict=True):
        vad.note_output(out)
        vad.process(frame)
    assert vad.echo_return_db > 30.0
    vad.reset()
    assert vad.echo_return_db == 18.0
