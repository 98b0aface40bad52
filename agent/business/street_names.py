"""A real-world prior on UK street names, to read back a street a recogniser misheard.

``data/street_names.txt`` holds a few hundred of the street names that recur from
town to town (High, Station, Church, Manor, Victoria, trees, flowers, monarchs,
saints), written from general knowledge, the street word ("Road", "Lane") left off.
A recogniser that does not know a name writes the words it sounds like: "19 rows
straight" for 19 Rose Street, "25 manner road" for 25 Manor Road, "20 millerode"
for 20 Mill Road. ``sounds_like`` finds the known name a heard one sounds like
(their metaphone codes the same, or one sound apart in a long name that is also
spelled alike), so that the agent can ask "Was that 19 Rose Street?". It is a
prior, not a gazetteer: a name it does not know may well be real, so what it
finds is only ever read back for the caller to confirm, and a name it knows, or
one shaped like a place name ("Tollington", "Ashburnham"), is never matched.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jellyfish

__all__ = [
    "is_known",
    "known_name",
    "known_names",
    "read_names",
    "sounds_like",
    "split_glued_street",
]

_DATA = Path(__file__).with_name("data") / "street_names.txt"

# Endings of English place names and surnames (-ton, -ham, -field...): a heard name
# shaped like one is most likely a real street the prior does not know.
_PLACE_ENDING = re.compile(
    r"(?:ton|tone|ham|ford|field|fields|wood|ley|leigh|by|bury|borough|worth|well|combe|"
    r"den|don|gate|hurst|mead|stead|thorpe|wick|wich|more|dale|side|land|lands|croft|"
    r"holme|ridge|brook|bourne|burn|burne|ington|shaw|cott|cote|grave|hall|ville|mount|"
    r"church|minster|bridge|castle|chester|cester|caster|down|stock|ey|ay|y)$"
)
# Street words a recogniser may run into the name ("millerode", "million"): their
# metaphone codes, and what they stand for.
_GLUED_STREET = {"RT": "Road", "LN": "Lane", "STRT": "Street", "W": "Way"}


def read_names(path: Path) -> list[str]:
    """The names of a prior's data file: one a line, "#" starting a comment."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [name for line in lines if (name := line.split("#", 1)[0].strip())]


@cache
def known_names() -> dict[str, str]:
    """The prior's names by their key (lower case, letters only): {"stjohns": "St Johns"}."""
    return {_key(name): name for name in read_names(_DATA)}


@cache
def _by_code() -> dict[str, list[str]]:
    codes: dict[str, list[str]] = {}
    for key, name in known_names().items():
        codes.setdefault(jellyfish.metaphone(key), []).append(name)
    return codes


def _key(name: str) -> str:
    """ "King's" and "Kings", "St. John's" and "St Johns" are one name."""
    return re.sub(r"[^a-z]", "", name.lower())


def is_known(name: str) -> bool:
    """``name`` (without its street word) is one the prior knows."""
    return _key(name) in known_names()


def known_name(name: str) -> str | None:
    """``name`` as the prior spells it ("regent's": "Regent"), ``None`` when unknown."""
    return known_names().get(_key(name))


def sounds_like(heard: str, *, strict: bool = False) -> str | None:
    """The known street name that ``heard`` (a street's name as a recogniser wrote it,
    without the street word) sounds like, as the prior spells it: "rows" -> "Rose",
    "manner" -> "Manor", "mark on" -> "Market". ``None`` when ``heard`` is a known name
    itself, is shaped like a place name, is too short to judge, or sounds like no
    known name, or like two equally well."""
    key = _key(heard)
    if len(key) < 3 or key in known_names() or _PLACE_ENDING.search(key):
        return None
    code = jellyfish.metaphone(key)
    same = _by_code().get(code, [])
    if same:  # ``strict``: a word the recogniser itself doubted, spelled closer still
        return _likeliest(key, same, _NEAR_SOUND if strict else _SAME_SOUND)
    if len(code) < 4:
        return None  # a short name one sound off is another name, not a mishearing
    near = [
        name
        for other, names in _by_code().items()
        if len(other) >= 4 and jellyfish.levenshtein_distance(code, other) == 1
        for name in names
        if other[:2] == code[:2]  # the start of a name is heard best
    ]
    # One sound apart is close only when the letters agree well ("markon", "market")
    return _likeliest(key, near, _NEAR_SOUND)


# How alike the letters must be (Jaro-Winkler) besides the sounds: "penn" and "pine"
# sound the same to metaphone, but are too unalike written to be the one misheard.
_SAME_SOUND, _NEAR_SOUND = 0.7, 0.85


def _likeliest(key: str, names: list[str], least: float) -> str | None:
    """The name spelled most like ``key``, starting with its letter (the start of a
    word is heard best) and at least ``least`` alike; ``None`` when there is none or
    two tie (no guessing)."""
    scores = [(jellyfish.jaro_winkler_similarity(key, _key(n)), n) for n in names]
    scored = sorted((x, n) for x, n in scores if x >= least and _key(n)[0] == key[0])
    if not scored or (len(scored) > 1 and scored[-1][0] == scored[-2][0]):
        return None
    return scored[-1][1]


def split_glued_street(word: str) -> tuple[str, str] | None:
    """A known name and the street word a recogniser ran together into one word
    ("millerode": Mill, Road; "million": Mill, Lane), or ``None``. The word itself must
    not be a known name, the street word's part must start as it does, and the name's
    part must sound exactly like a known one and be spelled much like it."""
    key = _key(word)
    if len(key) < 5 or key in known_names() or _PLACE_ENDING.search(key):
        return None
    for cut in range(len(key) - 3, 2, -1):  # a street word said is 3 letters or more
        head, tail = key[:cut], key[cut:]
        street = _GLUED_STREET.get(jellyfish.metaphone(tail))
        if street is None or tail[0] != street[0].lower():  # "-ard" is no "road"
            continue
        same = _by_code().get(jellyfish.metaphone(head), [])
        if same and (name := _likeliest(head, same, _NEAR_SOUND)) is not None:
            return name, street
    return None
