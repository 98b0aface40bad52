"""What ``TurnTaker`` tells its caller to do (frozen values), and its statistics."""

from __future__ import annotations

import attrs

__all__ = [
    "Action",
    "AskRepeat",
    "BargeIn",
    "CancelSpeculative",
    "ConfirmResponse",
    "DtmfInput",
    "FinalizeTranscript",
    "PausePlayout",
    "Reprompt",
    "ResumePlayout",
    "SilenceTimeout",
    "StartResponse",
    "TurnTakingStatistics",
]


@attrs.frozen
class StartResponse:
    """Generate the agent's reply to ``text``. Speculative: no tool may run and no
    audio may be heard until ``ConfirmResponse`` with the same ``turn_id``."""

    turn_id: int
    text: str
    speculative: bool
    confidence: float = 1.0


@attrs.frozen
class ConfirmResponse:
    """The speculative response ``turn_id`` is now the real reply."""

    turn_id: int
    text: str


@attrs.frozen
class CancelSpeculative:
    """Throw the speculative response away (nothing of it was heard; no history)."""

    turn_id: int


@attrs.frozen
class PausePlayout:
    """Stop sending agent speech at once (send silence), keep the buffer."""


@attrs.frozen
class ResumePlayout:
    """It was a false interruption: go on where playout paused."""


@attrs.frozen
class BargeIn:
    """Cancel what the agent is saying: clear playout, cancel response ``turn_id``
    (``None`` when no response of ours was running, e.g. a greeting), cut history to
    what was heard. ``reason``: ``words``, ``speech``, ``dtmf`` or ``caller-continued``.
    ``take_back``: the caller had not finished their turn (``turntaking_continue``):
    drop the reply from the history too, so their next words join their last ones."""

    turn_id: int | None
    reason: str
    take_back: bool = False


@attrs.frozen
class Reprompt:
    """The caller has been silent: prompt them again (``count`` = 1, 2, ...)."""

    count: int


@attrs.frozen
class SilenceTimeout:
    """Still silent after ``reprompts`` reprompts: end the call politely."""

    reprompts: int


@attrs.frozen
class AskRepeat:
    """The turn was heard with low confidence: ask the caller to say it again."""

    text: str
    confidence: float
    count: int


@attrs.frozen
class DtmfInput:
    digit: str


@attrs.frozen
class FinalizeTranscript:
    """The caller has stopped but the STT has not ended the turn: ask it for its final
    now (``SpeechToText.finalize()``; Deepgram's ``Finalize``)."""


Action = (
    StartResponse
    | ConfirmResponse
    | CancelSpeculative
    | PausePlayout
    | ResumePlayout
    | BargeIn
    | Reprompt
    | SilenceTimeout
    | AskRepeat
    | DtmfInput
    | FinalizeTranscript
)


@attrs.frozen
class TurnTakingStatistics:
    turns: int
    speculative_starts: int
    speculative_cancels: int
    barge_ins: int
    false_interruptions: int
    reprompts: int
    ask_repeats: int
