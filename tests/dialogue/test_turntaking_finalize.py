"""Asking the STT for its final when the caller has stopped (issue 20).

Deepgram with smart format holds a final for up to 3 s while an entity may go on
(a phone number, a date); its documented remedy is ``Finalize``. The turn-taker
asks (``FinalizeTranscript``) once per pause, ``stt_finalize_after_s`` after the
VAD ended the caller's speech, when words are pending and the STT has not ended
the turn; the answer (a final that ends the turn) commits it.
"""

from __future__ import annotations

from agent.base.events import Transcript
from agent.dialogue.turntaking import (
    FinalizeTranscript,
    StartResponse,
    TurnTaker,
    TurnTakingParams,
)
from tests.dialogue.test_turntaking import final, interim, run, vad_off, vad_on

PHONE = "My number is 07700 900123."


def test_held_final_is_asked_for_and_its_answer_commits_the_turn():
    # Interims up to the end of speech; the final is withheld (an entity may go on).
    script = [(0.0, vad_on), (2.0, interim("My number is 07700 900")), (2.2, vad_off)]
    script += [(2.7, final(PHONE, eot=True))]  # the answer to Finalize
    assert run(script, until=6) == [
        (2.6, FinalizeTranscript()),
        (2.7, StartResponse(1, PHONE, False)),
    ]


def test_an_stt_that_ends_the_turn_in_time_is_never_asked():
    script = [(0.0, vad_on), (0.9, interim("I need")), (1.0, vad_off)]
    script += [(1.3, final("I need a plumber.", eot=True))]
    actions = [action for _, action in run(script, until=5)]
    assert not any(isinstance(a, FinalizeTranscript) for a in actions)


def test_asked_once_per_pause_and_again_after_the_next_one():
    script = [(0.0, vad_on), (0.8, interim("My number is")), (1.0, vad_off)]
    script += [(1.8, vad_on), (2.5, interim("My number is 07700")), (3.0, vad_off)]
    asks = [t for t, a in run(script, until=3.9) if isinstance(a, FinalizeTranscript)]
    assert asks == [1.4, 3.4]


def test_not_asked_while_the_caller_talks_or_with_nothing_heard():
    script = [(0.0, vad_on), (0.5, interim("hello")), (5.0, vad_off)]
    asks = [t for t, a in run(script, until=5.3) if isinstance(a, FinalizeTranscript)]
    assert asks == []  # still talking until 5.0; due only at 5.4
    assert run([(0.0, vad_on), (1.0, vad_off)], until=5) == []  # a cough: no words


def test_words_the_vad_did_not_hear_end_are_not_finalized():
    # Speech ended at 1.0; words turn up at 3.0 (the echo guard hid a quiet caller).
    tt = TurnTaker()
    tt.vad_speech_start(0.0)
    tt.vad_speech_end(1.0)
    actions = tt.stt_event(Transcript("excuse me", is_final=False), 3.0)
    assert not any(isinstance(a, FinalizeTranscript) for a in actions)
    assert tt.next_deadline() == 5.0  # the no-signal fallback, as before


def test_the_delay_is_a_parameter():
    script = [(0.0, vad_on), (0.8, interim("hi")), (1.0, vad_off)]
    params = TurnTakingParams(stt_finalize_after_s=0.1)
    assert run(script, until=1.5, params=params) == [(1.1, FinalizeTranscript())]
