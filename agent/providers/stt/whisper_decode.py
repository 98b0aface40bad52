"""One utterance through faster-whisper: its text, its confidence, each word's probability.

The line's confidence is the mean segment log-probability as a probability; each
word's is Whisper's own (the mean of its tokens'), for the policy to read back the
words it doubts ("Was that 15 Park Lane?") rather than the whole line.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from agent.base.events import Word

__all__ = ["decode"]


def decode(
    model: Any,
    samples: np.ndarray,
    *,
    beam_size: int = 1,
    prompt: str | None = None,
    hotwords: str | None = None,
) -> tuple[str, float, tuple[Word, ...]]:
    """Blocking: ``samples`` (float32 at 16 kHz, at most 29 s) -> (text, confidence, words);
    word times are seconds from the start of ``samples``."""
    duration = len(samples) / 16_000
    segments, _info = model.transcribe(
        samples,
        language="en",
        beam_size=beam_size,
        temperature=0.0,
        condition_on_previous_text=False,
        without_timestamps=True,
        word_timestamps=True,  # each word's probability: the policy reads back doubtful ones
        vad_filter=False,
        initial_prompt=prompt,
        hotwords=hotwords,
        # Guards against a decoding loop: ~3 words/s of speech is ~5 tokens/s.
        max_new_tokens=min(200, int(20 + 10 * duration)),
    )
    # One segment: the utterance (at most 29 s) fits one window, decoded without
    # timestamps. A second would be the tail after the last word decoded again (what
    # faster-whisper does with word timestamps), at the cost of a second encode.
    kept = [
        seg
        for seg in itertools.islice(segments, 1)
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
    return text, confidence, words
