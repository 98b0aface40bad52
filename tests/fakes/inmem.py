"""In-memory provider fakes for whole-conversation tests in virtual time.

They implement the three provider protocols with no sockets, take every time
from ``trio.current_time()`` (so ``MockClock`` drives them), honour
cancellation, and record what they were given:

* ``ScriptedStt`` listens to the audio it actually receives, like a streaming
  recogniser: an energy detector finds each stretch of speech; after
  ``interim_after_s`` of speech it sends an interim ``Transcript`` (the first
  word of the scripted text), and ``final_latency_s`` after the speech stops the
  final one (with ``end_of_turn``) and an ``UtteranceEnd``. Each stretch longer
  than ``min_speech_s`` takes the next scripted text; shorter ones (coughs)
  produce no words.
* ``ScriptedLlm`` replays ``LlmReply`` scripts: tokens with a time to first token
  and gaps between tokens, tool calls, or an error; each run is recorded
  (``LlmRun``: the messages, tools, whether it finished or was cancelled).
* ``ToneTts`` speaks each text fragment as tone-text PCM (``tests.fakes.tone_text``),
  so a test decodes what the caller heard; ``first_audio_s`` delays the first
  chunk of every ``speak``; each speak is recorded (``SpeakRun``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np
import trio

from agent.base.errors import ProviderError
from agent.base.events import (
    AudioChunk,
    Finish,
    LlmEvent,
    Message,
    SpeechStarted,
    SttEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Transcript,
    UtteranceEnd,
)
from tests.fakes.tone_text import encode_tones

__all__ = ["LlmReply", "LlmRun", "ScriptedLlm", "ScriptedStt", "SpeakRun", "ToneTts"]


def _dbfs(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if not len(samples):
        return -120.0
    rms = math.sqrt(float(np.mean(samples * samples)))
    return 20 * math.log10(rms / 32768) if rms > 0 else -120.0


class ScriptedStt:
    """A streaming recogniser whose words come from a script, timed by the audio."""

    def __init__(
        self,
        script: Sequence[str],
        *,
        sample_rate: int = 8000,
        threshold_dbfs: float = -40.0,
        hangover_s: float = 0.2,
        min_speech_s: float = 0.3,
        interim_after_s: float = 0.25,
        final_latency_s: float = 0.15,
        confidence: float = 0.95,
    ) -> None:
        self.script = list(script)
        self.sample_rate = sample_rate
        self.threshold_dbfs = threshold_dbfs
        self.hangover_s = hangover_s
        self.min_speech_s = min_speech_s
        self.interim_after_s = interim_after_s
        self.final_latency_s = final_latency_s
        self.confidence = confidence
        self.started_at: float | None = None
        self.first_audio_at: float | None = None
        self.received_bytes = 0
        self.sent: list[tuple[float, SttEvent]] = []
        self.finalize_calls = 0
        self.pausing_calls = 0
        self._next = 0

    def finalize(self) -> None:
        self.finalize_calls += 1

    def caller_pausing(self) -> None:
        self.pausing_calls += 1

    async def run(
        self,
        audio: trio.MemoryReceiveChannel[bytes],
        out: trio.MemorySendChannel[SttEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.started_at = trio.current_time()
        task_status.started()
        speech_start: float | None = None
        last_loud = 0.0
        heard = 0.0  # seconds of audio since the stream started (the STT's own clock)
        interim_sent = False
        async with trio.open_nursery() as nursery:
            async for pcm in audio:
                now = trio.current_time()
                if self.first_audio_at is None:
                    self.first_audio_at = now
                self.received_bytes += len(pcm)
                heard += len(pcm) / (2 * self.sample_rate)
                loud = _dbfs(pcm) >= self.threshold_dbfs
                if loud:
                    last_loud = heard
                    if speech_start is None:
                        speech_start, interim_sent = heard, False
                        await self._send(out, SpeechStarted(timestamp=heard))
                if speech_start is None:
                    continue
                length = last_loud - speech_start
                text = self._peek()
                if not interim_sent and length >= self.interim_after_s and text:
                    interim_sent = True
                    first_word = text.split()[0]
                    await self._send(out, Transcript(first_word, False, confidence=self.confidence))
                if not loud and heard - last_loud >= self.hangover_s:
                    if length >= self.min_speech_s and text is not None:
                        self._next += 1
                        nursery.start_soon(self._finish, out, text, speech_start, length)
                    speech_start = None

    def _peek(self) -> str | None:
        return self.script[self._next] if self._next < len(self.script) else None

    async def _finish(
        self, out: trio.MemorySendChannel[SttEvent], text: str, start: float, length: float
    ) -> None:
        await trio.sleep(self.final_latency_s)
        final = Transcript(text, True, True, self.confidence, start=start, duration=length)
        await self._send(out, final)
        await self._send(out, UtteranceEnd(last_word_end=start + length))

    async def _send(self, out: trio.MemorySendChannel[SttEvent], event: SttEvent) -> None:
        self.sent.append((trio.current_time(), event))
        await out.send(event)


@attrs.frozen
class LlmReply:
    """One scripted model answer: ``items`` are text tokens or ``ToolCall``s in order."""

    items: tuple[str | ToolCall, ...] = ()
    first_token_s: float = 0.05
    gap_s: float = 0.02
    error: ProviderError | None = None  # raised after the items
    hang: bool = False  # never finish (a stalled stream)

    @classmethod
    def say(cls, text: str, **kwargs: object) -> LlmReply:
        """``text`` as word tokens (each word with its leading space)."""
        words = text.split(" ")
        tokens = [words[0], *(" " + w for w in words[1:])]
        return cls(tuple(t for t in tokens if t), **kwargs)  # type: ignore[arg-type]


@attrs.define
class LlmRun:
    messages: list[Message]
    tools: list[ToolSpec]
    started_at: float
    sent: list[LlmEvent] = attrs.Factory(list)
    finished: bool = False
    cancelled: bool = False
    failed: bool = False


class ScriptedLlm:
    name = "scripted"

    def __init__(self, replies: Sequence[LlmReply]) -> None:
        self.replies = list(replies)
        self.runs: list[LlmRun] = []

    async def run(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        out: trio.MemorySendChannel[LlmEvent],
    ) -> None:
        record = LlmRun(list(messages), list(tools), trio.current_time())
        index = len(self.runs)
        self.runs.append(record)
        reply = self.replies[index] if index < len(self.replies) else LlmReply.say("Okay.")
        try:
            await trio.sleep(reply.first_token_s)
            for i, item in enumerate(reply.items):
                if i:
                    await trio.sleep(reply.gap_s)
                event: LlmEvent = TextDelta(item) if isinstance(item, str) else item
                await out.send(event)
                record.sent.append(event)
            if reply.error is not None:
                record.failed = True
                raise reply.error
            if reply.hang:
                await trio.sleep_forever()
            calls = any(isinstance(i, ToolCall) for i in reply.items)
            await out.send(Finish("tool_calls" if calls else "stop"))
            record.finished = True
        except trio.Cancelled:
            record.cancelled = True
            raise


@attrs.define
class SpeakRun:
    started_at: float
    texts: list[str] = attrs.Factory(list)
    first_audio_at: float | None = None
    finished: bool = False
    cancelled: bool = False

    @property
    def text(self) -> str:
        return "".join(self.texts)


class ToneTts:
    """Speaks text as tone bursts, one chunk per fragment, with the fragment's text."""

    def __init__(
        self, *, sample_rate: int = 8000, first_audio_s: float = 0.06, char_ms: int = 30
    ) -> None:
        self.sample_rate = sample_rate
        self.first_audio_s = first_audio_s
        self.char_ms = char_ms
        self.speaks: list[SpeakRun] = []
        self.running = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.running = True
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            self.running = False

    async def speak(
        self,
        text: trio.MemoryReceiveChannel[str],
        out: trio.MemorySendChannel[AudioChunk],
    ) -> None:
        if not self.running:
            raise RuntimeError("ToneTts.speak called while the session is not running")
        record = SpeakRun(trio.current_time())
        self.speaks.append(record)
        try:
            async for fragment in text:
                record.texts.append(fragment)
                if record.first_audio_at is None:
                    await trio.sleep(self.first_audio_s)
                    record.first_audio_at = trio.current_time()
                pcm = encode_tones(fragment, self.sample_rate, char_ms=self.char_ms)
                if pcm:
                    await out.send(AudioChunk(pcm, fragment))
            record.finished = True
        except trio.Cancelled:
            record.cancelled = True
            raise
