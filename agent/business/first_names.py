"""A real-world prior on first names, to read back a first name a recogniser heard in
doubt.

``data/first_names.txt`` holds a few hundred first names common in the UK, written
from general knowledge. A recogniser that does not know the name said alone writes
a word it sounds like ("Niner" for Nina, "9." for Nina, "Then" for Ben), or runs the
first name into the surname ("Bentonson" for Ben Thompson). ``is_first_name`` and
``sounds_like_first_name`` say which of its readings is a name worth reading back
("Was that Nina Shaw?"); ``glued_first_name`` finds the first name at the head of a
name heard as one word. A prior, not a register: a name it does not know may well
be real, so what it finds is only ever read back for the caller to confirm.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jellyfish

from agent.business.street_names import read_names

__all__ = ["ending_heard_after", "glued_first_name", "is_first_name", "sounds_like_first_name"]

_DATA = Path(__file__).with_name("data") / "first_names.txt"
_ALIKE = 0.85  # Jaro-Winkler: "nine" and "nina" are alike written too, "tin" and "tony" not


@cache
def _names() -> dict[str, str]:
    return {name.lower(): name for name in read_names(_DATA)}


def _key(word: str) -> str:
    return re.sub(r"[^a-z]", "", word.lower())


def is_first_name(word: str) -> bool:
    """``word`` is a first name the prior knows ("Nina", "ben")."""
    return _key(word) in _names()


def sounds_like_first_name(word: str) -> str | None:
    """The known first name ``word`` is, or sounds the same as and starts as ("Nine":
    Nina), or is with the "-a" heard as "-er" ("Niner": Nina, "Anner": Anna), as the
    prior spells it; ``None`` when none, or two equally (no guessing)."""
    key = _key(word)
    if len(key) < 3:
        return None
    if key in _names():
        return _names()[key]
    if key.endswith("er") and (non_rhotic := key[:-2] + "a") in _names():
        return _names()[non_rhotic]
    code = jellyfish.metaphone(key)
    same = sorted(
        (jellyfish.jaro_winkler_similarity(key, other), name)
        for other, name in _names().items()
        if other[0] == key[0] and jellyfish.metaphone(other) == code
    )
    same = [(score, name) for score, name in same if score >= _ALIKE]
    if not same or (len(same) > 1 and same[-1][0] == same[-2][0]):
        return None
    return same[-1][1]


def glued_first_name(heard: str, surname: str) -> str | None:
    """The first name at the head of ``heard`` when the recogniser ran it into the
    surname ("Bentonson" with Thompson: Ben): the longest known first name it starts
    with whose rest starts as the surname does and is about as long; ``None`` else."""
    key, last = _key(heard), _key(surname)
    if not last or len(key) < len(last):
        return None
    for cut in range(min(len(key) - 3, 12), 1, -1):
        head, rest = key[:cut], key[cut:]
        if head in _names() and rest[0] == last[0] and abs(len(rest) - len(last)) <= 2:
            return _names()[head]
    return None


def ending_heard_after(first: str, heard: str, spelled: str) -> str:
    """``first`` with the "-a" it ends in when the recogniser heard that vowel at the
    start of the surname instead ("Ann Oluis", spelled Lewis: Anna), and that makes a
    first name the prior knows; else ``first`` as heard."""
    vowel = heard[:1].lower()
    if vowel not in ("a", "e", "o", "u") or spelled[:1].lower() == vowel:
        return first
    fuller = _names().get(_key(first) + "a")
    return fuller if fuller is not None and is_first_name(first) else first
