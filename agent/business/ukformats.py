"""UK formats: postcodes and phone numbers, as written and as spoken (pure).

The company profile validates its service area and transfer numbers with these,
and the dialogue's slot extraction finds them in what a caller said.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from typing import Any

import attrs

# --- postcodes --------------------------------------------------------------

# Outward code: area (1-2 letters), district (1-2 digits), optional letter;
# inward code: sector digit and two unit letters.
_POSTCODE = re.compile(r"^([A-Z]{1,2})(\d{1,2})([A-Z]?)(\d)([A-Z]{2})$")
_POSTCODE_IN_TEXT = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?)\s*(\d[A-Z]{2})\b")
_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}


@attrs.frozen
class Postcode:
    """A UK postcode split the way the Royal Mail defines it."""

    area: str  # "SW"
    district: int  # 1
    sub_district: str  # "A" (or "")
    sector: int  # 1
    unit: str  # "AA"

    @property
    def outward(self) -> str:
        return f"{self.area}{self.district}{self.sub_district}"

    @property
    def inward(self) -> str:
        return f"{self.sector}{self.unit}"

    def __str__(self) -> str:
        return f"{self.outward} {self.inward}"


# The Royal Mail's postcode areas: a postcode must start with one
# ("A1A 1AA", misheard for "SW1A 1AA", is none).
_AREAS = (
    "AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN "
    "DT DY E EC EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY "
    "L LA LD LE LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM "
    "S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN "
    "WR WS WV YO ZE"
)
POSTCODE_AREAS = frozenset(_AREAS.split())


def parse_postcode(text: str) -> Postcode | None:
    """Parse a whole postcode written with any spacing/case; ``None`` if it is not one."""
    compact = re.sub(r"[\s\-]", "", text).upper()
    m = _POSTCODE.match(compact)
    if m is None:
        return None
    area, district, sub, sector, unit = m.groups()
    if area not in POSTCODE_AREAS:
        return None
    if sub and len(district) == 2:  # "SW10A" does not exist: a sub-district letter needs 1 digit
        return None
    if any(c in "CIKMOV" for c in unit):  # never in an inward code ("5DO" is a mishearing)
        return None
    return Postcode(area, int(district), sub, int(sector), unit)


# "S for Sierra", "E as in echo": the letter, without the word that spells it.
# Whisper often writes the "for" as "4" ("a 4 apple").
_SPELLED_LETTER = re.compile(r"\b([A-Za-z])\s*(?:for|4|as in|like)\s+[A-Za-z]{3,}\b", re.I)
_PIECE_WORDS = {**_DIGIT_WORDS, "for": "4", "to": "2", "too": "2", "ate": "8", "ten": "10"}
_PIECE_WORDS |= {w: str(11 + i) for i, w in enumerate(["eleven", "twelve", "thirteen", "fourteen"])}
_PIECE_WORDS |= {w: str(15 + i) for i, w in enumerate(["fifteen", "sixteen", "seventeen"])}
_PIECE_WORDS |= {"eighteen": "18", "nineteen": "19", "twenty": "20"}
# Areas a recogniser writes out ("South East 11 5PH"), and two-letter words that are
# never a postcode's letters (so "is", "at" do not join the pieces around them).
_AREA_WORDS = re.compile(
    r"\b(south|north|east|west)[\s-]*(east|west|central)(?:ern)?\b", re.IGNORECASE
)
_NOT_PIECES = frozenset(
    re.findall(r"\w+", "is it at my me on in of to so no we he be do go up an as or by if us am oh")
)


def _postcode_pieces(text: str) -> list[str]:
    """The utterance as tokens a postcode can be made of ("" where one cannot go)."""
    text = _SPELLED_LETTER.sub(r"\1", text)
    text = _AREA_WORDS.sub(lambda m: m.group(1)[0].upper() + m.group(2)[0].upper(), text)
    pieces: list[str] = []
    double = False
    for raw in re.findall(r"[A-Za-z0-9]+", text):
        low = raw.lower()
        if low in ("double", "triple"):
            double = True
            continue
        token = _PIECE_WORDS.get(low, raw)
        if double and len(token) == 1:
            token *= 2
        double = False
        short = len(token) <= 2 and (token.isalnum() and low not in _NOT_PIECES)
        fits = len(token) == 1 or short or (len(token) <= 7 and any(c.isdigit() for c in token))
        pieces.append(token.upper() if fits else "")
    return pieces


def _unit_letters(candidate: str) -> str:
    return candidate[:-2] + candidate[-2:].replace("8", "A")


def find_postcode(text: str) -> Postcode | None:
    """Find a postcode anywhere in an utterance, typed ("SW1A 1AA"), with odd spacing
    or hyphens as a recogniser writes it ("SE-11 5PH", "SE1 7 LG") or spelled out
    ("S E one, seven L G", "S for Sierra", "four"/"for")."""
    m = _POSTCODE_IN_TEXT.search(text.upper())
    if m is not None and (pc := parse_postcode(m.group(1) + m.group(2))) is not None:
        return pc
    if (pc := spelled_postcode(text)) is not None:
        return pc
    pieces = _postcode_pieces(text)
    # The longest run of consecutive pieces that is one whole postcode, leftmost first.
    for start in range(len(pieces)):
        joined = ""
        candidates = []
        for piece in pieces[start:]:
            if not piece:
                break
            joined += piece
            if len(joined) > 7:
                break
            candidates.append(joined)
        for candidate in reversed(candidates):
            if (pc := parse_postcode(candidate)) is not None:
                return pc
            # "eight" for "A" at the end ("SW1A 1A8"): a unit is two letters, never a digit
            if candidate[-2:].count("8") and (pc := parse_postcode(_unit_letters(candidate))):
                return pc
    return None


# --- postcodes spelled with words ("S for sugar") ----------------------------------

# What a recogniser writes for the "for" of "S for sugar": "for", "4", "four", "like",
# or "before" when "B for"/"E for" ran together ("Before Edward").
_MARKERS = frozenset({"for", "4", "four", "like", "before"})
_SPELL_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d")
_LOOKALIKE_DIGITS = str.maketrans("IOL", "101")
# Digit words a letter's name can be heard as ("oh for Oliver" is O, "eight for apple" A).
_LETTER_LIKE = {
    "oh": "O",
    "o": "O",
    "eight": "A",
    "ate": "A",
    "two": "T",
    "to": "T",
    "too": "T",
}  # "I, NINE" for "1, 9"; "O" for "0"


def _spelling_word(token: str) -> bool:
    """A word that spells a letter ("sugar", "Zbry"), not a digit or a marker."""
    low = token.lower()
    return (
        token.isalpha()
        and len(token) >= 2
        and low not in _PIECE_WORDS
        and low not in _MARKERS
        and low not in ("double", "triple")
    )


# Letters that sound alike: "B for Edward" is E (the word tells them apart), while
# "U for Enkill" is U (a word heard wrong: U and E never sound alike).
_ALIKE = ("BCDEGPTVZ", "MN", "FSX", "AJK", "IY", "QU")


def letters_confusable(letter: str, other: str) -> bool:
    """Whether two different letters sound alike when said alone (B and E, M and N)."""
    return letter != other and any(letter in g and other in g for g in _ALIKE)


def spelled_characters(text: str) -> tuple[str, int]:
    """The letters and digits of a postcode spelled with words, and how many letters
    were spelled. The letter is the first one of the word that spells it: a recogniser
    hears "sugar" far better than "S" ("a 4-apple", "blu4William"); but a letter heard
    alone before the "for" that does not sound like the word's is kept ("S4 shooter",
    "U4 Enkill": the word was misheard, not the letter)."""
    tokens = _SPELL_TOKEN.findall(text.replace(" as in ", " for "))
    chars, spelled, i, times = "", 0, 0, 1
    while i < len(tokens):
        token, low = tokens[i], tokens[i].lower()
        after, third, fourth = (tokens[i + k] if i + k < len(tokens) else "" for k in (1, 2, 3))
        char, step = "", 1
        if low in ("double", "triple"):
            times, i = (2 if low == "double" else 3), i + 1
            continue
        prefix = token.isalpha() and low not in _MARKERS and after.lower() in _MARKERS
        if prefix and _spelling_word(third):  # "S for sugar": the word's letter, not the "S"
            char, step = third[0].upper(), 3
            if (
                len(token) == 1
                and char != token.upper()
                and not letters_confusable(token.upper(), char)
            ):
                char = token.upper()
            if _PIECE_WORDS.get(low, "x").isdigit() and _LETTER_LIKE.get(low) != char:
                char = _PIECE_WORDS[low] + char  # "one for apple": 1, A (no letter is "one")
        next_spelled = third.lower() in _MARKERS and _spelling_word(fourth)
        if not char and low in _MARKERS and _spelling_word(after) and not next_spelled:
            char, step = after[0].upper(), 2  # "Before Edward", "4Zbry"
        if char:
            spelled += 1
        elif token.isdigit() or (low in _PIECE_WORDS and len(_PIECE_WORDS[low]) == 1):
            char = _PIECE_WORDS.get(low, token)
        elif len(token) == 1:
            char = token.upper()
        # any other word ("the", "my", "postcode") is not part of it
        chars += char * times
        times = 1 if char else times
        i += step
    return chars, spelled


def spelled_postcode(text: str) -> Postcode | None:
    """A postcode spelled letter by letter with words ("S for sugar, W for William, 1,
    A for apple, ..."), as a recogniser writes it; ``None`` unless at least two letters
    were spelled that way and the letters and digits make one whole postcode."""
    joined, spelled = spelled_characters(text)
    if spelled < 2:
        return None
    for size in (7, 6, 5):  # the longest run that is a postcode, leftmost first
        for start in range(len(joined) - size + 1):
            run = joined[start : start + size]
            if (pc := parse_postcode(run)) is not None:
                return pc
            # a digit heard as its look-alike letter ("I" for "1") where a digit goes
            fixed = run[0] + run[1:-2].translate(_LOOKALIKE_DIGITS) + run[-2:]
            fixed = fixed[:-3] + fixed[-3].translate(_LOOKALIKE_DIGITS) + fixed[-2:]
            if fixed != run and (pc := parse_postcode(fixed)) is not None:
                return pc
    return None


def postcode_characters(text: str) -> str:
    """The letters and digits of a line from its last "postcode is"/"it's" on, spoken
    pieces as characters ("southeast one" -> "SE1"), run together: the raw material of
    a guess at a postcode the line does not hold whole."""
    tail = re.split(r"(?i)\bpost ?code(?:'s| is)?\b|\bit's\b|\bit is\b", text)[-1]
    tail = _AREA_WORDS.sub(lambda m: m.group(1)[0] + m.group(2)[0], tail)
    words = re.findall(r"[A-Za-z0-9]+", tail)
    return "".join(_PIECE_WORDS.get(w.lower(), w) for w in words).upper()


def postcode_guess(
    text: str, prefixes: Iterable[str] = (), exists: Callable[[Postcode], bool] = bool
) -> Postcode | None:
    """The likeliest postcode in a line that holds none whole, to read back to the
    caller ("Was that SW1A 1AA?"), never to take unasked: a recogniser runs a spoken
    postcode together and adds or repeats a piece ("SW1A1A1A1" for "S W 1 A, 1 A A").
    The fewest characters left out of the line after its last "postcode is"/"it's";
    one in ``prefixes`` (the company's area) before any other; only one ``exists``
    allows (``postcode_districts.known_district``: no "S0E 9SG")."""
    compact = postcode_characters(text)[:11]
    best: tuple[bool, int, Postcode] | None = None
    for size in (7, 6, 5):
        for kept in itertools.combinations(range(len(compact)), size):
            pc = parse_postcode("".join(compact[k] for k in kept))
            if pc is None or not exists(pc):
                continue
            rank = (not postcode_in_area(str(pc), prefixes), len(compact) - size)
            if best is None or rank < best[:2]:
                best = (*rank, pc)
    return best[2] if best is not None else None


# --- postcode prefixes (a company's service area) -------------------------------

# "SE", "SW1", "SW1A", "SW1A 1": area, district, sub-district letter, sector.
_PREFIX = re.compile(r"^([A-Z]{1,2})(?:(\d{1,2})([A-Z]?))?(?:\s*(\d))?$")


def _parse_prefix(text: str) -> tuple[str, int | None, str | None, int | None] | None:
    m = _PREFIX.match(text.strip().upper())
    if m is None:
        return None
    area, district, sub, sector = m.groups()
    if sector is not None and district is None:
        return None
    return (
        area,
        int(district) if district else None,
        sub if district else None,
        int(sector) if sector else None,
    )


def _full_postcode_parts(text: str) -> tuple[str, int, str, int] | None:
    pc = parse_postcode(text)
    return None if pc is None else (pc.area, pc.district, pc.sub_district, pc.sector)


def _prefix_matches(prefix: tuple[Any, ...] | None, parts: tuple[Any, ...]) -> bool:
    if prefix is None:
        return False
    area, district, sub, sector = prefix
    if area != parts[0] or (district is not None and district != parts[1]):
        return False
    if sub and sub != parts[2]:
        return False
    return sector is None or sector == parts[3]


def is_postcode_prefix(text: str) -> bool:
    """Whether ``text`` is a postcode prefix: an area, district or sector ("SW1A 1")."""
    return _parse_prefix(text) is not None


def postcode_in_area(postcode: str, prefixes: Iterable[str]) -> bool:
    """Whether a postcode (or bare outward code) falls under one of ``prefixes``.

    A prefix matches whole postcode parts, never half a number: "SE" is the
    whole SE area (SE1..SE28), "SW1" is district 1 and its sub-districts
    (SW1A..SW1Y) but not SW10..SW19, "SW1A" only SW1A, "SW1A 1" one sector.
    An area prefix "S" is Sheffield only, not SE or SW.
    """
    parts = _parse_prefix(postcode.strip().upper()) or _full_postcode_parts(postcode)
    if parts is None:
        return False
    return any(_prefix_matches(_parse_prefix(p), parts) for p in prefixes)


# --- phone numbers ----------------------------------------------------------

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def to_e164(number: str, *, country_code: str = "44") -> str | None:
    """Normalise a phone number to E.164 (``+447700900123``); ``None`` if it is not one.

    National numbers (leading 0) get ``country_code``; ``00`` is the
    international prefix; punctuation and spaces are ignored.
    """
    s = re.sub(r"[\s\-().]", "", number)
    if s.startswith("00"):
        s = "+" + s[2:]
    elif s.startswith("0"):
        s = "+" + country_code + s[1:]
    elif s.isdigit() and s.startswith(country_code) and len(s) > 10:
        s = "+" + s
    elif country_code == "44" and re.fullmatch(r"7\d{9}", s):
        s = "+44" + s  # a mobile said without its leading "oh": "seven seven double oh..."
    if country_code == "44" and s.startswith("+440"):  # "+44 (0)20..." written out
        s = "+44" + s[4:]
    if not _E164.match(s):
        return None
    # UK numbers: 10 digits after +44 (11 with the 0); geographic (01, 02), non-geographic
    # (03) and mobile (07) numbers always have all 11, so a number heard a digit or two
    # short is refused rather than booked. A few freephone ones (0800 111 999) have 9.
    if s.startswith("+44"):
        national = s[3:]
        if national[:1] in "1237" and len(national) != 10:
            return None
        if len(national) not in (9, 10):
            return None
    return s


def spoken_digits(text: str) -> str:
    """Turn "oh seven seven double oh nine" into "07700 9" style digit text."""
    out: list[str] = []
    repeat = 1
    for token in re.findall(r"[A-Za-z]+|\d+|\+", text):
        low = token.lower()
        if low in ("double", "triple"):
            repeat = 2 if low == "double" else 3
            continue
        if low in _DIGIT_WORDS:
            out.append(_DIGIT_WORDS[low] * repeat)
        elif token.isdigit():
            out.append(token[0] * repeat + token[1:])
        elif token == "+" or low == "plus":
            out.append(" +")
        else:
            out.append(" ")
        repeat = 1
    return "".join(out)


def find_phone(text: str, *, country_code: str = "44") -> str | None:
    """Find a phone number in an utterance (digits or spoken words); E.164 or ``None``."""
    for candidate in (text, spoken_digits(text)):
        for m in re.finditer(r"\+?\d[\d\s\-().]{5,20}\d", candidate):
            digits = re.sub(r"\D", "", m.group(0))
            # "0 0 7 7 0 0 ...": a recogniser doubles the leading zero of a national
            # number far more often than a caller gives an international one that short.
            if re.fullmatch(r"00[1237]\d{9}", digits) and not m.group(0).startswith("+"):
                return to_e164(digits[1:], country_code=country_code)
            if (e164 := to_e164(m.group(0), country_code=country_code)) is not None:
                return e164
    return None
