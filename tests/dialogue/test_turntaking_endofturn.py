"""The caller's side of turn-taking: the heard turn and when it is over."""

from __future__ import annotations

import pytest

from agent.base.events import Transcript
from agent.dialogue.turntaking_endofturn import (
    CallerSpeech,
    HeardTurn,
    end_of_turn_due,
    spoken_words,
)
from agent.dialogue.turntaking_params import TurnTakingParams

PARAMS = TurnTakingParams(
    vad_confirm_timeout_s=1.0, stt_eot_timeout_s=2.0, incomplete_hold_s=0.5, eot_min_quiet_s=0.1
)


def final(text, *, eot=False, conf=1.0, duration=1.0):
    return Transcript(text, is_final=True, end_of_turn=eot, confidence=conf, duration=duration)


def test_spoken_words_keeps_hyphens_and_apostrophes():
    assert spoken_words("Mm-hmm, YEAH. it's fine!") == ["mm-hmm", "yeah", "it's", "fine"]


def test_heard_turn_joins_finals_and_the_latest_interim():
    heard = HeardTurn()
    heard.hear(final("my postcode is"), 1.0)
    heard.hear(Transcript(" SW1A ", is_final=False), 1.5)
    assert heard.text() == "my postcode is SW1A"
    assert (heard.last_words_at, heard.eot_at) == (1.5, None)
    heard.hear(final("SW1A 1AA", eot=True), 2.0)
    assert heard.text() == "my postcode is SW1A 1AA" and heard.interim is None
    assert heard.eot_at == 2.0
    heard.clear()
    assert (heard.text(), heard.eot_at, heard.last_words_at) == ("", None, 2.0)


def test_confidence_is_weighted_by_duration():
    heard = HeardTurn()
    heard.hear(final("one", conf=0.9, duration=3.0), 1.0)
    heard.hear(final("two", conf=0.1, duration=1.0), 2.0)
    assert heard.confidence() == pytest.approx(0.7)


def test_confidence_without_durations_is_the_weakest_piece():
    heard = HeardTurn()
    heard.hear(final("one", conf=0.9, duration=0.0), 1.0)
    heard.hear(final("two", conf=0.4, duration=0.0), 2.0)
    assert heard.confidence() == 0.4
    assert HeardTurn().confidence() == 1.0  # nothing heard: nothing doubtful


def heard_at(text, *, eot_at=None, words_at=1.0):
    heard = HeardTurn()
    heard.hear(final(text), words_at)
    heard.eot_at = eot_at
    return heard


@pytest.mark.parametrize(
    ("speech", "heard", "due"),
    [
        # nothing heard: no end of turn in sight
        (CallerSpeech(), HeardTurn(), None),
        # STT signal while the VAD still hears sound: the noise fallback
        (CallerSpeech(speaking=True), heard_at("a plumber", eot_at=3.0), 4.0),
        # STT signal, the VAD in its stop hangover: a little quiet is enough
        (CallerSpeech(speaking=True, quiet_from=3.5), heard_at("a plumber", eot_at=3.0), 3.6),
        # STT signal after the VAD ended: at once
        (CallerSpeech(ended_at=2.5), heard_at("a plumber", eot_at=3.0), 3.0),
        # VAD ended after the STT signal: when it ended
        (CallerSpeech(ended_at=3.2), heard_at("a plumber", eot_at=3.0), 3.2),
        # mid-phrase: hold on
        (CallerSpeech(ended_at=2.5), heard_at("my postcode is", eot_at=3.0), 3.5),
        # no STT signal: VAD silence and the STT fallback
        (CallerSpeech(ended_at=2.5), heard_at("a plumber", words_at=2.0), 4.5),
        # no STT signal and the caller still speaking: wait
        (CallerSpeech(speaking=True), heard_at("a plumber"), None),
    ],
)
def test_end_of_turn_due(speech, heard, due):
    got = end_of_turn_due(heard, speech, PARAMS)
    assert got == (None if due is None else pytest.approx(due))
