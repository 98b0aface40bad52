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
    "STREET_WORDS",
    "address_answer",
    "already_told",
    "drop_negated",
    "find_address",
    "house_number",
    "is_correction",
    "looks_spelled",
    "respell",
    "spelled_letters",
    "spelled_word",
    "with_street_name",
]

STREET_WORDS = (
    "street|st|road|rd|avenue|ave|lane|close|drive|way|court|gardens|place|crescent|"
    "terrace|grove|hill|square|mews|row|walk|park|parade|rise|view|green|embankment|"
    "bridge|wharf|yard|gate|mansions|house|buildings|estate|cottage|farm|lodge|manor|barn"
)
_ADDRESS = re.compile(
    rf"(?:\b(?:flat|apartment|unit)\s+\d+[a-z]?,?\s+)?\b\d+(?:st|nd|rd|th)?[a-z]?,?\s+"
    rf"(?:[A-Za-z][\w'\-]*\s+){{0,3}}"
    rf"(?:{STREET_WORDS})\b",
    re.IGNORECASE,
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
    r"\b(?:house|flat|door|building)\s+number(?:\s+is|'s)?\s+(\d+[a-z]?)\b|"
    r"\b(?:it's|it is|its)\s+number\s+(\d+[a-z]?)\b|^\s*(?:no,?\s+)?(?:number\s+)?(\d+[a-z]?)"
    r"\s*,?\s+not\s+\d+",
    re.IGNORECASE,
)
_NOT_ADDRESS = re.compile(
    r"\b(?:(?:my|the|our)\s+)?(?:post ?code|phone number|mobile|number|name)(?:\s+is|'s)?\b|"
    r"\b(?:it's|it is|that's|that is|my address is|the address is|address is|i live at|we're at|"
    r"i'm at|yes|yeah|no|please|thanks|thank you|sorry|okay|ok)\b",
    re.IGNORECASE,
)
_FILLER = frozenset(
    [
        "and",
        "the",
        "a",
        "at",
        "is",
        "it's",
        "its",
        "my",
        "our",
        "of",
        "in",
        "on",
        "to",
        "um",
        "er",
        "erm",
        "uh",
        "ah",
        "hmm",
        "mm",
        "well",
        "so",
        "like",
        "let",
        "me",
        "think",
        "it's",
        "what",
        "pardon",
        "sorry",
    ]
)


def find_address(text: str) -> str | None:
    """A street address anywhere in the text ("22 Baker Street", "flat 3, 9 Rose Court")."""
    m = _ADDRESS.search(text)
    if m is None:
        return None
    # "7th Station Road": a recogniser's ordinal for a house number ("7 Station Road")
    found = _ORDINAL.sub(r"\1", m.group(0))
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
    # An address has a house number or a street word ("tomorrow morning please" is
    # an answer to another question, not an address).
    if not re.search(rf"\d|\b(?:{STREET_WORDS})\b", s, re.IGNORECASE):
        return None
    cleaned = " ".join(s.split()).strip(" ,.")
    return cleaned if len(cleaned) >= 3 else None


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


# What a recogniser writes for the "for" of "P for Peter": "for", "4", "as in", "like".
_SPELL_MARKERS = frozenset({"for", "four", "like"})


def spelled_letters(text: str) -> str | None:
    """The letters spelled in ``text`` ("P for Peter, A, R" -> "PAR"), maybe none;
    ``None`` for a recogniser's decoding loop ("M4M4O4O4R4R4R4..."). In "X for Word"
    the letter heard alone is taken ("R4 Albert" is R), else the word's first ("for
    Peter" is P)."""
    text = re.sub(r"(?<=[A-Za-z])4|\b4\b", " for ", text.replace(" as in ", " for "))
    tokens = re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?", text)
    said = " ".join(t.lower() for t in tokens if t.lower() not in _SPELL_MARKERS)
    if re.search(r"\b(\w+) \1 \1\b", said):
        return None
    letters: list[str] = []
    held = False  # the token before was taken as a letter
    i = 0
    while i < len(tokens):
        token, low = tokens[i], tokens[i].lower()
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        if low in _SPELL_MARKERS and after and after.lower() not in _SPELL_MARKERS:
            if not held and len(after) >= 2:
                letters.append(after[0].upper())  # the letter itself was not heard
            held, i = False, i + 2  # the word only says the letter again
            continue
        before = tokens[i - 1] if i > 0 else ""
        # "a" and "I" are words too: letters only among letters ("P, A, R, K", "A for")
        among = len(before) == 1 or len(after) == 1 or after.lower() in _SPELL_MARKERS
        held = len(token) == 1 and (low not in ("a", "i") or among)
        if held:
            letters.append(token.upper())
        i += 1
    return "".join(letters)


_SPELLING = re.compile(
    r"\b[A-Za-z]\s*(?:for|4|as in)\s*[A-Za-z]{2,}|^\W*(?:[A-Za-z]\b\W*)+$", re.IGNORECASE
)


def looks_spelled(text: str) -> bool:
    """Letters spelled ("V for Victor, I", "P A R"), not a street or a name said again."""
    return _SPELLING.search(text) is not None


def spelled_word(text: str) -> str | None:
    """A word spelled letter by letter ("P for Peter, A for apple, R, K", "P A R K"),
    capitalised; ``None`` unless three to twenty letters were spelled, none three times
    in a row (a recogniser's decoding loop)."""
    word = spelled_letters(text)
    if word is None or not 3 <= len(word) <= 20 or re.search(r"(.)\1\1", word):
        return None
    return word.capitalize()


def with_street_name(address: str, name: str) -> str | None:
    """``address`` with its street's name replaced ("15 part lane", "Park" -> "15 Park
    Lane"); ``None`` when it has no house number and street word around the name."""
    m = re.fullmatch(
        rf"(.*\d+[a-z]?,?)[\s-]+(.+?)[\s-]+({STREET_WORDS})", address.strip(" ."), re.I
    )
    if m is None:
        return None
    return f"{m.group(1)} {name} {m.group(3).capitalize()}"
