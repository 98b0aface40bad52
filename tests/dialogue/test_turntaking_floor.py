"""Turn-taking: barge-in, the greeting, blips and silence (end of turn: ``test_turntaking``)."""

from __future__ import annotations

import pytest

from agent.base.errors import ConfigError
from agent.base.events import SpeechStarted, Transcript
from agent.dialogue.doubt import UNSURE_PREFIX
from agent.dialogue.turntaking import (
    AskRepeat,
    BargeIn,
    CancelSpeculative,
    DtmfInput,
    PausePlayout,
    Reprompt,
    ResumePlayout,
    SilenceTimeout,
    StartResponse,
    TurnTaker,
    TurnTakingParams,
)
from tests.dialogue.test_turntaking import (
    AGENT_TALKS,
    FIRST_TURN,
    START_1,
    done,
    dtmf,
    final,
    greeting,
    interim,
    run,
    silent,
    speaking,
    utterance_end,
    vad_off,
    vad_on,
)

# --- barge-in ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("speech_s", "expected"),
    [
        (0.199, []),
        (0.2, [(3.2, PausePlayout()), (3.8, ResumePlayout())]),
    ],
    ids=["199ms-nothing", "200ms-pause-then-resume"],
)
def test_barge_in_minimum_speech(speech_s, expected):
    script = [*AGENT_TALKS, (3.0, vad_on), (3.0 + speech_s, vad_off)]
    assert run(script, until=20)[1:] == expected


def test_barge_in_pauses_at_onset_and_cancels_on_words():
    script = [*AGENT_TALKS, (3.0, vad_on), (3.5, interim("wait")), (4.0, vad_off)]
    script += [(4.2, final("Wait, actually Thursday.", eot=True))]
    assert run(script, until=9)[1:] == [
        (3.2, PausePlayout()),
        (3.5, BargeIn(1, "words")),
        (4.2, StartResponse(2, "Wait, actually Thursday.", False)),
    ]


def test_long_speech_without_words_confirms_the_barge_in():
    script = [*AGENT_TALKS, (3.0, vad_on)]
    assert run(script, until=3.9)[1:] == [(3.2, PausePlayout()), (3.8, BargeIn(1, "speech"))]


def test_false_interruption_cough_resumes_after_the_window():
    tt = TurnTaker()
    script = [*AGENT_TALKS, (3.0, vad_on), (3.3, vad_off)]
    assert run(script, until=9, tt=tt)[1:] == [(3.2, PausePlayout()), (3.8, ResumePlayout())]
    assert tt.statistics().false_interruptions == 1
    assert tt.statistics().barge_ins == 0


def test_words_arriving_after_the_resume_still_barge_in():
    script = [*AGENT_TALKS, (3.0, vad_on), (3.3, vad_off), (4.0, interim("no"))]
    assert run(script, until=4.5)[1:] == [
        (3.2, PausePlayout()),
        (3.8, ResumePlayout()),
        (4.0, BargeIn(1, "words")),
    ]


def test_short_no_over_the_agent_is_a_turn():
    script = [*AGENT_TALKS, (3.0, vad_on), (3.25, vad_off), (3.6, final("No.", eot=True))]
    assert run(script, until=9)[1:] == [
        (3.2, PausePlayout()),
        (3.6, BargeIn(1, "words")),
        (3.6, StartResponse(2, "No.", False)),
    ]


@pytest.mark.parametrize("words", ["mm-hmm", "Yeah.", "okay right"])
def test_backchannel_over_the_agent_does_not_interrupt(words):
    script = [*AGENT_TALKS, (3.0, vad_on), (3.35, vad_off), (3.5, final(words))]
    assert run(script, until=9)[1:] == [(3.2, PausePlayout()), (3.8, ResumePlayout())]


def test_more_than_a_backchannel_interrupts():
    script = [*AGENT_TALKS, (3.0, vad_on), (3.5, interim("yeah hang on"))]
    assert run(script, until=3.6)[1:] == [(3.2, PausePlayout()), (3.5, BargeIn(1, "words"))]


def test_words_without_a_vad_onset_still_barge_in():
    # The echo guard can hide a quiet caller from our VAD; the STT still hears them.
    # With no VAD end to wait for, the turn is taken by the no-signal fallback.
    script = [*AGENT_TALKS, (3.0, interim("excuse me"))]
    assert run(script, until=9)[1:] == [
        (3.0, BargeIn(1, "words")),
        (5.0, StartResponse(2, "excuse me", False)),
    ]


# --- greeting settle window and echo cooldown --------------------------------------


@pytest.mark.parametrize(
    ("is_greeting", "speech_end", "expected"),
    [
        # "Hello?" over the first frames of the greeting: counted from 0.15 s only.
        (True, 0.3, []),
        (True, 0.4, [(0.35, PausePlayout()), (0.95, ResumePlayout())]),
        # Without the greeting flag the same speech counts from its onset.
        (False, 0.3, [(0.25, PausePlayout()), (0.85, ResumePlayout())]),
    ],
)
def test_greeting_settle_window(is_greeting, speech_end, expected):
    script = [(0.0, greeting if is_greeting else speaking), (0.05, vad_on), (speech_end, vad_off)]
    assert run(script, until=5) == expected


def test_caller_talking_over_the_greeting_takes_the_floor():
    script = [(0.0, greeting), (0.05, vad_on), (0.6, interim("hello")), (0.9, vad_off)]
    script += [(1.1, final("Hello, is that the plumber?", eot=True))]
    assert run(script, until=5) == [
        (0.35, PausePlayout()),
        (0.6, BargeIn(None, "words")),
        (1.1, StartResponse(1, "Hello, is that the plumber?", False)),
    ]


@pytest.mark.parametrize(
    ("agent_quiet_at", "expected"),
    [
        (1.0, []),  # onset 0.1 s after the agent went quiet: echo tail, counted from 1.3
        (0.5, [(1.4, PausePlayout()), (2.0, ResumePlayout())]),
    ],
)
def test_post_playback_echo_cooldown(agent_quiet_at, expected):
    script = [(0.0, speaking), (agent_quiet_at, silent), (1.1, vad_on), (1.2, speaking)]
    script += [(1.45, vad_off)]
    assert run(script, until=5) == expected


# --- blips, short answers, silence ----------------------------------------------------


def test_blip_without_words_is_not_a_turn_and_does_not_reset_the_silence_timer():
    script = [(0.0, speaking), (0.5, silent), (2.0, vad_on), (2.3, vad_off)]
    assert run(script, until=7) == [(6.5, Reprompt(1))]


def test_longer_wordless_speech_resets_the_silence_timer():
    script = [(0.0, speaking), (0.5, silent), (2.0, vad_on), (2.5, vad_off)]
    assert run(script, until=9) == [(8.5, Reprompt(1))]


def test_short_yes_is_a_turn():
    script = [(0.0, speaking), (0.5, silent), (2.0, vad_on), (2.25, vad_off)]
    script += [(2.5, final("Yes.", eot=True))]
    assert run(script, until=5) == [(2.5, StartResponse(1, "Yes.", False))]


def test_reprompts_then_silence_timeout_once():
    assert run([(0.0, speaking), (1.0, silent)], until=60) == [
        (7.0, Reprompt(1)),
        (13.0, Reprompt(2)),
        (19.0, Reprompt(3)),
        (25.0, SilenceTimeout(3)),
    ]


def test_reprompt_timer_counts_from_the_end_of_the_reprompt_itself():
    script = [(0.0, speaking), (1.0, silent), (7.1, speaking), (9.0, silent)]
    assert run(script, until=15.5) == [(7.0, Reprompt(1)), (15.0, Reprompt(2))]


def test_an_answer_resets_the_reprompt_count():
    script = [(0.0, speaking), (1.0, silent), (8.0, vad_on), (8.5, vad_off)]
    script += [(8.7, final("Sorry, yes.", eot=True)), (9.0, speaking), (10.0, silent)]
    script += [(10.1, done(1))]
    assert run(script, until=16.2) == [
        (7.0, Reprompt(1)),
        (8.7, StartResponse(1, "Sorry, yes.", False)),
        (16.1, Reprompt(1)),
    ]


def test_no_reprompt_while_a_response_is_still_running():
    script = [*FIRST_TURN, (1.6, speaking), (2.0, silent)]
    assert run(script, until=30) == [START_1]  # response 1 never reported done
    script += [(3.0, done(1))]
    assert run(script, until=9.5) == [START_1, (9.0, Reprompt(1))]


def test_stale_response_done_is_ignored():
    script = [*FIRST_TURN, (1.5, done(99)), (1.6, speaking), (2.0, silent)]
    assert run(script, until=30) == [START_1]


def test_reprompt_can_be_disabled_to_a_direct_timeout():
    params = TurnTakingParams(max_reprompts=0, reprompt_after_s=10)
    assert run([(0.0, speaking), (1.0, silent)], until=60, params=params) == [
        (11.0, SilenceTimeout(0)),
    ]


# --- recognition confidence ---------------------------------------------------------------


def test_low_confidence_goes_on_marked_unsure_never_dropped():
    def turn(start, text):
        return [(start, vad_on), (start + 1, vad_off), (start + 1.2, final(text, True, 0.3))]

    script = [*turn(0, "oh seven seven"), *turn(5, "it's 0770"), (5.0, done(1))]
    script.sort(key=lambda step: step[0])
    assert run(script, until=12) == [
        (1.2, StartResponse(1, f"{UNSURE_PREFIX}077", False, 0.3)),  # normalised too
        (6.2, StartResponse(2, f"{UNSURE_PREFIX}it's 0770", False, 0.3)),
    ]


def test_low_confidence_asks_to_repeat_then_takes_the_best_guess_when_not_confirming():
    def turn(start, text):
        return [(start, vad_on), (start + 1, vad_off), (start + 1.2, final(text, True, 0.3))]

    params = TurnTakingParams(confirm_unsure=False)
    script = [*turn(0, "blue bar"), *turn(5, "blue car"), *turn(10, "boo car")]
    assert run(script, until=12, params=params) == [
        (1.2, AskRepeat("blue bar", 0.3, 1)),
        (6.2, AskRepeat("blue car", 0.3, 2)),
        (11.2, StartResponse(1, "boo car", False, 0.3)),
    ]


def test_low_confidence_final_does_not_speculate():
    script = [(0.0, vad_on), (0.9, final("mumble", conf=0.2)), (1.0, vad_off)]
    script += [(1.3, utterance_end)]
    assert run(script, until=5) == [(1.3, StartResponse(1, "[unsure] mumble", False, 0.2))]


def test_confidence_is_weighted_by_segment_duration():
    tt = TurnTaker()
    long = Transcript("I need someone to look at my boiler", True, confidence=0.9, duration=3)
    short = Transcript("uh", True, end_of_turn=True, confidence=0.1, duration=0.2)
    tt.stt_event(long, 1.0)
    actions = tt.stt_event(short, 1.5)
    assert [type(a) for a in actions] == [CancelSpeculative, StartResponse]
    assert actions[1].confidence == pytest.approx((0.9 * 3 + 0.1 * 0.2) / 3.2)


# --- DTMF --------------------------------------------------------------------------------


def test_dtmf_passes_through_and_interrupts_the_agent():
    script = [(0.0, speaking), (1.0, dtmf("5")), (1.2, dtmf("#"))]
    assert run(script, until=2) == [
        (1.0, BargeIn(None, "dtmf")),
        (1.0, DtmfInput("5")),
        (1.2, DtmfInput("#")),
    ]


def test_dtmf_counts_as_an_answer_for_the_silence_timer():
    script = [(0.0, speaking), (1.0, silent), (5.0, dtmf("1"))]
    assert run(script, until=11.5) == [(5.0, DtmfInput("1")), (11.0, Reprompt(1))]


def test_bad_dtmf_digit_is_refused():
    with pytest.raises(ValueError, match="not a DTMF digit"):
        TurnTaker().dtmf("x", 0.0)


# --- the API around it ------------------------------------------------------------------


def test_next_deadline_tracks_the_pending_timer():
    tt = TurnTaker()
    assert tt.next_deadline() is None
    tt.agent_speaking(1.0)
    tt.vad_speech_start(2.0)
    assert tt.next_deadline() == pytest.approx(2.2)
    assert tt.tick(2.1) == []
    assert tt.tick(2.2) == [PausePlayout()]
    assert tt.agent_paused
    assert tt.next_deadline() == pytest.approx(2.8)  # confirm by long speech
    tt.vad_speech_end(2.3)
    assert tt.next_deadline() == pytest.approx(2.8)  # resume after the window


def test_a_late_tick_fires_timers_before_the_next_input():
    tt = TurnTaker()
    tt.agent_speaking(0.0)
    tt.vad_speech_start(1.0)
    # No tick at 1.2: the next input fires the pause first.
    assert tt.stt_event(Transcript("stop", is_final=False), 1.5) == [
        PausePlayout(),
        BargeIn(None, "words"),
    ]


def test_repeated_vad_start_is_harmless():
    script = [*AGENT_TALKS, (3.0, vad_on), (3.1, vad_on), (3.15, vad_off)]
    assert run(script, until=9)[1:] == []


def test_time_must_not_go_backwards():
    tt = TurnTaker()
    tt.tick(5.0)
    with pytest.raises(ValueError, match="time went backwards"):
        tt.vad_speech_start(4.0)


def test_not_an_stt_event_is_refused():
    with pytest.raises(TypeError, match="not an STT event"):
        TurnTaker().stt_event("hello", 0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reprompt_after_s": -1}, "reprompt_after_s=-1: must be 0 or more"),
        ({"min_confidence": 1.5}, "min_confidence=1.5: must be between 0 and 1"),
        ({"false_interruption_s": float("nan")}, "false_interruption_s=nan"),
        (
            {"barge_in_min_speech_s": 0.5, "barge_in_confirm_speech_s": 0.3},
            "barge_in_confirm_speech_s=0.3 must be at least",
        ),
    ],
)
def test_params_are_validated(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TurnTakingParams(**kwargs)


def test_backchannels_accept_a_word_string():
    params = TurnTakingParams(backchannels="Uh-huh  right")
    assert params.backchannels == frozenset({"uh-huh", "right"})


def test_statistics_count_what_happened():
    tt = TurnTaker()
    script = [(0.0, vad_on), (0.9, final("I need")), (1.0, vad_off), (1.2, vad_on)]
    script += [(1.4, final("a plumber", eot=True)), (1.5, vad_off), (1.8, speaking)]
    script += [(3.0, interim("stop"))]
    run(script, until=4, tt=tt)
    stats = tt.statistics()
    assert (stats.turns, stats.speculative_starts, stats.speculative_cancels) == (1, 1, 1)
    assert stats.barge_ins == 1


def started(tt, t):
    return tt.stt_event(SpeechStarted(timestamp=t), t)


def test_no_reprompt_while_a_slow_recogniser_still_owes_the_words():
    # The caller spoke 2.0-3.0; the recogniser is slow: its words come at 40.
    params = TurnTakingParams(stt_eot_timeout_s=60.0)
    script = [(0.0, speaking), (1.0, silent), (2.0, vad_on), (2.2, started), (3.0, vad_off)]
    assert run(script, until=39, params=params) == []  # not "are you still there?"
    script += [(40.0, final("My name is Ann Lee.", eot=True))]
    assert run(script, until=41, params=params) == [
        (40.0, StartResponse(1, "My name is Ann Lee.", False))
    ]


def test_a_busy_box_decoding_for_seconds_gets_no_reprompt_over_the_callers_words():
    # The demo's failure: Whisper decodes the 2.0-3.0 turn only at 11.5 (a loaded box),
    # past reprompt_after_s; "Are you still there?" came first and the caller, having
    # heard an answer, said its next line over the real one.
    script = [(0.0, speaking), (1.0, silent), (2.0, vad_on), (2.2, started), (3.0, vad_off)]
    assert run(script, until=11.4) == []
    script += [(11.5, final("Hi, my sink is leaking.", eot=True))]
    assert run(script, until=20) == [(11.5, StartResponse(1, "Hi, my sink is leaking.", False))]


def test_words_never_delivered_hold_the_reprompt_only_up_to_the_owed_hold():
    script = [(0.0, speaking), (1.0, silent), (2.0, vad_on), (2.2, started), (3.0, vad_off)]
    assert run(script, until=16) == [(15.0, Reprompt(1))]  # owed until 3.0 + 12 at most
    params = TurnTakingParams(stt_owed_hold_s=4.0)  # never earlier than reprompt_after_s
    assert run(script, until=10, params=params) == [(9.0, Reprompt(1))]


def test_an_stt_onset_without_a_turn_heard_holds_the_reprompt_only_briefly():
    # Echo or noise: the STT says speech started, our VAD heard nothing, or a blip.
    echo = [(0.0, speaking), (1.0, silent), (6.5, started)]
    assert run(echo, until=9) == [(8.5, Reprompt(1))]  # 6.5 + stt_eot_timeout_s
    blip = [(0.0, speaking), (1.0, silent), (6.4, vad_on), (6.5, started), (6.6, vad_off)]
    assert run(blip, until=9) == [(8.5, Reprompt(1))]
