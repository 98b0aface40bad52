"""What the parts of a conversation tell each other, as small explicit protocols.

A ``Turn`` sees its brain only as a ``TurnHost``; the brain sees its tool runner
as a ``ToolRunner``; the call's observer, when there is one, is a
``TurnObserver``. None of them reaches into another's private members.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

import attrs

from agent.business.company import TransferTarget

if TYPE_CHECKING:
    from agent.base.errors import ProviderError
    from agent.base.events import SttEvent, ToolCall, ToolSpec
    from agent.business.company import CompanyProfile
    from agent.conversation.params import ConversationParams
    from agent.dialogue.history import History
    from agent.dialogue.tools import ToolResult
    from agent.dialogue.workflow import BookingWorkflow, KeepPending
    from agent.media.playout import Playout, Utterance
    from agent.providers.protocols import LanguageModel, TextToSpeech


@attrs.frozen
class Outcome:
    """What the conversation decided when it ended: ``end`` or ``transfer`` (with target)."""

    kind: str
    reason: str = ""
    target: TransferTarget | None = None


@attrs.define
class TurnTimes:
    """When each stage of a turn first happened (``trio.current_time()``); None = not yet."""

    created_at: float
    confirmed_at: float | None = None  # may be heard from now on (creation unless speculative)
    llm_request_at: float | None = None
    llm_first_token_at: float | None = None
    tts_request_at: float | None = None  # first text handed to the TTS
    tts_first_audio_at: float | None = None  # first audio chunk back from the TTS
    interrupted_at: float | None = None


@attrs.frozen
class TranscriptLine:
    """One line of the call as it happened: what the caller said (as the STT gave it,
    or the keys pressed) or what the agent said as the caller heard it."""

    role: Literal["caller", "agent"]
    text: str
    at: float  # trio.current_time() when the line was complete
    interrupted: bool = False


TranscriptListener = Callable[[TranscriptLine], None]


class TurnView(Protocol):
    """What the brain and the observer read of a turn once it has ended."""

    turn_id: int | None  # the turn-taker's id; None for canned and keypad turns
    user_text: str | None
    canned: str | None
    times: TurnTimes
    utterance: Utterance | None
    outcome: Outcome | None
    interrupted: bool
    discarded: bool
    llm_input_tokens: int
    llm_output_tokens: int

    @property
    def sent_text(self) -> str:
        """All text handed to the TTS in this turn."""
        ...

    def heard_text(self) -> str:
        """What the caller heard of the turn."""
        ...


class ToolRunner(Protocol):
    """Executes authorized tool calls (the booking API client, the local quote) and keeps
    what the workflow wants kept for the business (a booking to deliver, a correction)."""

    async def run(self, call: ToolCall, now: float) -> ToolResult: ...

    async def keep_pending(self, action: KeepPending, now: float) -> None: ...


class TurnObserver(Protocol):
    """Told of each turn's tool calls, provider errors and end (records and metrics)."""

    def tool_call(
        self, turn: TurnView, call: ToolCall, result: ToolResult, started: float, ended: float
    ) -> None: ...

    def provider_error(self, exc: ProviderError, role: str) -> None: ...

    def turn_ended(self, turn: TurnView) -> None: ...


class ConversationObserver(TurnObserver, Protocol):
    """A ``TurnObserver`` that also hears the STT's events as they come."""

    def stt_event(self, event: SttEvent, now: float) -> None: ...


class TurnHost(Protocol):
    """What a turn uses of the conversation it belongs to (the brain)."""

    params: ConversationParams
    history: History
    company: CompanyProfile
    workflow: BookingWorkflow
    llm: LanguageModel
    tts: TextToSpeech
    tools: ToolRunner
    playout: Playout
    structured: bool
    tool_specs: Sequence[ToolSpec]
    observer: TurnObserver | None

    def epoch(self) -> float:
        """Wall-clock seconds, for the workflow's notion of today and opening hours."""
        ...

    def utterance_opened(self, turn: TurnView, utterance: Utterance) -> None:
        """The turn's audio starts going to the playout in ``utterance``."""

    def keep(self, action: KeepPending) -> None:
        """A booking, callback or correction to keep for the business."""

    def turn_ended(self, turn: TurnView) -> None:
        """The turn is over (spoken, cut, discarded or failed)."""
