"""A postcode in the company's area one character away from what was heard (pure).

Whisper tiny.en drops or garbles one short piece of a spoken postcode far more often
than it loses the rest: "one" in "S E one, nine S G" came out as "southeast point
nine sg", "S for sugar, E for Edward, one, nine ..." as "S4 sugar, E4 outward, E9 ...".
What is left is an inward code heard whole (9SG) after an outward code with one
character missing or wrong. When exactly one district of the company's own area is
that one character from what was heard, it is the likeliest reading: it is read back
("Was that SE1 9SG?"), never taken unasked, so a caller from elsewhere says no.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from agent.business.postcode_districts import area_districts, known_district
from agent.business.ukformats import (
    Postcode,
    find_postcode,
    parse_postcode,
    postcode_characters,
    postcode_in_area,
    spelled_characters,
)

__all__ = ["near_area_postcode"]

_PREFIX = re.compile(r"^([A-Z]{1,2})(\d{1,2})?([A-Z])?(?:\s*\d)?$")
# The inward code: the last digit followed by two letters (what trails them, "please",
# is not part of it).
_INWARD = re.compile(r"\d[A-Z]{2}")  # the last match is the one: see ``_near``
_MAX_OUTWARD = 10  # characters before the inward code looked at: "probably 1D" at most


def _districts(prefix: str) -> list[str]:
    """The outward codes (districts) a service-area prefix covers, where they can be
    listed: "SE1" is SE1 and SE1P, "WC" is WC1A..WC2R; an area outside London's
    tables ("M") lists none (any of 99 districts is too loose to guess from)."""
    m = _PREFIX.match(prefix.strip().upper())
    if m is None:
        return []
    area, district, sub = m.group(1), m.group(2), m.group(3)
    listed = area_districts(area)
    if district is None:
        return listed
    number = int(district)
    found = [d for d in listed if re.fullmatch(rf"{area}{number}[A-Z]?", d)]
    if not listed:  # outside London: the district itself, as the prefix names it
        found = [f"{area}{number}{sub or ''}"]
    return [d for d in found if sub is None or d.endswith(sub)]


def _common_length(a: str, b: str) -> int:
    """The length of the longest common subsequence of ``a`` and ``b``."""
    row = [0] * (len(b) + 1)
    for ca in a:
        diagonal = 0
        for j, cb in enumerate(b, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if ca == cb else max(row[j], row[j - 1])
    return row[-1]


def _near(heard: str, districts: list[str], prefixes: tuple[str, ...]) -> Postcode | None:
    # the last one, in one pass (a long line stays linear)
    inward = next(reversed(list(_INWARD.finditer(heard))), None)
    if inward is None:
        return None
    before = heard[: inward.start()][-_MAX_OUTWARD:]
    # How many of each district's characters were heard, in order; one may be missing.
    scored = [(_common_length(d, before) - len(d), d) for d in districts]
    best = max((s for s, _ in scored), default=-9)
    winners = [d for s, d in scored if s == best]
    # SE1 and SE1P both one short of "SEPOINT": the letter is the extra guess
    winners = [d for d in winners if not any(d != w and d.startswith(w) for w in winners)]
    if best < -1 or len(winners) != 1:
        return None  # nothing close enough, or two districts as close: no guess
    pc = parse_postcode(winners[0] + inward.group(0))
    if pc is None or not known_district(pc) or not postcode_in_area(str(pc), prefixes):
        return None
    return pc


def near_area_postcode(
    text: str, prefixes: Iterable[str], *, beside_whole: bool = False
) -> Postcode | None:
    """The one postcode in the area of ``prefixes`` whose outward code is at most one
    character from what ``text`` holds before an inward code heard whole, from the
    line as said ("southeast point nine sg" -> SE1 9SG when SE1 is served) or as
    spelled ("S for sugar, if we're at 1, 7, P for Peter, B for Bertie" -> SE1 7PB);
    ``None`` when no district of the area is that close, or two are. A line with a
    whole postcode gives none unless ``beside_whole`` (one outside the area heard,
    to ask about the one inside before declining: S1 7PB, "SE1 7PB?")."""
    prefixes = tuple(prefixes)
    whole = find_postcode(text)
    if whole is not None and known_district(whole) and not beside_whole:
        return None  # a postcode heard whole is the caller's, in the area or not
    districts = sorted({d for p in prefixes for d in _districts(p)})
    if not districts:
        return None
    # a spelling's letters, else the line's characters (a spelling's words would be noise)
    spelled, letters = spelled_characters(text)
    pc = _near(spelled if letters >= 2 else postcode_characters(text), districts, prefixes)
    return None if pc is None or (whole is not None and pc == whole) else pc
