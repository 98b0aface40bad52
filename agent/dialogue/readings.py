"""The recogniser's other readings of a line: which of them are worth keeping (pure).

A beam search keeps its next hypotheses beside the best one, and where the best
mangled a detail another often has it: "start the green lane" beside "30 cream
lane" (the house number), "That's 14 million" beside "That's 14 mil lane" (the
street word), "4L in the street" beside "For Elm Street". A reading is kept when it
holds a postcode, a phone number or a whole address (a house number and a street
word) the best reading does not; the rest differ in a word or a comma and would
only lengthen the history and a model's prompt.
"""

from __future__ import annotations

import re

from agent.business.street_names import is_known, known_name
from agent.business.ukformats import find_phone, find_postcode
from agent.dialogue.details import STREET_WORDS, address_answer, with_street_name
from agent.dialogue.street_prior import street_guess

__all__ = ["address_key", "holds_other_detail", "known_street", "whole_address"]

_STREET = re.compile(rf"\b(?:{STREET_WORDS})\b", re.IGNORECASE)
_FILLER = re.compile(r"\b(?:the|a|an|in|of|at|on)\b|[^a-z0-9]", re.IGNORECASE)


def whole_address(text: str) -> str | None:
    """The address in ``text`` when it has a house number and a street word ("30 cream
    lane", "For Elm Street" as 4 Elm Street), else ``None``."""
    found = address_answer(text)
    if found is None or not re.search(r"\d", found) or _STREET.search(found) is None:
        return None
    return found


def known_street(address: str) -> str | None:
    """``address`` when its street's name is a known one ("4 Elm Street"), or the known
    name it is spelled much like ("14 mil lane": "14 Mill Lane", "12 Regents Street":
    "12 Regent Street"); ``None`` for a street no one has heard of ("41-shot road"),
    not worth a caller's turn."""
    if (guess := street_guess(address, strict=True)) is not None:
        return guess
    m = re.match(rf"\s*\d+[a-z]?\s+(.+?)\s+(?:{STREET_WORDS})\W*$", address, re.IGNORECASE)
    if m is None:
        return None
    if is_known(name := m.group(1)):
        return address
    # "12 Regents Street": a known name with an "s" the recogniser added ("Regent")
    singular = re.sub(r"'?s$", "", name, flags=re.IGNORECASE)
    known = known_name(singular) if singular != name and " " not in name else None
    return with_street_name(address.strip(" ."), known) if known is not None else None


def address_key(address: str) -> str:
    """What tells two hearings of an address apart: "4L in the street" and "4L in
    street" are one hearing; "4 Elm Street" is another."""
    return _FILLER.sub("", address.lower())


def holds_other_detail(reading: str, best: str) -> bool:
    """``reading`` holds a postcode, a phone number or a whole address that ``best``
    does not."""
    for find in (find_postcode, find_phone):
        found = find(reading)
        if found is not None and found != find(best):
            return True
    other = whole_address(reading)
    top = address_answer(best)
    return other is not None and (top is None or address_key(other) != address_key(top))
