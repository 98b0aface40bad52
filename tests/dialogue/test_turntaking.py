"""Turn-taking policy: timed input scripts -> the actions expected, and when."""

from __future__ import annotations

import pytest

from agent.base.events import SpeechStarted, Transcript, UtteranceEnd
from agent.dialogue.turntaking import (
    BargeIn,
    CancelSpeculative,
    ConfirmResponse,
    FinalizeTranscript,
    StartResponse,
    TurnTaker,
    TurnTakingParams,
    looks_incomplete,
)

# --- a tiny script language: (time, input) pairs ---------------------------------


def vad_on(tt, t):
    return tt.vad_speech_start(t)


def vad_off(tt, t):
    return tt.vad_speech_end(t)


def interim(text, conf=1.0):
    return lambda tt, t: tt.stt_event(Transcript(text, is_final=False, confidence=conf), t)


def final(text, eot=False, conf=1.0):
    event = Transcript(text, is_final=True, end_of_turn=eot, confidence=conf, duration=1.0)
    return lambda tt, t: tt.stt_event(event, t)


def vad_pause(tt, t):
    return tt.vad_pause(t)


def vad_resume(tt, t):
    return tt.vad_resume(t)


def utterance_end(tt, t):
    return tt.stt_event(UtteranceEnd(), t)


def speaking(tt, t):
    return tt.agent_speaking(t)


def greeting(tt, t):
    return tt.agent_speaking(t, greeting=True)


def silent(tt, t):
    return tt.agent_silent(t)


def done(turn_id):
    return lambda tt, t: tt.response_done(turn_id, t)


def dtmf(digit):
    return lambda tt, t: tt.dtmf(digit, t)


def run(script, until, params=None, tt=None):
    """Feed the script; tick at every deadline (as the Trio side would) up to ``until``.
    Returns [(time, action), ...] with times rounded to the millisecond."""
    tt = tt or TurnTaker(params)
    got = []

    def tick_until(limit):
        while (deadline := tt.next_deadline()) is not None and deadline <= limit:
            got.extend((round(deadline, 3), a) for a in tt.tick(deadline))

    for t, step in script:
        tick_until(t)
        got.extend((round(t, 3), a) for a in step(tt, t))
    tick_until(until)
    return got


# The caller's first turn, committed at 1.3 as response 1; the agent then talks.
FIRST_TURN = [(0.0, vad_on), (1.0, vad_off), (1.3, final("I need a plumber.", eot=True))]
AGENT_TALKS = [*FIRST_TURN, (1.6, speaking)]
START_1 = (1.3, StartResponse(1, "I need a plumber.", False))


# --- end of turn: STT signal + VAD silence, in either order ------------------------


def test_speech_final_after_vad_silence_commits_at_once():
    assert run(FIRST_TURN, until=5) == [START_1]


def test_speech_final_while_vad_still_hears_waits_for_silence():
    script = [(0.0, vad_on), (1.0, final("I need a plumber.", eot=True)), (1.2, vad_off)]
    assert run(script, until=5) == [(1.2, StartResponse(1, "I need a plumber.", False))]


def test_stt_signal_wins_when_noise_keeps_the_vad_on():
    script = [(0.0, vad_on), (1.0, final("I need a plumber.", eot=True))]
    assert run(script, until=5) == [(2.0, StartResponse(1, "I need a plumber.", False))]


def test_vad_silence_without_any_stt_signal_commits_after_the_fallback():
    script = [(0.0, vad_on), (0.8, interim("hello there")), (1.0, vad_off)]
    # The STT is asked for its final once (issue 20); it never answers here.
    assert run(script, until=5) == [
        (1.4, FinalizeTranscript()),
        (3.0, StartResponse(1, "hello there", False)),
    ]


def test_utterance_end_closes_the_turn_with_the_interim_as_text():
    script = [(0.0, vad_on), (1.0, interim("book it")), (1.1, vad_off), (2.0, utterance_end)]
    assert run(script, until=5) == [
        (1.5, FinalizeTranscript()),
        (2.0, StartResponse(1, "book it", False)),
    ]


def test_utterance_end_after_speech_final_is_ignored():
    assert run([*FIRST_TURN, (2.3, utterance_end)], until=5) == [START_1]


def test_empty_speech_final_closes_a_turn_of_earlier_finals():
    script = [(0.0, vad_on), (0.9, final("I need a plumber")), (1.0, vad_off)]
    script += [(1.3, final("", eot=True))]
    assert run(script, until=5) == [
        (1.0, StartResponse(1, "I need a plumber", True)),
        (1.3, ConfirmResponse(1, "I need a plumber")),
    ]


def test_speech_started_from_the_stt_is_only_a_hint():
    script = [(0.5, lambda tt, t: tt.stt_event(SpeechStarted(0.5), t))]
    assert run(script, until=3) == []


# --- the VAD's stop hangover adds nothing once the STT has ended the turn ----------
# The VAD says speech ended only after 240 ms of quiet; it says "paused" at the first
# quiet frame. Speech stops at 1.0 here, the hangover would end at 1.24.


def test_end_of_turn_commits_after_the_minimum_quiet_not_the_whole_hangover():
    script = [(0.0, vad_on), (1.0, vad_pause), (1.18, final("I need a plumber.", eot=True))]
    assert run(script, until=5) == [(1.18, StartResponse(1, "I need a plumber.", False))]


def test_end_of_turn_right_at_the_pause_waits_for_the_minimum_quiet():
    script = [(0.0, vad_on), (1.0, vad_pause), (1.02, final("I need a plumber.", eot=True))]
    assert run(script, until=5) == [
        (1.02, StartResponse(1, "I need a plumber.", True)),  # generate meanwhile
        (1.06, ConfirmResponse(1, "I need a plumber.")),
    ]


def test_speech_resuming_in_the_hangover_holds_the_turn_open():
    script = [(0.0, vad_on), (1.0, vad_pause), (1.02, final("I need a plumber", eot=True))]
    script += [(1.04, vad_resume)]
    speculate = (1.02, StartResponse(1, "I need a plumber", True))
    # No commit at 1.06: the caller is talking again; the STT signal alone wins only
    # after vad_confirm_timeout_s (1 s), unless new words come first.
    assert run(script, until=1.9) == [speculate]
    assert run([*script, (1.5, interim("tomorrow"))], until=5) == [
        speculate,
        (1.5, CancelSpeculative(1)),
    ]


def test_a_final_in_a_pause_starts_speculating_before_the_hangover_ends():
    script = [(0.0, vad_on), (1.0, vad_pause), (1.18, final("I need a plumber."))]
    script += [(1.24, vad_off), (1.5, utterance_end)]
    assert run(script, until=5) == [
        (1.18, StartResponse(1, "I need a plumber.", True)),
        (1.5, ConfirmResponse(1, "I need a plumber.")),
    ]


def test_no_speculation_while_the_caller_is_audibly_talking():
    script = [(0.0, vad_on), (1.0, vad_pause), (1.05, vad_resume), (1.18, final("I need"))]
    assert run(script, until=3) == []


# --- preemptive generation --------------------------------------------------------


def test_stable_final_starts_speculative_response_confirmed_at_end_of_turn():
    script = [(0.0, vad_on), (0.9, final("I need a plumber.")), (1.0, vad_off)]
    script += [(1.2, utterance_end)]
    assert run(script, until=5) == [
        (1.0, StartResponse(1, "I need a plumber.", True)),
        (1.2, ConfirmResponse(1, "I need a plumber.")),
    ]


def test_speculative_response_is_thrown_away_when_the_caller_goes_on():
    script = [(0.0, vad_on), (0.9, final("I need a plumber")), (1.0, vad_off)]
    script += [(1.2, vad_on), (1.5, interim("tomorrow")), (1.9, final("tomorrow.", eot=True))]
    script += [(2.0, vad_off), (2.1, done(1))]  # the cancelled response ends late: ignored
    assert run(script, until=9) == [
        (1.0, StartResponse(1, "I need a plumber", True)),
        (1.5, CancelSpeculative(1)),
        (2.0, StartResponse(2, "I need a plumber tomorrow.", False)),
    ]


def test_a_final_heard_during_speech_does_not_speculate_until_silence():
    script = [(0.0, vad_on), (3.0, final("so the boiler is making a noise"))]
    assert run(script, until=10) == []
    assert run([*script, (3.5, vad_off)], until=3.6) == [
        (3.5, StartResponse(1, "so the boiler is making a noise", True))
    ]


def test_speculation_stops_after_the_per_turn_limit():
    params = TurnTakingParams(max_speculative_per_turn=1)
    script = [(0.0, vad_on), (0.9, final("I need")), (1.0, vad_off), (1.2, vad_on)]
    script += [(1.4, final("a plumber")), (1.5, vad_off), (1.7, utterance_end)]
    assert run(script, until=5, params=params) == [
        (1.0, StartResponse(1, "I need", True)),
        (1.4, CancelSpeculative(1)),
        (1.7, StartResponse(2, "I need a plumber", False)),
    ]


def test_preemptive_off_never_speculates():
    params = TurnTakingParams(preemptive=False)
    script = [(0.0, vad_on), (0.9, final("I need a plumber.")), (1.0, vad_off)]
    script += [(1.2, utterance_end)]
    assert run(script, until=5, params=params) == [
        (1.2, StartResponse(1, "I need a plumber.", False)),
    ]


# --- the caller pauses mid-sentence ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "incomplete"),
    [
        ("My postcode is", True),
        ("It's at the", True),
        ("um", True),
        ("I live at 12,", True),
        ("Let me think...", True),
        ("My postcode is SW1A 1AA", False),
        ("Is that right?", False),
        ("Yes", False),
        ("", False),
    ],
)
def test_looks_incomplete(text, incomplete):
    assert looks_incomplete(text) is incomplete


def test_my_postcode_is_pause_then_the_postcode():
    script = [(0.0, vad_on), (1.0, vad_off), (1.3, final("My postcode is", eot=True))]
    script += [(1.8, vad_on), (2.2, interim("SW1A")), (2.9, final("SW1A 1AA.", eot=True))]
    script += [(3.0, vad_off)]
    assert run(script, until=9) == [
        (1.3, StartResponse(1, "My postcode is", True)),
        (2.2, CancelSpeculative(1)),
        (3.0, StartResponse(2, "My postcode is SW1A 1AA.", False)),
    ]


def test_a_cough_after_the_sentence_does_not_spoil_the_speculative_reply():
    script = [(0.0, vad_on), (0.9, final("I need a plumber.")), (1.0, vad_off)]
    script += [(1.1, vad_on), (1.2, final("", eot=True)), (1.35, vad_off)]
    assert run(script, until=5) == [
        (1.0, StartResponse(1, "I need a plumber.", True)),
        (1.35, ConfirmResponse(1, "I need a plumber.")),
    ]


def test_an_incomplete_turn_is_still_taken_after_the_hold():
    script = [(0.0, vad_on), (1.0, vad_off), (1.3, final("My postcode is", eot=True))]
    assert run(script, until=9) == [
        (1.3, StartResponse(1, "My postcode is", True)),
        (2.3, ConfirmResponse(1, "My postcode is")),
    ]


def test_caller_goes_on_after_commit_before_any_audio():
    script = [*FIRST_TURN, (1.5, vad_on), (1.7, interim("for tomorrow"))]
    script += [(2.0, vad_off), (2.2, final("for tomorrow.", eot=True)), (2.3, done(1))]
    assert run(script, until=5) == [
        START_1,
        (1.7, BargeIn(1, "caller-continued", take_back=True)),  # the turn was not over
        (2.2, StartResponse(2, "for tomorrow.", False)),
    ]


def test_backchannel_while_the_agent_thinks_is_not_a_turn():
    script = [*FIRST_TURN, (1.4, vad_on), (1.6, vad_off), (1.8, final("Yeah.", eot=True))]
    assert run(script, until=5) == [START_1]
