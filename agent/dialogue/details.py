"""Details inside what a caller said, whatever was asked (pure helpers of ``slots``).

A caller answers the question they hear in their own order: the postcode when
asked for the address, name and number in one breath, a correction of
something said three questions ago. These helpers find an address anywhere,
clean an answer to "what's the address?" of everything that is not the
address (a postcode is never an address line), spot a correction ("no, the
house number is 41", "sorry, it's Patel with one T", "not Friday, Thursday")
and drop the words a caller took back, so that only the new value counts.
"""

from __future__ import annotations

import re

__all__ = [
    "NUMBER_WORDS",
    "STREET_WORDS",
    "address_answer",
    "already_told",
    "drop_negated",
    "find_address",
    "house_number",
    "is_correction",
    "number_sounds",
    "respell",
    "this_number",
    "with_street_name",
    "wrong_detail",
]

STREET_WORDS = (
    "street|st|road|rd|avenue|ave|lane|close|drive|way|court|gardens|place|crescent|"
    "terrace|grove|hill|square|mews|row|walk|park|parade|rise|view|green|embankment|"
    "bridge|wharf|yard|gate|mansions|house|buildings|estate|cottage|farm|lodge|manor|barn"
)
_ADDRESS = re.compile(
    rf"(?:\b(?:flat|apartment|unit)\s+\d+[a-z]?,?\s+)?\b\d+(?:st|nd|rd|th)?[a-z]?,?\s+"
    rf"(?:[A-Za-z][\w'\-]*\s+){{0,3}}"
    rf"(?:{STREET_WORDS}|lanes)\b",  # "Green Lanes": the whole name, not "30 green"
    re.IGNORECASE,
)
_BETWEEN = re.compile(
    r"^(\d+[a-z]?)(?:,\s*|\s+(?:on|and it's|and its|and it is)\s+)(?=[A-Za-z])", re.I
)
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b(?=,?\s+[A-Za-z])", re.IGNORECASE)
_CUE = re.compile(
    r"^\s*(?:no|nope|sorry|actually|wait|hang on|oops)\b|\b(?:i mean|i said|correction|"
    r"should be|should have been|that's wrong|not quite|instead|rather than|change)\b|"
    r"\bnot\s+\w+\s*,|\bwith (?:one|a single|two|double|a double) \w\b",
    re.IGNORECASE,
)
_TOLD = re.compile(
    r"\b(?:(?:i(?:'ve)?|i have) (?:already|just) (?:told|said|given)|i told you|"
    r"i(?:'ve)? said (?:that|it)|you asked (?:me )?(?:that|already)|already (?:said|told))\b",
    re.IGNORECASE,
)
_NEGATED = re.compile(
    r"\bnot\s+(?:on\s+|at\s+|the\s+)?[\w']+(?:\s+(?:morning|afternoon|evening|[a-z]{1,2}))?"
    r"\s*(?:,|\.|;|\bbut\b)\s*",
    re.IGNORECASE,
)
_NEGATED_TAIL = re.compile(
    r",?\s*\bnot\s+(?:on\s+|at\s+|the\s+)?[\w']+(?:\s+(?:morning|afternoon|evening))?\s*[.!]?$",
    re.IGNORECASE,
)
_HOUSE_NUMBER = re.compile(
    r"\b(?:house|flat|door|building)\s+number(?:\s+is|'s|\s+should be)?\s+(\d+[a-z]?)\b|"
    r"\b(?:it's|it is|its)\s+number\s+(\d+[a-z]?)\b|"
    # "sorry, 24 not 22", "no, it's 24, not 22", "actually it's number 24 not 22"
    r"^\W*(?:(?:no|sorry|actually|oh|oops|wait|it's|it is|its|that's|that is|should be)\W+)*"
    r"(?:number\s+)?(\d+[a-z]?)\s*,?\s+not\s+\d+|"
    # "the house number was wrong, it's 24"
    r"\b(?:house|door)\s+number\b.*?\b(?:it's|it is|its|should be|is actually)\s+"
    r"(?:number\s+)?(\d+[a-z]?)\b",
    re.IGNORECASE,
)
_NOT_ADDRESS = re.compile(
    r"\b(?:(?:my|the|our)\s+)?(?:post ?code|phone number|mobile|number|name)(?:\s+is|'s)?\b|"
    r"\b(?:it's|it is|that's|that is|my address is|the address is|address is|i live at|we're at|"
    r"i'm at|yes|yeah|no|please|thanks|thank you|sorry|okay|ok)\b",
    re.IGNORECASE,
)
_FILLER = frozenset({
    "and", "the", "a", "at", "is", "it's", "its", "my", "our", "of", "in", "on",
    "to", "um", "er", "erm", "uh", "ah", "hmm", "mm", "well", "so", "like", "let",
    "me", "think", "what", "pardon", "sorry",
})  # fmt: skip


# "Flat" (or "apartment", "unit") just before the number found: the number is the flat's.
_UNIT_BEFORE = re.compile(r"\b(flat|apartment|unit)\W*$", re.IGNORECASE)


# The next line of an address after a comma ("Riverside Court, 5 Mill Lane"): kept,
# when it starts with a number or a name ("..., by the way" is no line of it).
_NEXT_LINE = re.compile(
    rf",\s*(?:\d+[a-zA-Z]?,?\s+|(?=[A-Z]))(?:[A-Za-z][\w'\-]*\s+){{0,3}}(?i:{STREET_WORDS})\b"
)


def find_address(text: str) -> str | None:
    """A street address anywhere in the text ("22 Baker Street", "flat 3, 9 Rose Court"),
    with the lines after it ("Apartment 12, Riverside Court, 5 Mill Lane")."""
    m = _ADDRESS.search(text)
    if m is None:
        return None
    end = m.end()
    for _ in range(2):
        if (line := _NEXT_LINE.match(text, end)) is None:
            break
        end = line.end()
    # "7th Station Road": a recogniser's ordinal for a house number ("7 Station Road");
    # "30 on Green Lane", "30, Green Lane": the words between said, not the street's
    found = _ORDINAL.sub(r"\1", text[m.start() : end])
    if (unit := _UNIT_BEFORE.search(text, 0, m.start())) is not None:
        found = f"{unit.group(1).capitalize()} {found}"  # "Flat 12, Riverside Court"
    else:
        found = _BETWEEN.sub(r"\1 ", found, count=1)
    return " ".join(found.strip(" ,.").split())


def address_answer(text: str, remove: tuple[str, ...] = ()) -> str | None:
    """What is left of an answer to "what's the address?" once the other details
    (``remove``: a postcode, a phone number, a name said with it) and the filler
    are taken out; ``None`` when nothing address-like remains."""
    if (found := find_address(text)) is not None:
        return found
    s = text
    for part in remove:
        if part:
            s = re.sub(r"\s*".join(map(re.escape, part.split())), " ", s, flags=re.IGNORECASE)
    s = _NOT_ADDRESS.sub(" ", s)
    s = re.sub(r"\+?\d[\d\s]{6,}\d", " ", s)  # a phone number read out
    words = [w for w in re.findall(r"[\w'\-]+", s) if w.lower() not in _FILLER]
    if not words or not any(re.search(r"[A-Za-z]{2}", w) for w in words):
        return None
    # A street word as a recogniser may write it, ending an answer that starts with
    # a house number ("Four rounds straight"): the street word (read back in doubt).
    numbered = re.match(rf"\W*(?:\d+|{'|'.join(NUMBER_WORDS)})\b", s, re.IGNORECASE)
    if numbered is not None:
        sounds = rf"\b({'|'.join(_STREET_SOUNDS)})(?=\W*$)"
        s = re.sub(sounds, lambda m: _STREET_SOUNDS[m.group(1).lower()], s, flags=re.I)
    # An address has a house number or a street word ("tomorrow morning please" is
    # an answer to another question, not an address).
    if not re.search(rf"\d|\b(?:{STREET_WORDS})\b", s, re.IGNORECASE):
        return None
    named = [w for w in words if re.search(r"[A-Za-z]{2}", w)]
    if len(named) == 1 and re.fullmatch(STREET_WORDS, named[0], re.IGNORECASE):
        return None  # "Street." alone: no street's name to go to ("Hill Road" is one)
    cleaned = " ".join(s.split()).strip(" ,.")
    # "to Hill Road", "For Elm Street", "A Park Road": a recogniser's word for the house
    # number that sounds the same (two, four, eight, one); read back in doubt as any
    # address, so a caller who did say "For" only hears it checked.
    cleaned = _NUMBER_HOMOPHONE.sub(lambda m: _HOMOPHONES[m.group(1).lower()] + " ", cleaned)
    if (last := _NUMBER_LAST.fullmatch(cleaned)) is not None:
        cleaned = f"{last.group(2)} {last.group(1)}"  # "Green Lane, 30": 30 Green Lane
    return cleaned if len(cleaned) >= 3 else None


_NUMBER_LAST = re.compile(rf"(\D+?\b(?:{STREET_WORDS}))\W+(\d+[a-z]?)", re.IGNORECASE)


_HOMOPHONES = {"to": "2", "too": "2", "for": "4", "fore": "4", "a": "8", "ate": "8", "won": "1"}


def number_sounds(address: str) -> frozenset[str]:
    """The words a recogniser may have written for the house number of ``address``
    ("to", "too" for the 2 of "2 Hill Road"): a doubted "to" is a doubted 2."""
    first = address.split()[0] if address.split() else ""
    return frozenset(w for w, n in _HOMOPHONES.items() if n == first)


_NUMBER_HOMOPHONE = re.compile(rf"^({'|'.join(_HOMOPHONES)})\s+(?=[A-Za-z]+\s+\w)", re.IGNORECASE)


def is_correction(text: str) -> bool:
    """The caller is correcting something ("no, ...", "sorry, it's ...", "not X, Y")."""
    return _CUE.search(text) is not None


def already_told(text: str) -> bool:
    """ "I already told you", "I just said that": read back what was understood."""
    return _TOLD.search(text) is not None


def drop_negated(text: str) -> str:
    """The text without what the caller took back: "not Friday, Thursday" -> "Thursday"."""
    return _NEGATED_TAIL.sub("", _NEGATED.sub(" ", text)).strip()


def house_number(text: str) -> str | None:
    """A corrected house number: "the house number is 41", "it's number 41", "41, not 14"."""
    m = _HOUSE_NUMBER.search(text)
    if m is None:
        return None
    return next(g for g in m.groups() if g).upper()


_SPELL_HINT = re.compile(
    r"\bwith\s+(one|a single|two|double|a double)\s+([a-z])s?\b", re.IGNORECASE
)


def respell(name: str, text: str) -> str:
    """Apply a spelling hint said with a name: "Patel with one T", "Phillips with two Ls"."""
    m = _SPELL_HINT.search(text)
    if m is None:
        return name
    count, letter = m.group(1).lower(), m.group(2)
    if count in ("one", "a single"):
        return re.sub(rf"({letter})\1+", r"\1", name, flags=re.IGNORECASE)
    if re.search(rf"{letter}{letter}", name, re.IGNORECASE):
        return name
    return re.sub(rf"({letter})", r"\1\1", name, count=1, flags=re.IGNORECASE)


# Street words as a recogniser may write them ("70 queens rode", "12 regions straight").
_STREET_SOUNDS = {"rode": "Road", "rowed": "Road", "straight": "Street", "strait": "Street",
                  "lain": "Lane", "laine": "Lane", "weigh": "Way"}  # fmt: skip
NUMBER_WORDS = [
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_STREET_ADDRESS = re.compile(
    rf"(?P<pre>(?:(?:flat|apartment|unit)\s+\d+[a-z]?,?\s+)?)"
    rf"(?:(?P<num>\d+(?:[a-h]\b)?|(?:{'|'.join(NUMBER_WORDS)})\b)[a-z]*)?,?[\s-]*"
    rf"(?P<name>.*?)[\s-]*\b(?P<street>{STREET_WORDS}|{'|'.join(_STREET_SOUNDS)})",
    re.IGNORECASE,
)


def with_street_name(address: str, name: str) -> str | None:
    """``address`` with its street's name replaced ("15 part lane", "Park" -> "15 Park
    Lane"), also where the recogniser ran the number into the name ("3mm of lane"),
    lost the name ("9th Street") or heard no house number ("high street"); ``None``
    when no street word ends it (nothing to put the name before)."""
    m = _STREET_ADDRESS.fullmatch(address.strip(" ."))
    if m is None:
        return None
    street = m.group("street")
    street = _STREET_SOUNDS.get(street.lower(), street.capitalize())
    num = m.group("num") or ""
    if num.lower() in NUMBER_WORDS:  # "Two hill road": the house number in words
        num = str(NUMBER_WORDS.index(num.lower()) + 1)
    number = f"{m.group('pre')}{num} " if num else m.group("pre")
    return f"{number}{name} {street}"


_THIS_NUMBER = re.compile(
    r"\b(?:the|this|same|my) (?:number|one|phone|mobile) (?:i'?m|i am|that i'?m) "
    r"(?:calling|ringing|phoning) (?:from|on|with)\b|\b(?:this|the same) (?:number|one|phone)\b"
    r"|\bthe number (?:you can see|you've got|you have|on your screen)\b",
    re.IGNORECASE,
)


def this_number(text: str, caller_id: str | None) -> str:
    """An answer to "what's the best number?" that points at the line itself ("the one
    I'm calling from", "this number"): the caller's number as digits when the call
    brought it, else the answer without those words (its "one" is no digit)."""
    if _THIS_NUMBER.search(text) is None:
        return text
    if caller_id:
        return "0" + caller_id[3:] if caller_id.startswith("+44") else caller_id
    return _THIS_NUMBER.sub(" ", text)


_WRONG = re.compile(
    r"\b(?:wrong|not right|isn't right|is not right|incorrect|a mistake|not correct)\b", re.I
)
_DETAIL_WORDS = (
    ("phone", r"phone|number|mobile"),
    ("postcode", r"post ?code"),
    ("address", r"address|street|road|house number|house"),
    ("name", r"name|surname|spelling"),
)


def wrong_detail(text: str) -> str | None:
    """The detail a caller says is wrong without the right value ("the phone number is
    wrong", "you've got my name wrong"), or ``None``."""
    if _WRONG.search(text) is None:
        return None
    return next(
        (f for f, words in _DETAIL_WORDS if re.search(rf"\b(?:{words})\b", text, re.I)), None
    )
