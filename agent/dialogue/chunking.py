"""LLM text deltas -> units a TTS without input streaming can speak.

``SentenceChunker.feed(delta)`` returns the chunks completed by that delta;
``flush()`` returns the rest at the end of the reply. A chunk ends at a sentence
boundary (``. ! ? ; :`` followed by a space, or a newline), never inside a
decimal ("£85.50"), a time ("10:30"), after an abbreviation ("Mr.", "e.g.") or
an initial ("J. Smith"), and never inside a ``[bracketed]`` span. A ``.`` is a
boundary only if the next word does not start in lower case, so the chunker
waits for the first letter of the next word (a few milliseconds of stream);
``flush`` settles whatever is left.

The first chunk has a fast path: it may also end at a comma or dash once it is
``first_min_chars`` long, so the caller hears something sooner. Any chunk longer
than ``max_chars`` is cut at its last comma or space.

``clean_for_speech`` removes what a TTS would read aloud but should not:
markdown emphasis, headings, bullets, code ticks, and ``[stage directions]``.
"""

from __future__ import annotations

import re

import attrs

from agent.base.errors import ConfigError

__all__ = ["SentenceChunker", "clean_for_speech"]

# Lower case, without the final dot: "e.g." -> "e.g". "etc" is left out on
# purpose: it usually ends the sentence.
_ABBREVIATION_WORDS = (
    "mr mrs ms dr prof st rd ave sr jr vs approx dept est no nos tel ext e.g i.e a.m p.m "
    "inc ltd co corp mt ft jan feb mar apr jun jul aug sep sept oct nov dec"
)
ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_SENTENCE_END = ".!?;:"
_CLOSERS = "\"')]}’”»*_"  # closing quotes, brackets and markdown after a full stop
_FIRST_CLAUSE_END = ",—–"
_LAST_WORD = re.compile(r"(\S+)$")


def _positive_int(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value < 1:
        raise ConfigError(f"{attribute.name}={value}: must be at least 1")


@attrs.define
class SentenceChunker:
    """Collect LLM deltas; give back speakable chunks as soon as they are complete."""

    first_min_chars: int = attrs.field(default=24, validator=_positive_int)
    max_chars: int = attrs.field(default=220, validator=_positive_int)
    clean: bool = True  # pass each chunk through clean_for_speech
    _buffer: str = attrs.field(default="", init=False)
    _emitted: int = attrs.field(default=0, init=False)

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        chunks: list[str] = []
        while (cut := self._find_cut()) is not None:
            self._emit(self._buffer[:cut], chunks)
            self._buffer = self._buffer[cut:]
        return chunks

    def flush(self) -> list[str]:
        chunks: list[str] = []
        self._emit(self._buffer, chunks)
        self._buffer = ""
        self._emitted = 0
        return chunks

    def _emit(self, text: str, chunks: list[str]) -> None:
        spoken = clean_for_speech(text) if self.clean else text.strip()
        if spoken:
            chunks.append(spoken)
            self._emitted += 1

    def _find_cut(self) -> int | None:
        """Index just after the first complete chunk in the buffer, or None."""
        text = self._buffer
        depth = 0
        first = self._emitted == 0
        for i, char in enumerate(text):
            if char == "[":
                depth += 1
            elif char == "]":
                depth = max(depth - 1, 0)
            if depth:
                continue
            if char == "\n":
                if text[:i].strip():
                    return i + 1
                continue
            if char in _SENTENCE_END:
                verdict = self._is_boundary(text, i)
                if verdict is None:
                    break  # undecided until more text arrives
                if verdict:
                    return self._after_closers(text, i + 1)
            elif first and char in _FIRST_CLAUSE_END and i + 1 >= self.first_min_chars:
                after = text[i + 1 : i + 2]
                if not after:
                    break
                if after.isspace():
                    return i + 1
        if len(text) > self.max_chars:
            return self._overflow_cut(text)
        return None

    def _is_boundary(self, text: str, i: int) -> bool | None:
        """Is the punctuation at ``i`` the end of a sentence? None: not known yet."""
        j = i + 1
        while j < len(text) and (text[j] in _SENTENCE_END or text[j] in _CLOSERS):
            j += 1  # "?!", "...", '."', ".)"
        if j >= len(text):
            return None
        if not text[j].isspace():
            return False  # "85.50", "10:30", "example.com"
        if text[i] != ".":
            return True
        if j > i + 1 and text[i + 1 : j].strip(".") == "" and j - i >= 3:
            return True  # an ellipsis
        word = _LAST_WORD.search(text[:i])
        token = word.group(1).lower().lstrip("(\"'") if word else ""
        if token in ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
            return False
        k = j
        while k < len(text) and text[k] in " \t":
            k += 1
        if k >= len(text):
            return None
        return not text[k].islower()

    @staticmethod
    def _after_closers(text: str, j: int) -> int:
        while j < len(text) and (text[j] in _SENTENCE_END or text[j] in _CLOSERS):
            j += 1
        return j

    def _overflow_cut(self, text: str) -> int:
        window = text[: self.max_chars]
        for mark in (", ", " "):
            at = window.rfind(mark)
            if at > 0:
                return at + 1  # just after the comma or the space
        return self.max_chars


_MARKDOWN = [
    (re.compile(r"\[[^\[\]]*\]"), " "),  # [laughs], [pause]
    (re.compile(r"(?m)^\s{0,3}#{1,6}\s+"), ""),  # headings
    (re.compile(r"(?m)^\s*(?:[-*•]|\d+[.)])\s+"), ""),  # bullets, numbered lists
    (re.compile(r"\*{1,3}|_{2,3}|`+|~~"), ""),  # emphasis, code, strike-through
    (re.compile(r"[ \t]+([,.!?;:])"), r"\1"),
    (re.compile(r"\s+"), " "),
]


def clean_for_speech(text: str, *, stage_directions: bool = True) -> str:
    """Strip markup a TTS would read aloud. ``stage_directions=False`` keeps
    ``[bracketed]`` tags, for a TTS that acts them out instead of reading them."""
    for pattern, replacement in _MARKDOWN[0 if stage_directions else 1 :]:
        text = pattern.sub(replacement, text)
    return text.strip()
