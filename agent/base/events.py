"""Frozen value types that cross module boundaries.

Providers produce them, the conversation consumes them; none of them knows
about Trio or sockets, so every module can share them.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Literal

import attrs

from agent.base.jsontext import compact_json

# --- speech to text -------------------------------------------------------


@attrs.frozen
class Word:
    text: str
    start: float  # seconds from the start of the STT stream
    end: float
    confidence: float = 1.0


@attrs.frozen
class Transcript:
    """A piece of recognised speech.

    ``is_final``: this text will not change any more (Deepgram ``is_final``).
    ``end_of_turn``: the recogniser thinks the speaker finished (``speech_final``,
    or a local endpointer's decision).
    ``alternatives``: the recogniser's other readings of the same audio, best first
    (Whisper's beam, Deepgram's extra alternatives); ``text`` is its best.
    """

    text: str
    is_final: bool
    end_of_turn: bool = False
    confidence: float = 1.0
    start: float = 0.0
    duration: float = 0.0
    words: tuple[Word, ...] = ()
    alternatives: tuple[str, ...] = ()


@attrs.frozen
class SpeechStarted:
    """The recogniser's own voice-activity detector heard speech begin."""

    timestamp: float = 0.0


@attrs.frozen
class UtteranceEnd:
    """The recogniser saw a gap after the last word (Deepgram ``UtteranceEnd``)."""

    last_word_end: float = 0.0


SttEvent = Transcript | SpeechStarted | UtteranceEnd

# --- language model ---------------------------------------------------------


@attrs.frozen
class TextDelta:
    """A fragment of the assistant's spoken reply, as streamed."""

    text: str


@attrs.frozen
class ToolCall:
    """A complete tool call; ``arguments`` is the JSON text the model produced."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError(f"tool {self.name!r} arguments are not a JSON object")
        return value


@attrs.frozen
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Provider extras (e.g. Groq's x_groq queue/prompt/completion times), as given.
    extra: tuple[tuple[str, Any], ...] = ()


@attrs.frozen
class Finish:
    """The model ended its reply: ``stop``, ``tool_calls``, ``length``..."""

    reason: str


LlmEvent = TextDelta | ToolCall | Usage | Finish


@attrs.frozen
class ToolSpec:
    """A function the model may call (JSON schema in ``parameters``)."""

    name: str
    description: str
    parameters: dict[str, Any] = attrs.field(factory=dict, hash=False)

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    @functools.cached_property
    def openai_json(self) -> str:
        """``to_openai()`` as compact JSON, made once: a call's tools go out with every
        request. (``parameters`` is not changed once the spec is made.)"""
        return compact_json(self.to_openai())


Role = Literal["system", "user", "assistant", "tool"]


@attrs.frozen
class Message:
    role: Role
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out

    @functools.cached_property
    def openai_json(self) -> str:
        """``to_openai()`` as compact JSON, made once: the system prompt and the
        history go out again with every request of the call."""
        return compact_json(self.to_openai())


# --- text to speech and playout ---------------------------------------------


@attrs.frozen
class AudioChunk:
    """PCM (16-bit little-endian mono at the call's rate) and the text it speaks.

    ``text`` is empty when the provider gives no alignment for this chunk.
    """

    pcm: bytes
    text: str = ""


@attrs.frozen
class PlayoutProgress:
    """How much of one utterance actually left for the caller."""

    utterance_id: int
    sent_bytes: int
    total_bytes: int
    heard_text: str = ""
    finished: bool = False
