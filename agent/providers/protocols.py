"""The three provider protocols.

Lifetimes:
- ``SpeechToText`` and ``TextToSpeech`` instances are made per call and their
  ``run`` is call-scoped (started with ``nursery.start``); ``task_status.started()``
  is called once they are ready to take work.
- ``LanguageModel.run`` and ``TextToSpeech.speak`` are turn-scoped: cancelling the
  turn's scope cancels them, and that is the normal way to stop them (barge-in),
  not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import trio

    from agent.base.events import AudioChunk, LlmEvent, Message, SttEvent, ToolSpec
    from agent.dialogue.vocabulary import Vocabulary
    from agent.dialogue.workflow_actions import KeepPending


@runtime_checkable
class SpeechToText(Protocol):
    """A call-scoped streaming recogniser.

    ``run`` reads caller PCM (16-bit LE mono at ``sample_rate``) from ``audio`` and
    sends ``Transcript`` / ``SpeechStarted`` / ``UtteranceEnd`` to ``out`` until
    ``audio`` is closed (then it flushes and returns) or it is cancelled. A
    session that loses its connection reconnects by itself and replays the audio
    it buffered meanwhile; only a permanent failure raises ``ProviderError``.

    ``caller_pausing()`` (sync) is called when the VAD hears the caller stop,
    maybe at the end of a turn: a recogniser that batches audio sends it frame by
    frame around its endpointing time then, so its end-of-speech timing is not
    delayed by the batching; one that does not batch does nothing. A session may
    also have ``caller_speaking()`` (sync: the VAD hears the caller start, or talk
    again within a pause) and ``push_audio(pcm)`` (the caller's frames handed over
    directly instead of on ``audio``); ``agent.conversation.sttfeed`` uses them
    when they are there.
    """

    sample_rate: int

    async def run(
        self,
        audio: trio.MemoryReceiveChannel[bytes],
        out: trio.MemorySendChannel[SttEvent],
        *,
        task_status: trio.TaskStatus[None] = ...,
    ) -> None: ...

    def finalize(self) -> None:
        """Ask the recogniser to finish the current utterance now (sync, never blocks)."""

    def caller_pausing(self) -> None:
        """The caller may have stopped talking (sync, never blocks)."""


@runtime_checkable
class TakesVocabulary(Protocol):
    """A recogniser that can be biased towards a company's words (Whisper's prompt);
    the brain factory calls ``use_vocabulary`` before the session runs."""

    def use_vocabulary(self, vocabulary: Vocabulary) -> None: ...


@runtime_checkable
class KnowsCaller(Protocol):
    """A model that is told the caller's own number (the offline policy, for "it's the
    one I'm calling from" and callbacks); the brain factory calls ``use_caller_id``."""

    def use_caller_id(self, caller_id: str | None) -> None: ...


@runtime_checkable
class KeepsPending(Protocol):
    """A model that keeps callbacks and corrections itself, with no tool call to carry
    them (the offline policy): the turn takes them for the outbox after each run."""

    def take_kept(self) -> list[KeepPending]: ...


@runtime_checkable
class LanguageModel(Protocol):
    """A streaming chat model. One ``run`` per turn.

    Sends ``TextDelta`` as tokens arrive, each complete ``ToolCall``, then
    ``Usage`` (when known) and ``Finish``. Errors are ``ProviderError`` with the
    right ``retryable`` flag; clients never retry by themselves.
    """

    name: str

    async def run(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        out: trio.MemorySendChannel[LlmEvent],
    ) -> None: ...


@runtime_checkable
class KeepsWarm(Protocol):
    """A model whose next request can be made ready ahead: a kept-alive connection
    opened while the caller still talks, so the reply does not wait for a handshake."""

    def wants_warming(self) -> bool:
        """True when a request now would have to open a connection first."""
        ...

    async def warm(self) -> None:
        """Open what the next request needs; a failure is left for the request to report."""
        ...


@runtime_checkable
class TextToSpeech(Protocol):
    """A call-scoped synthesiser session with turn-scoped ``speak``.

    ``run`` holds whatever the session keeps across turns (a WebSocket); ``speak``
    may be called only while ``run`` is running. ``speak`` reads text fragments
    as they arrive (an LLM's tokens) and sends ``AudioChunk`` PCM at
    ``sample_rate`` as it is made, returning once all audio for the text has been
    sent. A provider with input streaming forwards fragments at once; one
    without chunks them internally. Cancelling ``speak`` cancels only that
    turn's generation.
    """

    sample_rate: int

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...

    async def speak(
        self,
        text: trio.MemoryReceiveChannel[str],
        out: trio.MemorySendChannel[AudioChunk],
    ) -> None: ...


ProviderFactory = Any  # refined by the registry
