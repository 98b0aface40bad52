"""The doubt marker: a caller line the recogniser was unsure of, kept rather than dropped.

A turn heard below ``TurnTakingParams.min_confidence`` is not thrown away (the
caller would hear the same question again and nothing of what they said would
be recorded): its text goes to the policy with ``UNSURE_PREFIX`` in front, so
the history, the records and the policy all see what was heard *and* that it
is in doubt. The policy then confirms the likely value ("Was that 0 7 7 ...?")
instead of re-asking blindly; the LLM's prompt says the same.
"""

from __future__ import annotations

__all__ = ["UNSURE_PREFIX", "is_unsure", "mark_unsure", "split_unsure"]

UNSURE_PREFIX = "[unsure] "


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
