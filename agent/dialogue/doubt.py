"""The doubt marker: a caller line the recogniser was unsure of, kept rather than dropped.

A turn heard below ``TurnTakingParams.min_confidence`` is not thrown away (the
caller would hear the same question again and nothing of what they said would
be recorded): its text goes to the policy with ``UNSURE_PREFIX`` in front, so
the history, the records and the policy all see what was heard *and* that it
is in doubt. The policy then confirms the likely value ("Was that 0 7 7 ...?")
instead of re-asking blindly; the LLM's prompt says the same.

A line heard well enough as a whole may still hold a word the recogniser was
unsure of ("15 part lane": "part" at 0.56): such words are named in front of
the line (``CHECK_PREFIX``: "[check: part] 15 part lane"), so a name or an
address holding one is read back ("Was that 15 part lane?") before it is taken.
"""

from __future__ import annotations

import re

import attrs

__all__ = [
    "ALSO_PREFIX",
    "CHECK_PREFIX",
    "UNSURE_PREFIX",
    "HeardLine",
    "is_unsure",
    "mark_also_heard",
    "mark_check",
    "mark_unsure",
    "read_line",
    "split_also_heard",
    "split_check",
    "split_unsure",
]

UNSURE_PREFIX = "[unsure] "
CHECK_PREFIX = "[check: "
_CHECK = re.compile(r"^\s*\[check:([^\]]*)\]\s*")
ALSO_PREFIX = "[also heard: "
_ALSO = re.compile(r"\[also heard:([^\]]*)\]\s*")
_ALSO_AFTER = re.compile(r"^(\s*(?:\[unsure\]\s*)?(?:\[check:[^\]]*\]\s*)?)" + _ALSO.pattern)


def mark_check(text: str, words: tuple[str, ...] | list[str]) -> str:
    """``text`` with the words heard in doubt named in front ("[check: part] 15 part lane")."""
    named = " ".join(w for w in words if w and "]" not in w)
    return f"{CHECK_PREFIX}{named}] {text.strip()}" if named else text


def split_check(text: str) -> tuple[str, frozenset[str]]:
    """``(text without the marker, the doubted words in lower case)``."""
    m = _CHECK.match(text)
    if m is None:
        return text.strip(), frozenset()
    return text[m.end() :].strip(), frozenset(m.group(1).lower().split())


def mark_unsure(text: str) -> str:
    """``text`` marked as heard with low confidence (idempotent)."""
    text = text.strip()
    return text if is_unsure(text) else UNSURE_PREFIX + text


def is_unsure(text: str) -> bool:
    return text.lstrip().startswith(UNSURE_PREFIX.rstrip())


def split_unsure(text: str) -> tuple[str, bool]:
    """``(text without the marker, whether it was marked)``."""
    stripped = text.lstrip()
    marker = UNSURE_PREFIX.rstrip()
    if stripped.startswith(marker):
        return stripped[len(marker) :].strip(), True
    return text.strip(), False


def mark_also_heard(text: str, readings: tuple[str, ...] | list[str]) -> str:
    """``text`` with the recogniser's other ``readings`` of it named in front, " | "
    between them ("[also heard: ... | ...] text"); ``text`` as it is when none."""
    kept = [" ".join(r.replace("]", " ").replace("|", " ").split()) for r in readings]
    named = " | ".join(r for r in kept if r)
    return f"{ALSO_PREFIX}{named}] {text.strip()}" if named else text


def split_also_heard(text: str) -> tuple[str, tuple[str, ...]]:
    """``(text without the marker, the other readings)``; the ``[unsure]`` and
    ``[check: ...]`` markers in front of it stay where they are."""
    m = _ALSO_AFTER.match(text)
    if m is None:
        return text, ()
    readings = tuple(r.strip() for r in m.group(2).split("|") if r.strip())
    return m.group(1) + text[m.end() :], readings


@attrs.frozen
class HeardLine:
    """A caller's line as people read it: the words, which of them the recogniser
    doubted, whether the whole line was heard in doubt, and its other readings."""

    text: str
    unsure: bool = False
    doubted: frozenset[str] = frozenset()
    also_heard: tuple[str, ...] = ()

    def words(self) -> list[tuple[str, bool]]:
        """Each word of ``text`` with whether it was doubted (its letters compared in
        lower case, punctuation aside)."""
        return [(w, re.sub(r"[^\w']", "", w.lower()) in self.doubted) for w in self.text.split()]


def read_line(text: str) -> HeardLine:
    """A stored caller line (``[unsure]``, ``[check: ...]`` and ``[also heard: ...]``
    markers in front) split into what was said and what the markers say."""
    rest, readings = split_also_heard(text)
    rest, unsure = split_unsure(rest)
    rest, doubted = split_check(rest)
    return HeardLine(rest, unsure, doubted, readings)
