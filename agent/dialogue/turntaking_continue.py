"""False end of turn: the caller had not finished (the whole policy is in ``turntaking``).

A pause of half a second between two sentences ("I need a plumber. [0.6 s] There
is water everywhere.") can end the caller's turn: the reply starts and the
caller, going on, talks over it. When the caller's speech starts again before
the reply was heard, or within ``continue_window_s`` of its first sound, the
turn was not over: the reply is dropped at once (``BargeIn(take_back=True)``:
playout cleared, the reply taken out of the history) and the words that follow
join the ones before as one utterance (``History.add_user`` merges them), for
any recogniser: the rule reads our VAD, so Whisper's late words and Deepgram's
early ones are handled alike. Speech later than the window is an ordinary
barge-in: the reply stays in the history, cut to what was heard.

``continue_min_speech_s`` of speech is needed (a cough or a breath is not the
rest of a sentence); words from the STT within the window decide at once.

``Continuation`` is ``TurnTaker``'s record of the reply just committed (it alone
changes it); ``continued_due`` says when speech since then takes the reply back.
"""

from __future__ import annotations

import attrs

from agent.dialogue.turntaking_endofturn import CallerSpeech
from agent.dialogue.turntaking_params import TurnTakingParams

__all__ = ["Continuation", "continued_due"]


@attrs.define
class Continuation:
    """The reply to the turn just committed, while the caller may still go on."""

    turn_id: int | None = None
    audible_at: float | None = None  # when the reply was first heard
    onset: float | None = None  # caller speech (re)started since the commit

    def committed(self, turn_id: int) -> None:
        self.turn_id, self.audible_at, self.onset = turn_id, None, None

    def clear(self) -> None:
        self.turn_id, self.onset = None, None

    def reply_audible(self, now: float) -> None:
        if self.turn_id is not None and self.audible_at is None:
            self.audible_at = now

    def caller_onset(self, at: float) -> None:
        if self.turn_id is not None and self.onset is None:
            self.onset = at

    def caller_quiet(self) -> None:
        self.onset = None

    def takes_back(self, turn_id: int | None, at: float, params: TurnTakingParams) -> bool:
        """Whether caller speech starting ``at`` means reply ``turn_id`` came too early."""
        if turn_id is None or turn_id != self.turn_id:
            return False
        return self.audible_at is None or at <= self.audible_at + params.continue_window_s


def continued_due(
    cont: Continuation, speech: CallerSpeech, params: TurnTakingParams
) -> float | None:
    """When the caller's speech since the commit is the rest of their turn."""
    if cont.onset is None or not speech.audible:
        return None
    if not cont.takes_back(cont.turn_id, cont.onset, params):
        return None
    return cont.onset + params.continue_min_speech_s
