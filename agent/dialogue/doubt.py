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

__all__ = [
    "CHECK_PREFIX",
    "UNSURE_PREFIX",
    "is_unsure",
    "mark_check",
    "mark_unsure",
    "split_check",
    "split_unsure",
]

UNSURE_PREFIX = "[unsure] "
CHECK_PREFIX = "[check: "
_CHECK = re.compile(r"^\s*\[check:([^\]]*)\]\s*")


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
