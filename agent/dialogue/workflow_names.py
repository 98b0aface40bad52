"""The caller's name as they give it (pure): plausible as a name, spelled when asked,
completed ("Tom", then "Tomasz Kowalski") or spelled unasked while another detail is
asked ("K O W A L S K I")."""

from __future__ import annotations

import re

from agent.dialogue.slots import find_name
from agent.dialogue.spelling import looks_spelled, spelled_word
from agent.dialogue.workflow_data import BookingData

__all__ = ["fuller_name", "name_spelled", "plausible_name", "spelled_name"]

# Words a name is never made of: "Are you a robot?" half heard ("Our view are robot")
# is a question, not a name to read back or keep.
_NOT_NAME_WORDS = frozenset(
    [
        "are",
        "is",
        "was",
        "were",
        "am",
        "be",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "shall",
        "should",
        "you",
        "your",
        "what",
        "when",
        "where",
        "who",
        "why",
        "how",
        "this",
        "that",
        "there",
        "it",
        "i",
        "we",
        "they",
        "he",
        "she",
        "me",
        "my",
        "a",
        "an",
        "to",
        "of",
        "in",
        "on",
        "for",
        "with",
        "please",
        "robot",
        "machine",
        "computer",
        "person",
        "human",
        "real",
        "talking",
    ]
)


def plausible_name(value: str | None) -> bool:
    """A name as people give it (one to four words, none a verb, pronoun or question
    word), not a sentence or a question heard in its place."""
    if not value:
        return False
    words = value.lower().replace("?", " ").split()
    if "?" in value or not 1 <= len(words) <= 4:
        return False
    return sum(1 for w in words if w.strip(".,'") in _NOT_NAME_WORDS) == 0


def spelled_name(data: BookingData, wanted: str | None, text: str) -> bool:
    """A name spelled when the name is asked ("could you spell it?" after two misses:
    "S for sugar, H, A, W"): held as ``doubt`` to read back ("was that Shaw?")."""
    if wanted != "name" or data.spelling is not None or not looks_spelled(text):
        return False
    word = spelled_word(text)
    if word is None or word in data.rejected:
        return False
    data.doubt, data.doubt_word = ("name", word), True
    data.spelled_names.add(word)
    return True


def fuller_name(name: str | None, text: str) -> str | None:
    """A bare answer that is the name given before with more of it ("Karen" then
    "Karen Jones", "Tom" then "Tomasz Kowalski", asked for the address): the caller
    completing their name."""
    said = find_name(text, expecting=True) if name else None
    if said is None or name is None or re.search(r"\d", text):
        return None
    given, now = name.lower().split(), said.lower().split()
    if set(given) < set(now):
        return said
    # "Tom", then "Tomasz Kowalski": the short form of the first name, now in full
    fuller = len(given) == 1 and len(now) == 2 and now[0].startswith(given[0])
    return said if fuller and len(given[0]) >= 3 else None


def name_spelled(name: str | None, text: str) -> str | None:
    """The name given before with one of its words as the caller now spells it, unasked
    ("Tomasz Kowalski", then "K O W A L S K I"): the word of the name that starts with
    the same letter and is about as long; ``None`` when the spelling fits no word."""
    if not name or not looks_spelled(text) or (word := spelled_word(text)) is None:
        return None
    words = name.split()
    for i, old in enumerate(words):
        if old[0].lower() == word[0].lower() and abs(len(old) - len(word)) <= 2:
            return " ".join([*words[:i], word, *words[i + 1 :]])
    return None
