"""The words a company's callers use, for the speech recogniser.

Whisper (tiny.en in the offline stack) guesses unusual words from sound alone.
Its ``initial_prompt`` conditions the decoder on text that came "before" the
audio: a line naming the company, its services and the postcode districts it
covers makes those spellings likely ("SE11", "Thames", "boiler repair").
Measured with bench/recogniser_wer.py (docs/performance.md): this prompt lowers
the word error rate on espeak voices; faster-whisper's ``hotwords`` (the same
terms once more) made one voice hallucinate, so ``hotwords`` stays empty here
(``company_terms`` gives them for measuring). Built once per call; pure.
"""

from __future__ import annotations

import attrs

from agent.business.company import CompanyProfile

__all__ = ["Vocabulary", "company_terms", "company_vocabulary"]

_MAX_WORDS = 60  # Whisper's prompt is at most 224 tokens; keep well inside it


@attrs.frozen
class Vocabulary:
    prompt: str  # faster-whisper initial_prompt
    hotwords: str = ""  # faster-whisper hotwords ("": none)


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def company_vocabulary(profile: CompanyProfile) -> Vocabulary:
    services = [s.name for s in profile.services]
    sentences = [f"Thanks for calling {profile.name}."]
    if services:
        sentences.append(", ".join([services[0], *(s.lower() for s in services[1:])]) + ".")
    if profile.service_area:
        sentences.append(f"We cover {_and_list(list(profile.service_area[:10]))}.")
    words = " ".join(sentences).split()
    return Vocabulary(" ".join(words[:_MAX_WORDS]))


def company_terms(profile: CompanyProfile) -> str:
    """The company's name, services and their keywords, comma-separated (hotwords)."""
    keywords = [k for s in profile.services for k in s.keywords]
    terms = [profile.name, *(s.name for s in profile.services), *keywords]
    return ", ".join(dict.fromkeys(terms))
