"""A heard street address with its name as the street-name prior knows it (pure).

A recogniser that does not know a street's name writes the words it sounds like
("19 rows straight", "25 manner road", "20 millerode"). ``street_guess`` gives the
address with the known name it sounds like (``business.street_names``): "19 Rose
Street", "25 Manor Road", "20 Mill Road", only ever to read back ("Was that 19 Rose
Street?"), never taken unasked. A name the prior knows, one shaped like a place
name, or one the recogniser wrote capitalised (it writes a name it knows so: "19
Ross Road") is left as heard.

``known_spelling`` does the same for a street's name spelled letter by letter: a
last letter heard twice ("MARKETT": the "street" said after it heard as one more
"T for ...") is dropped when that makes a known name of an unknown one. Nothing else
of a spelling is changed: the caller's letters are surer than the prior.
"""

from __future__ import annotations

import re

from agent.business.street_names import is_known, sounds_like, split_glued_street
from agent.dialogue.details import NUMBER_WORDS, STREET_WORDS, with_street_name

__all__ = ["known_spelling", "street_guess"]

# The street word as a recogniser may write it ("rode", "straight"): see ``details``.
_STREET = re.compile(
    rf"^(?:{STREET_WORDS}|rode|rowed|straight|strait|lain|laine|weigh)$", re.IGNORECASE
)
_NUMBER = re.compile(
    rf"^(?:\d+[a-z]?|flat|apartment|unit|{'|'.join(NUMBER_WORDS)})$", re.IGNORECASE
)


def street_guess(address: str, *, strict: bool = False) -> str | None:
    """``address`` with its street's name replaced by the known name it sounds like
    ("19 rows Street" -> "19 Rose Street"; "20 millerode" -> "20 Mill Road"), or
    ``None`` when there is none to offer (see the module's doc). ``strict``: the
    recogniser doubted a word of it, so only a name spelled much alike is offered
    ("bark" is not "Brook")."""
    words = re.findall(r"[\w'\-]+", address)
    at = next((i for i in range(len(words) - 1, 0, -1) if _STREET.match(words[i])), None)
    start = next((i for i, w in enumerate(words) if not _NUMBER.match(w)), len(words))
    if at is None:
        # No street word: maybe run into the name ("millerode", "million")
        if start != len(words) - 1 or not words[start].islower():
            return None
        glued = split_glued_street(words[start])
        if glued is None:
            return None
        return with_street_name(f"{' '.join(words[:start])} x {glued[1]}", glued[0])
    name = words[start:at]
    if not name:
        return None
    # The recogniser capitalises a name it knows ("19 Ross Road"); the first word of
    # the address may be capitalised only because it starts the sentence.
    if any(w[:1].isupper() for w in name[1:]) or (start > 0 and name[0][:1].isupper()):
        return None
    known = sounds_like(" ".join(name), strict=strict)
    return with_street_name(address, known) if known is not None else None


def known_spelling(word: str) -> str:
    """A spelled street's name without a last letter heard twice when that makes a
    known name of an unknown one ("Markett": "Market"); else ``word`` as spelled."""
    doubled = len(word) >= 4 and word[-1].lower() == word[-2].lower()
    if doubled and not is_known(word) and is_known(word[:-1]):
        return word[:-1]
    return word
