"""One utterance through faster-whisper: its text, its confidence, each word's probability.

The line's confidence is the mean segment log-probability as a probability; each
word's is Whisper's own (the mean of its tokens'), for the policy to read back the
words it doubts ("Was that 15 Park Lane?") rather than the whole line.

The beam search ends with several finished hypotheses and faster-whisper keeps only
the best: ``decode`` also returns the next few (``MAX_ALTERNATIVES``), so the policy
can find a postcode in the second guess ("EC4M7LS") when the first holds none ("easy
for M7LS"). They come from the same search, not a second decode: asking CTranslate2
for them left the best hypothesis, its score, the words and the CPU time as they were
on every line of the caller corpus measured (docs/performance.md, "Issue 16").
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from typing import Any

import attrs
import numpy as np

from agent.base.events import Word

__all__ = ["DEFAULT_DECODING", "MAX_ALTERNATIVES", "DecodeOptions", "condition", "decode"]


def _unit(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{attribute.name} must be in [0, 1), got {value}")


@attrs.frozen
class DecodeOptions:
    """How an utterance is decoded (measured in docs/performance.md, "Recogniser
    accuracy"). ``pre_emphasis``: the first-difference coefficient applied to the
    line's audio before resampling (0: off); ``normalise_gain``: the line's level
    brought to a common RMS before it (quiet callers and hot lines alike)."""

    # Beam 5: the word error rate 16.0 -> 14.7 % on the corpus' voices and 19.7 ->
    # 16.4 % on two others, at about 5-10 % more CPU than greedy decoding.
    beam_size: int = attrs.field(default=5, validator=attrs.validators.in_(range(1, 11)))
    without_timestamps: bool = True
    condition_on_previous_text: bool = False
    pre_emphasis: float = attrs.field(default=0.0, validator=_unit)
    normalise_gain: bool = False


DEFAULT_DECODING = DecodeOptions()
MAX_ALTERNATIVES = 4  # besides the best: the beam is 5
_TARGET_RMS = 0.1  # -20 dBFS
_MAX_GAIN = 10.0  # +20 dB at most: line noise in a silent line stays noise


def condition(samples: np.ndarray, options: DecodeOptions) -> np.ndarray:
    """The line's float32 audio (any rate) as ``options`` would have it decoded."""
    if options.pre_emphasis:
        samples = np.append(samples[:1], samples[1:] - options.pre_emphasis * samples[:-1])
    if options.normalise_gain and len(samples):
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
        if rms > 0:
            gain = min(_MAX_GAIN, _TARGET_RMS / rms)
            samples = np.clip(samples * gain, -1.0, 1.0)
    return samples.astype(np.float32, copy=False)


def decode(
    model: Any,
    samples: np.ndarray,
    *,
    options: DecodeOptions = DEFAULT_DECODING,
    prompt: str | None = None,
    hotwords: str | None = None,
) -> tuple[str, float, tuple[Word, ...], tuple[str, ...]]:
    """Blocking: ``samples`` (float32 at 16 kHz, at most 29 s) -> (text, confidence, words,
    alternatives); word times are seconds from the start of ``samples``; the
    alternatives are the beam's next hypotheses for the same audio, best first."""
    duration = len(samples) / 16_000
    beam = _BeamHypotheses.around(model, options.beam_size)
    segments, _info = (beam.view if beam else model).transcribe(
        samples,
        language="en",
        beam_size=options.beam_size,
        temperature=0.0,
        condition_on_previous_text=options.condition_on_previous_text,
        without_timestamps=options.without_timestamps,
        word_timestamps=True,  # each word's probability: the policy reads back doubtful ones
        vad_filter=False,
        initial_prompt=prompt,
        hotwords=hotwords,
        # Guards against a decoding loop: ~3 words/s of speech is ~5 tokens/s.
        max_new_tokens=min(200, int(20 + 10 * duration)),
    )
    # One segment: the utterance (at most 29 s) fits one window. Without timestamps a
    # second would be the tail after the last word decoded again (what faster-whisper
    # does with word timestamps), at the cost of a second encode; with them, the line's
    # other sentences, which are kept.
    kept = [
        seg
        for seg in _first_window(segments, options.without_timestamps)
        # Whisper's own silence rule: likely no speech and not confident.
        if not (seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0)
    ]
    text = " ".join(seg.text.strip() for seg in kept if seg.text.strip())
    confidence = 0.0
    if kept:
        mean_logprob = sum(seg.avg_logprob for seg in kept) / len(kept)
        confidence = min(1.0, max(0.0, math.exp(mean_logprob)))
    words = tuple(
        Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
        for seg in kept
        for w in seg.words or ()
        if w.word.strip()
    )
    alternatives = beam.alternatives(text) if beam and text else ()
    return text, confidence, words, alternatives


class _BeamHypotheses:
    """faster-whisper's model as it is, but for its CTranslate2 model's ``generate``,
    which is asked for the beam's best hypotheses rather than its best one and keeps
    them (faster-whisper reads only the first, as before).

    A shallow copy of the shared model per decode, so that concurrent decodes of one
    process-wide model each keep their own; faster-whisper offers no other way to them
    (``transcribe`` asks for one hypothesis, and decoding without it would mean doing
    its feature extraction, prompt, fallback and word alignment again)."""

    def __init__(self, model: Any, generator: Any, hypotheses: int) -> None:
        self._model, self._generator, self._hypotheses = model, generator, hypotheses
        self._first: Any = None  # the first window's result: the one the text comes from
        self.view = copy.copy(model)
        self.view.model = self

    @classmethod
    def around(cls, model: Any, beam_size: int) -> _BeamHypotheses | None:
        generator = getattr(model, "model", None)
        if beam_size < 2 or not callable(getattr(generator, "generate", None)):
            return None  # greedy (one hypothesis), or not faster-whisper's model
        return cls(model, generator, min(beam_size, MAX_ALTERNATIVES + 1))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._generator, name)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("beam_size", 1) > 1:  # not the sampling fallback (temperature > 0)
            kwargs.setdefault("num_hypotheses", self._hypotheses)
        results = self._generator.generate(*args, **kwargs)
        if self._first is None and results:
            self._first = results[0]
        return results

    def alternatives(self, best: str) -> tuple[str, ...]:
        """The other hypotheses' texts, best first, each once, none the same words as
        ``best`` or as another but for case and punctuation."""
        if self._first is None:
            return ()
        tokenizer = self._model.hf_tokenizer
        end = tokenizer.token_to_id("<|endoftext|>")  # special tokens (timestamps) follow it
        seen = {_words_of(best)}
        out: list[str] = []
        for ids in self._first.sequences_ids[1:]:
            text = tokenizer.decode([i for i in ids if i < end]).strip()
            if text and _words_of(text) not in seen:
                seen.add(_words_of(text))
                out.append(text)
        return tuple(out[:MAX_ALTERNATIVES])


def _words_of(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.lower()))


def _first_window(segments: Any, one_segment: bool) -> list[Any]:
    if one_segment:
        return list(itertools.islice(segments, 1))
    window: list[Any] = []
    for segment in segments:  # the next window's first segment costs one decode more
        if window and segment.seek != window[0].seek:
            break
        window.append(segment)
    return window
