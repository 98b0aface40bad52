"""The echo guard around the agent's onsets, where it learns a line's echo at once.

A caller who talks over the greeting, early in the call: the guard has had
about a second to measure the line, and the agent's speech rises and falls from
word to word (real TTS does; ``speechlike`` alone is flat). Measured through a
real Asterisk (issue 14): every rise of the agent's level after a quieter word
counted as "the agent began sending", and in the window after it the caller's
first loud frames were learned as echo at once, so the guard jumped above the
caller and the greeting was never interrupted. The window is for the start of
agent audio after a silence only.

A caller who starts talking just as the agent starts again after a pause: the
frames in that window may be the caller, not echo, and a measured line's echo
return may drop there at once only by ``echo_onset_drop_db``; before, the caller
was taken for echo and not heard for the agent's whole utterance.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from agent.demo.signals import greeting_like, speechlike
from dsp import EnergyVad, VadParams, VadTransition

RATE = 8000
FRAME = 160  # samples: 20 ms
CALLER_AT_S = 1.0  # into the greeting
TOTAL_S = 4.0


@functools.cache
def greeting() -> np.ndarray:
    return greeting_like(TOTAL_S, RATE)


def call(return_db: float, caller_dbfs: float | None, delay_s: float = 0.06):
    """Per 20 ms: (what the agent sent, what came back): its greeting ``return_db``
    down after ``delay_s`` over -65 dBFS noise, and the caller from CALLER_AT_S."""
    agent = greeting()
    delay = int(delay_s * RATE)
    heard = np.zeros_like(agent)
    heard[delay:] = agent[:-delay] * 10 ** (-return_db / 20)
    heard += np.random.default_rng(3).normal(0, 32768 * 10 ** (-65 / 20), len(agent))
    if caller_dbfs is not None:
        start = int(CALLER_AT_S * RATE)
        caller = speechlike(TOTAL_S - CALLER_AT_S, caller_dbfs, syllable_s=0.23)
        heard[start:] += np.frombuffer(caller, np.int16)[: len(agent) - start]
    sent = agent.astype(np.int16).tobytes()
    back = np.clip(heard, -32768, 32767).astype(np.int16).tobytes()
    step = 2 * FRAME
    return [(sent[i : i + step], back[i : i + step]) for i in range(0, len(sent), step)]


def listen(return_db: float, caller_dbfs: float | None):
    """(seconds of echo heard as speech before the caller, when after the caller's
    start speech was detected: None if not while the greeting played)."""
    vad = EnergyVad(VadParams(), RATE)
    echo_as_speech, detected = 0.0, None
    for index, (out, back) in enumerate(call(return_db, caller_dbfs)):
        vad.note_output(out)
        transition = vad.process(back)
        t = (index + 1) * FRAME / RATE
        if t < CALLER_AT_S and vad.speaking:
            echo_as_speech += FRAME / RATE
        if t >= CALLER_AT_S and detected is None and transition == VadTransition.SPEECH_START:
            detected = round(t - CALLER_AT_S, 3)
    return echo_as_speech, detected


@pytest.mark.parametrize(
    ("return_db", "caller_dbfs", "within_s"),
    [
        # Little echo (a handset, or Asterisk's own phone): a caller at a phone's
        # usual level is heard at once, one second into the call.
        (40, -25.0, 0.25),
        (40, -31.0, 0.25),
        (30, -28.0, 0.25),
        (30, -31.0, 0.25),
        # Strong echo: still protected; a caller must be echo_guard_db over the echo.
        (6, -24.0, None),
        # (Under the echo of every word: -26 dBFS is heard at the greeting's
        # -23 dBFS words, 7 dB over their echo, as the guard means it to be.)
        (10, -30.0, None),
        (6, -12.0, 0.25),
        (15, -20.0, 0.25),
    ],
)
def test_a_caller_talking_over_the_greeting(return_db, caller_dbfs, within_s):
    echo_as_speech, detected = listen(return_db, caller_dbfs)
    assert echo_as_speech == 0.0
    if within_s is None:
        assert detected is None
    else:
        assert detected is not None and detected <= within_s, detected


@pytest.mark.parametrize("return_db", [6, 10, 20, 40])
def test_the_greeting_alone_is_never_heard_as_the_caller(return_db):
    echo_as_speech, detected = listen(return_db, None)
    assert (echo_as_speech, detected) == (0.0, None)


PAUSE_AT_S, RESUME_AT_S, RESUMED_S = 2.0, 3.0, 3.0


def resumed(return_db: float, caller_dbfs: float | None, caller_from_s: float):
    """The agent talks 2 s (the line is measured), is silent 1 s, then talks again;
    the caller starts ``caller_from_s`` after it starts again."""
    rate = RATE
    agent = np.zeros(int((RESUME_AT_S + RESUMED_S) * rate))
    agent[: int(PAUSE_AT_S * rate)] = np.frombuffer(speechlike(PAUSE_AT_S, -15.0), np.int16)
    agent[int(RESUME_AT_S * rate) :] = np.frombuffer(speechlike(RESUMED_S, -15.0), np.int16)
    delay = int(0.06 * rate)
    heard = np.zeros_like(agent)
    heard[delay:] = agent[:-delay] * 10 ** (-return_db / 20)
    heard += np.random.default_rng(5).normal(0, 32768 * 10 ** (-65 / 20), len(agent))
    start = int((RESUME_AT_S + caller_from_s) * rate)
    if caller_dbfs is not None:
        caller = speechlike(len(agent) / rate, caller_dbfs, syllable_s=0.23)
        heard[start:] += np.frombuffer(caller, np.int16)[: len(agent) - start]
    vad = EnergyVad(VadParams(), rate)
    echo_as_speech, detected = 0.0, None
    for i in range(0, len(agent), FRAME):
        vad.note_output(agent[i : i + FRAME].astype(np.int16).tobytes())
        back = np.clip(heard[i : i + FRAME], -32768, 32767).astype(np.int16).tobytes()
        transition = vad.process(back)
        t = (i + FRAME) / rate
        if caller_dbfs is None and vad.speaking:
            echo_as_speech += FRAME / rate
        if i >= start and detected is None and transition == VadTransition.SPEECH_START:
            detected = round(t - start / rate, 3)
    return echo_as_speech, detected


@pytest.mark.parametrize("caller_from_s", [0.0, 0.1, 0.2])
@pytest.mark.parametrize(
    ("return_db", "caller_dbfs", "within_s"),
    [
        (40, -28.0, 0.25),
        (40, -31.0, 0.25),
        (30, -25.0, 0.25),
        (6, -24.0, None),  # strong echo: still protected
    ],
)
def test_a_caller_starting_as_the_agent_starts_again(
    return_db, caller_dbfs, within_s, caller_from_s
):
    _, detected = resumed(return_db, caller_dbfs, caller_from_s)
    if within_s is None:
        assert detected is None
    else:
        assert detected is not None and detected <= within_s, detected


@pytest.mark.parametrize("return_db", [6, 10, 20, 40])
def test_the_agent_starting_again_alone_is_never_heard_as_the_caller(return_db):
    assert resumed(return_db, None, 0.0) == (0.0, None)
