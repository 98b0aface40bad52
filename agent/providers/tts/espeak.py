"""Offline text to speech: libespeak-ng loaded in-process (optional extra).

The library comes from the ``espeakng-loader`` wheel (``libespeak-ng.so`` plus
its ``espeak-ng-data``), bound with cffi in ABI mode, so neither a compiler nor
an apt package is needed. espeak-ng is GPL-3.0-or-later; it is only loaded when
this provider is chosen (see the README's licence notes).

How a sentence is made: espeak runs in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode in a
worker thread and calls our synth callback with ~60 ms of 22050 Hz PCM at a
time. The callback resamples each piece to the call's rate (a streaming soxr
resampler) and hands it to the Trio side at once, so the first audio is
ready within a millisecond or so. espeak keeps global state, so one process
synthesises one text at a time (a process-wide lock); synthesis runs ~300x
faster than real time, so the lock is held for milliseconds per sentence, never
while waiting for playout.

Barge-in: when the turn's scope is cancelled, the callback sees it
(``trio.from_thread.check_cancelled``) and returns 1, which makes espeak abort
mid-sentence; ``speak`` only returns once the worker thread has finished.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import soxr
import trio

from agent.base.errors import ProviderError
from agent.base.events import AudioChunk

PROVIDER = "espeak"

_CDEF = """
typedef enum { AUDIO_OUTPUT_PLAYBACK, AUDIO_OUTPUT_RETRIEVAL, AUDIO_OUTPUT_SYNCHRONOUS,
               AUDIO_OUTPUT_SYNCH_PLAYBACK } espeak_AUDIO_OUTPUT;
typedef enum { EE_OK=0, EE_INTERNAL_ERROR=-1, EE_BUFFER_FULL=1, EE_NOT_FOUND=2 } espeak_ERROR;
typedef enum { POS_CHARACTER = 1, POS_WORD, POS_SENTENCE } espeak_POSITION_TYPE;
typedef struct { int type; unsigned int unique_identifier; int text_position; int length;
  int audio_position; int sample; void* user_data;
  union { int number; const char *name; char string[8]; } id; } espeak_EVENT;
typedef int (t_espeak_callback)(short*, int, espeak_EVENT*);
int espeak_Initialize(espeak_AUDIO_OUTPUT output, int buflength, const char *path, int options);
void espeak_SetSynthCallback(t_espeak_callback* SynthCallback);
espeak_ERROR espeak_SetVoiceByName(const char *name);
espeak_ERROR espeak_SetParameter(int parameter, int value, int relative);
espeak_ERROR espeak_Synth(const void *text, size_t size, unsigned int position,
  espeak_POSITION_TYPE position_type, unsigned int end_position, unsigned int flags,
  unsigned int* unique_identifier, void* user_data);
const char *espeak_Info(const char **path_data);
"""

_EE_OK = 0
_EE_NOT_FOUND = 2
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_CHARS_UTF8 = 0x1
_ENDPAUSE = 0x1000
# Without this flag espeak_Initialize calls exit() when its data is missing.
_INITIALIZE_DONT_EXIT = 0x8000
_BUFFER_MS = 60

# espeak-ng 1.52 knows British English as "en" ("en-gb" is not found by name).
_VOICE_ALIASES = {"en-gb": "en", "en-uk": "en", "en_gb": "en", "en_us": "en-us"}


@attrs.define
class _Job:
    """One text being synthesised: what the shared callback writes into."""

    text: str
    deliver: Callable[[bytes, str], None]
    resampler: Any
    aborted: bool = False
    covered: int = 0  # characters of ``text`` already attached to a chunk
    error: BaseException | None = None


class _Engine:
    """The process's one libespeak-ng instance (espeak is a global singleton)."""

    def __init__(self) -> None:
        try:
            import cffi
            import espeakng_loader
        except ImportError as exc:
            raise ProviderError(
                PROVIDER,
                "the offline extra is not installed (needs espeakng-loader):"
                " pip install 'voice-agent[offline]'",
            ) from exc
        self.ffi = cffi.FFI()
        self.ffi.cdef(_CDEF)
        try:
            self.lib = self.ffi.dlopen(espeakng_loader.get_library_path())
            data_dir = os.path.dirname(espeakng_loader.get_data_path())
        except (OSError, RuntimeError) as exc:
            raise ProviderError(PROVIDER, f"cannot load libespeak-ng: {exc}") from exc
        rate = self.lib.espeak_Initialize(
            self.lib.AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_dir.encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise ProviderError(PROVIDER, f"espeak_Initialize failed ({rate}) with data {data_dir}")
        self.native_rate: int = rate
        self.version = self.ffi.string(self.lib.espeak_Info(self.ffi.NULL)).decode()
        self.lock = threading.Lock()
        self.job: _Job | None = None
        self._settings: tuple[str, int, int | None] | None = None
        # Kept referenced for the life of the process: espeak holds the pointer.
        self._callback = self.ffi.callback("int(short*, int, espeak_EVENT*)", self._on_audio)
        self.lib.espeak_SetSynthCallback(self._callback)

    def resolve_voice(self, voice: str) -> str:
        """The name espeak knows ``voice`` by; raises ProviderError if none."""
        with self.lock:
            for name in (voice, _VOICE_ALIASES.get(voice.lower(), voice)):
                if self.lib.espeak_SetVoiceByName(name.encode()) == _EE_OK:
                    self._settings = None  # voice changed behind the cache's back
                    return name
        raise ProviderError(PROVIDER, f"espeak-ng has no voice named {voice!r} (try 'en', 'en-us')")

    def synthesise(self, job: _Job, voice: str, rate_wpm: int, pitch: int | None) -> None:
        """Blocking: synthesise ``job.text``, calling ``job.deliver`` per piece."""
        with self.lock:
            if job.aborted:
                return
            if self._settings != (voice, rate_wpm, pitch):
                # Voice changes reset rate and pitch, so set them every time.
                self.lib.espeak_SetVoiceByName(voice.encode())
                self.lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
                if pitch is not None:
                    self.lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
                self._settings = (voice, rate_wpm, pitch)
            data = job.text.encode() + b"\0"
            self.job = job
            try:
                err = self.lib.espeak_Synth(
                    data, len(data), 0, self.lib.POS_CHARACTER, 0,
                    _CHARS_UTF8 | _ENDPAUSE, self.ffi.NULL, self.ffi.NULL,
                )  # fmt: skip
            finally:
                self.job = None
        if job.error is not None:
            raise job.error
        if err != _EE_OK and not job.aborted:
            raise ProviderError(PROVIDER, f"espeak_Synth failed with code {err}")
        if not job.aborted:
            tail = job.resampler.resample_chunk(np.zeros(0, np.int16), last=True)
            rest = job.text[job.covered :]
            if tail.size or rest.strip():
                job.deliver(tail.tobytes(), rest)

    def _on_audio(self, wav: Any, n_samples: int, events: Any) -> int:
        # Runs in the worker thread, inside espeak_Synth. Must never raise:
        # cffi would print the error and return 0 (= go on).
        job = self.job
        if job is None:
            return 1
        try:
            trio.from_thread.check_cancelled()
            words_end = _words_end(job.text, events)
            if n_samples <= 0:
                return 0
            pcm = np.frombuffer(self.ffi.buffer(wav, n_samples * 2), np.int16)
            out = job.resampler.resample_chunk(pcm)  # copies: espeak reuses wav
            text = ""
            if words_end > job.covered:
                text, job.covered = job.text[job.covered : words_end], words_end
            if out.size or text:
                job.deliver(out.tobytes(), text)
            return 0
        except trio.Cancelled:
            job.aborted = True
            return 1
        except BaseException as exc:  # handed back to the worker thread
            job.error = exc
            job.aborted = True
            return 1


def _words_end(text: str, events: Any) -> int:
    """End (character index) of the last word whose audio starts in this buffer.

    Extended to the next whitespace: espeak's word lengths are approximate
    around punctuation and digits, and a chunk must never split a word.
    """
    end = 0
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
        event = events[i]
        if event.type == _EVENT_WORD:
            end = max(end, event.text_position - 1 + max(event.length, 1))
        i += 1
    if end == 0:
        return 0
    while end < len(text) and not text[end].isspace():
        end += 1
    while end < len(text) and text[end].isspace():
        end += 1
    return min(end, len(text))


_SENTENCE_END = frozenset(".!?…")
_CLAUSE_END = frozenset(",;:—–")
_CLOSERS = frozenset("\"')]”’")


class SentenceChunker:
    """Cuts streamed text into sentences, or clauses once they are long enough.

    A boundary is punctuation followed by whitespace, so "£85.50" or "e.g"
    mid-token never splits; the whitespace must have arrived, so a boundary is
    only decided once the next fragment shows it. A line break also ends a
    unit. Text with no punctuation is cut at the last space within
    ``max_chars`` (a single longer word stays whole).
    """

    def __init__(self, *, min_clause_chars: int = 12, max_chars: int = 80) -> None:
        if not 0 < min_clause_chars < max_chars:
            raise ValueError(
                f"need 0 < min_clause_chars < max_chars, got {min_clause_chars}, {max_chars}"
            )
        self.min_clause_chars = min_clause_chars
        self.max_chars = max_chars
        self._buffer = ""

    def feed(self, fragment: str) -> list[str]:
        self._buffer += fragment
        units: list[str] = []
        start = 0
        text = self._buffer
        last_gap = 0  # the latest word boundary after ``start``, for over-long text
        for i in range(1, len(text)):
            if not text[i].isspace() or text[i - 1].isspace():
                continue
            j = i - 1
            while j > start and text[j] in _CLOSERS:
                j -= 1
            if (
                text[j] in _SENTENCE_END
                or "\n" in text[i : i + 2]
                or (text[j] in _CLAUSE_END and i - start >= self.min_clause_chars)
            ):
                units.append(text[start:i])
                start = i
            elif i - start > self.max_chars:
                cut = last_gap if last_gap > start else i
                units.append(text[start:cut])
                start = cut
            last_gap = i
        self._buffer = text[start:]
        return [unit.strip() for unit in units if _speakable(unit)]

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, ""
        return [rest.strip()] if _speakable(rest) else []


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def _get_engine() -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Engine()
        return _engine


@attrs.frozen
class EspeakStatistics:
    sentences: int
    aborted: int
    chunks: int


class EspeakTts:
    """Offline TTS session (implements ``TextToSpeech``).

    ``voice``: an espeak-ng voice name ("en-gb" is British, "en-us" American);
    ``rate_wpm``: speaking rate in words per minute (80..450); ``pitch``: 0..99
    or None for the voice's own.
    """

    name = PROVIDER

    def __init__(
        self,
        sample_rate: int = 8000,
        *,
        voice: str = "en-gb",
        rate_wpm: int = 165,
        pitch: int | None = None,
        max_clause_chars: int = 80,
    ) -> None:
        if not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 192_000:
            raise ValueError(f"EspeakTts sample_rate must be 8000..192000 Hz, got {sample_rate!r}")
        if not 80 <= rate_wpm <= 450:
            raise ValueError(f"EspeakTts rate_wpm must be 80..450 words/minute, got {rate_wpm}")
        if pitch is not None and not 0 <= pitch <= 99:
            raise ValueError(f"EspeakTts pitch must be 0..99, got {pitch}")
        if not voice.strip():
            raise ValueError("EspeakTts voice must not be empty")
        self.sample_rate = sample_rate
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.pitch = pitch
        self.max_clause_chars = max_clause_chars
        self._engine: _Engine | None = None
        self._voice_name = voice
        self._sentences = 0
        self._aborted = 0
        self._chunks = 0

    def statistics(self) -> EspeakStatistics:
        return EspeakStatistics(self._sentences, self._aborted, self._chunks)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load and initialise espeak-ng (once per process), then wait."""
        engine = await trio.to_thread.run_sync(_get_engine)
        self._voice_name = await trio.to_thread.run_sync(engine.resolve_voice, self.voice)
        self._engine = engine
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            self._engine = None

    async def speak(
        self,
        text: trio.MemoryReceiveChannel[str],
        out: trio.MemorySendChannel[AudioChunk],
    ) -> None:
        """Synthesise streamed text, clause by clause, as soon as each is complete."""
        if self._engine is None:
            raise RuntimeError("EspeakTts.speak called while its run() is not running")
        chunker = SentenceChunker(max_chars=self.max_clause_chars)
        async with text, out:
            async for fragment in text:
                for unit in chunker.feed(fragment):
                    # The space keeps the chunks' texts joinable into the reply.
                    await self.synthesise(unit + " ", out)
            for unit in chunker.flush():
                await self.synthesise(unit, out)

    async def synthesise(self, sentence: str, out: trio.MemorySendChannel[AudioChunk]) -> None:
        """Synthesise one piece of text, sending its PCM to ``out`` as it is made."""
        engine = self._engine
        if engine is None:
            raise RuntimeError("EspeakTts used while its run() is not running")
        # Unbounded on purpose: espeak makes a sentence in milliseconds and must
        # not hold the process-wide lock while playout drains ``out``.
        pieces_in, pieces_out = trio.open_memory_channel[tuple[bytes, str]](math.inf)

        def deliver(pcm: bytes, covered: str) -> None:
            trio.from_thread.run_sync(pieces_in.send_nowait, (pcm, covered))

        job = _Job(
            sentence,
            deliver,
            soxr.ResampleStream(engine.native_rate, self.sample_rate, 1, dtype="int16"),
        )

        async def worker() -> None:
            async with pieces_in:
                try:
                    # abandon_on_cancel=False: a cancel reaches the thread through
                    # check_cancelled() in the callback, and we wait for it to end.
                    await trio.to_thread.run_sync(
                        engine.synthesise, job, self._voice_name, self.rate_wpm, self.pitch
                    )
                finally:
                    self._sentences += 1
                    self._aborted += job.aborted

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(worker)
                async for pcm, covered in pieces_out:
                    if pcm or covered:
                        await out.send(AudioChunk(pcm, covered))
                        self._chunks += 1
        finally:
            # Closed only once the worker is done, so a piece made between the
            # cancel and the abort lands here (and is dropped), never in an error.
            pieces_out.close()
