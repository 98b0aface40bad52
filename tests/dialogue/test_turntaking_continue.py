"""False end of turn: the caller goes on right after the agent started answering."""

from __future__ import annotations

import pytest

from agent.dialogue.history import History
from agent.dialogue.turntaking import (
    BargeIn,
    PausePlayout,
    ResumePlayout,
    StartResponse,
    TurnTakingParams,
)
from tests.dialogue.test_turntaking import (
    AGENT_TALKS,
    FIRST_TURN,
    START_1,
    done,
    final,
    interim,
    run,
    silent,
    speaking,
    vad_off,
    vad_on,
    vad_pause,
    vad_resume,
)

REST = "There is water everywhere."


@pytest.mark.parametrize(
    ("onset", "expected"),
    [
        # Before the reply is heard (the caller paused 0.6 s, the reply was on its way).
        (1.45, [(1.8, PausePlayout()), (1.95, BargeIn(1, "caller-continued", take_back=True))]),
        # 0.3 s into the reply: paused at once, then taken back.
        (1.9, [(2.1, PausePlayout()), (2.4, BargeIn(1, "caller-continued", take_back=True))]),
        # 1.0 s into the reply: still the same turn.
        (2.6, [(2.8, PausePlayout()), (3.1, BargeIn(1, "caller-continued", take_back=True))]),
        # 1.2 s into the reply: an ordinary barge-in; the reply stays, cut to what was heard.
        (2.8, [(3.0, PausePlayout()), (3.6, BargeIn(1, "speech"))]),
    ],
    ids=["before-audio", "0.3s-in", "1.0s-in", "1.2s-in-ordinary-barge-in"],
)
def test_caller_going_on_within_a_second_takes_the_reply_back(onset, expected):
    # Whisper-like: no words until the caller has finished, only our VAD.
    script = [*FIRST_TURN, (1.6, speaking), (onset, vad_on), (onset + 2.0, vad_off)]
    script.sort(key=lambda step: step[0])
    actions = run(script, until=onset + 1.0)
    assert actions[0] == START_1
    assert actions[1:] == expected


def test_words_within_the_window_take_it_back_at_once():
    # Deepgram-like: an interim word arrives before the VAD rule would decide.
    script = [*AGENT_TALKS, (1.9, vad_on), (2.05, interim("There"))]
    assert run(script, until=3)[1:] == [(2.05, BargeIn(1, "words", take_back=True))]


def test_then_both_parts_are_one_utterance_in_the_history():
    # What the brain does with take_back: the reply goes, the words join.
    history = History("system")
    history.add_user("I need a plumber.")
    history.add_assistant("Sure, a plumber. What is")
    assert history.take_back()
    history.add_user(REST)
    assert [(m.role, m.content) for m in history.messages[1:]] == [
        ("user", f"I need a plumber. {REST}")
    ]
    script = [*AGENT_TALKS, (1.9, vad_on), (2.4, silent), (3.0, vad_off)]
    script += [(3.1, final(REST, eot=True)), (3.2, done(1))]
    assert run(script, until=5)[-1] == (3.1, StartResponse(2, REST, False))


def test_a_cough_in_the_window_is_not_the_rest_of_the_turn():
    script = [*AGENT_TALKS, (1.9, vad_on), (2.15, vad_off)]
    assert run(script, until=4)[1:] == [(2.1, PausePlayout()), (2.7, ResumePlayout())]


def test_a_pause_inside_the_caller_speech_restarts_the_count():
    # 0.2 s, a pause, more: the speech rule confirms first, and it is still taken back.
    script = [*AGENT_TALKS, (1.9, vad_on), (2.1, vad_pause), (2.3, vad_resume)]
    assert run(script, until=4)[1:3] == [
        (2.1, PausePlayout()),
        (2.7, BargeIn(1, "speech", take_back=True)),
    ]


def test_the_window_can_be_closed():
    params = TurnTakingParams(continue_window_s=0.0)
    script = [*AGENT_TALKS, (1.9, vad_on), (4.0, vad_off)]
    assert run(script, until=3, params=params)[1:] == [
        (2.1, PausePlayout()),
        (2.7, BargeIn(1, "speech")),
    ]
