"""The agent's side of turn-taking: its playout, and barge-in (the whole policy is in
``turntaking``).

Barge-in in two steps: caller speech lasting ``barge_in_min_speech_s`` while
the agent is audible pauses playout; words from the STT (or speech lasting
``barge_in_confirm_speech_s``) confirm it (``BargeIn``); no words within
``false_interruption_s`` of the pause resumes playout. Speech starting within
``echo_cooldown_s`` after the agent went quiet, or within ``greeting_settle_s``
of the greeting start, is counted only from the end of that window. Words made
only of backchannels ("mm-hmm", "yeah") do not interrupt the agent.

``AgentAudio`` is ``TurnTaker``'s record of the agent's voice (it alone changes it).
"""

from __future__ import annotations

from collections.abc import Set

import attrs

from agent.dialogue.turntaking_endofturn import CallerSpeech, spoken_words
from agent.dialogue.turntaking_params import TurnTakingParams

__all__ = ["AgentAudio", "confirm_due", "is_backchannel", "pause_due", "resume_due"]


@attrs.define
class AgentAudio:
    """The agent's voice as playout sends it."""

    playing: bool = False
    started_at: float = 0.0
    # Caller speech before this counts from here (the greeting's settle window).
    settle_until: float = float("-inf")
    silent_at: float | None = None
    # Barge-in step one: playout paused, not yet cancelled.
    paused_at: float | None = None

    def echo_free_from(self, now: float, cooldown_s: float) -> float:
        """When caller speech starting at ``now`` starts to count: the agent's own
        echo may linger ``cooldown_s`` after it went quiet."""
        if self.silent_at is None:
            return now
        return max(now, self.silent_at + cooldown_s)


def is_backchannel(text: str, backchannels: Set[str]) -> bool:
    """Only listening noises ("mm-hmm", "yeah"): not a turn, not an interruption."""
    words = spoken_words(text)
    return bool(words) and all(word in backchannels for word in words)


def _onset(speech: CallerSpeech, agent: AgentAudio) -> float:
    return max(speech.counts_from, agent.started_at, agent.settle_until)


def pause_due(speech: CallerSpeech, agent: AgentAudio, params: TurnTakingParams) -> float | None:
    """When caller speech over the agent has lasted long enough to pause playout."""
    if agent.playing and agent.paused_at is None and speech.speaking:
        return _onset(speech, agent) + params.barge_in_min_speech_s
    return None


def confirm_due(speech: CallerSpeech, agent: AgentAudio, params: TurnTakingParams) -> float | None:
    """When speech that paused playout has lasted long enough to be a barge-in."""
    if agent.paused_at is not None and speech.speaking:
        return _onset(speech, agent) + params.barge_in_confirm_speech_s
    return None


def resume_due(speech: CallerSpeech, agent: AgentAudio, params: TurnTakingParams) -> float | None:
    """When a pause with no more speech turns out a false interruption."""
    if agent.paused_at is not None and not speech.speaking:
        return agent.paused_at + params.false_interruption_s
    return None
