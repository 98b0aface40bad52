"""The agent's side of turn-taking: echo window, backchannels, barge-in deadlines."""

from __future__ import annotations

import pytest

from agent.dialogue.turntaking_bargein import (
    AgentAudio,
    confirm_due,
    is_backchannel,
    pause_due,
    resume_due,
)
from agent.dialogue.turntaking_endofturn import CallerSpeech
from agent.dialogue.turntaking_params import TurnTakingParams

PARAMS = TurnTakingParams(
    barge_in_min_speech_s=0.2, barge_in_confirm_speech_s=0.8, false_interruption_s=0.6
)


def test_speech_counts_only_after_the_echo_cooldown():
    agent = AgentAudio()
    assert agent.echo_free_from(5.0, 0.3) == 5.0  # the agent never spoke
    agent.silent_at = 4.9
    assert agent.echo_free_from(5.0, 0.3) == pytest.approx(5.2)
    assert agent.echo_free_from(6.0, 0.3) == 6.0


@pytest.mark.parametrize(
    ("text", "backchannel"),
    [("mm-hmm", True), ("Yeah, OK.", True), ("yeah but no", False), ("...", False)],
)
def test_backchannels(text, backchannel):
    assert is_backchannel(text, PARAMS.backchannels) is backchannel


def test_barge_in_counts_from_the_latest_of_speech_playout_and_greeting_settle():
    speech = CallerSpeech(speaking=True, counts_from=1.0)
    agent = AgentAudio(playing=True, started_at=2.0, settle_until=2.5)
    assert pause_due(speech, agent, PARAMS) == pytest.approx(2.7)
    assert confirm_due(speech, agent, PARAMS) is None  # not paused yet
    agent.paused_at = 2.7
    assert pause_due(speech, agent, PARAMS) is None  # already paused
    assert confirm_due(speech, agent, PARAMS) == pytest.approx(3.3)
    assert resume_due(speech, agent, PARAMS) is None  # the caller still speaks
    speech.speaking = False
    assert confirm_due(speech, agent, PARAMS) is None
    assert resume_due(speech, agent, PARAMS) == pytest.approx(3.3)


def test_no_barge_in_while_the_agent_is_quiet():
    speech = CallerSpeech(speaking=True, counts_from=1.0)
    assert pause_due(speech, AgentAudio(), PARAMS) is None
