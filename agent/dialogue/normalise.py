"""Spoken numbers and postcodes written the way the policy reads them.

A recogniser writes what it heard: "oh seven seven double oh, nine hundred..."
comes out as words, a postcode as "S W one A, one A A", "SE-11 5PH", "SE1 7 LG"
or "S for sugar E ...". ``normalise`` rewrites such runs into digits and
canonical postcodes ("07700900123", "SE1 7LG") before the policy (offline or
LLM) sees the line, and leaves every other word as it was. Pure and cheap.

Only runs that are clearly numbers are rewritten: three or more digit words in
a row ("one" alone stays "one"), and a postcode only when its letters are a
real UK postcode area, so "at 2 PM" or "I need one" are never touched.
"""

from __future__ import annotations

import re

from agent.business.ukformats import POSTCODE_AREAS, parse_postcode
from agent.dialogue.details import NUMBER_WORDS, STREET_WORDS
from agent.dialogue.spelling import LETTER_WORDS

__all__ = [
    "POSTCODE_AREAS",
    "house_number_words",
    "lone_house_number",
    "normalise",
    "spoken_number_runs",
]

_DIGITS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "for": "4",  # only inside a run of other digits ("oh two for...")
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_REPEAT = {"double": 2, "triple": 3}
_HUNDREDS = {"hundred": "00", "thousand": "000"}
_TOKEN = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|\d+|[^\sA-Za-z\d]+|\s+")
_SPELLING = re.compile(r"^(?:for|as in|like)$", re.I)
_MIN_RUN = 3  # digit words in a row before they are taken as a number


def normalise(text: str) -> str:
    """``text`` with spoken digit runs as digits, a house number said in words as
    digits, and postcodes in canonical form."""
    return _postcodes(house_number_words(spoken_number_runs(spelled_e(text))))


# "E for Edward" as a recogniser may write it from some voices: "If we're at work",
# "If we're at where", "If for Edward". Only in a line that spells something else too
# ("..., L for London"), so that "call me if we're at work" is left alone.
_E_FOR_EDWARD = re.compile(
    r"\b(?:if|e)\s+(?:we're|were|for|four|4)\s+(?:at\s+)?(?:work|where|word|ward|edward)\b",
    re.IGNORECASE,
)
_OTHER_SPELLING = re.compile(
    rf"\b[A-Za-z]\s*(?:for|4)\s*[A-Za-z]{{2,}}|\b(?:for|4)\s+(?:{'|'.join(LETTER_WORDS)})\b",
    re.IGNORECASE,
)


def spelled_e(text: str) -> str:
    """``text`` with a misheard "E for Edward" written so, in a line that spells."""
    m = _E_FOR_EDWARD.search(text)
    if m is None or _OTHER_SPELLING.search(text[: m.start()] + text[m.end() :]) is None:
        return text
    return _E_FOR_EDWARD.sub("E for Edward", text)


_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER_PHRASE = (
    rf"(?:(?P<tens>{'|'.join(_TENS)})(?:[\s-]+(?P<unit>{'|'.join(NUMBER_WORDS[:9])}))?"
    rf"|(?P<small>{'|'.join(NUMBER_WORDS[:19])}))"
)
_HOUSE_WORDS = re.compile(
    # not "the one on Park Road", nor the "seven" of "32 seven sisters road"
    rf"(?<!\bthe )(?<!\bthat )(?<![\d,] )\b{_NUMBER_PHRASE}"
    # ... then a street's name and a street word, not "one in Baker Street"
    rf"(?=,?\s+(?!(?:on|in|at|off|near|by|of|for|and|or|the|from)\b)"
    rf"(?:[A-Za-z][\w'\-]*\s+){{0,3}}(?:{STREET_WORDS})\b)",
    re.IGNORECASE,
)
# An answer to "what's the house number?": "30", "Number 30.", "It's thirty."
_LONE_NUMBER = re.compile(
    r"^\W*(?:(?:it's|it is|its|that's|that is|er|erm|um|oh|yes|yeah|so)\W+)*"
    rf"(?:(?:the\s+)?(?:house\s+)?number\W+(?:is\W+)?)?(?:(?P<digits>\d{{1,4}}[a-z]?)|{_NUMBER_PHRASE})"
    r"\W*(?:please|thanks|thank you)?\W*$",
    re.IGNORECASE,
)


# "Green Lane, number thirty": the house number in words after the street
_NUMBER_AFTER = re.compile(
    rf"\b((?:{STREET_WORDS}),?\s+number\s+){_NUMBER_PHRASE}\b", re.IGNORECASE
)


def house_number_words(text: str) -> str:
    """A house number said in words before a street written as digits ("forty one
    mill lane" -> "41 mill lane", "five river street" -> "5 river street"): the
    office reads digits, and an address read back as "five" is checked as one."""

    text = _NUMBER_AFTER.sub(lambda m: m.group(1) + _number(m), text)
    return _HOUSE_WORDS.sub(_number, text)


def lone_house_number(text: str) -> str | None:
    """The house number alone, the answer to "what's the house number?" ("30", "Number
    30.", "It's thirty."), as digits; ``None`` for any other answer."""
    m = _LONE_NUMBER.match(text)
    if m is None:
        return None
    return m.group("digits").upper() if m.group("digits") else _number(m)


def _number(m: re.Match[str]) -> str:
    """The digits of a number said in words (``_NUMBER_PHRASE``'s groups)."""
    if m.group("small"):
        return str(NUMBER_WORDS.index(m.group("small").lower()) + 1)
    unit = m.group("unit")
    tens = (_TENS.index(m.group("tens").lower()) + 2) * 10
    return str(tens + (NUMBER_WORDS.index(unit.lower()) + 1 if unit else 0))


def spoken_number_runs(text: str) -> str:
    """Rewrite runs of digit words ("oh seven seven double oh") as digits ("07700").

    Commas and spaces inside a run are pauses between digit groups: the run is
    written as one number. Digits already written ("0770 ...") join a run."""
    tokens = _TOKEN.findall(text)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        digits, end = _digit_run(tokens, i)
        if digits is not None:
            out.append(digits)
            # keep the spacing that followed the run's last token
            i = end
            continue
        out.append(tokens[i])
        i += 1
    return "".join(out)


def _digit_run(tokens: list[str], start: int) -> tuple[str | None, int]:
    """The digits of the run starting at ``tokens[start]`` and where it ends, or
    ``(None, start)`` when there is no run of at least ``_MIN_RUN`` digit words."""
    digits: list[str] = []
    words = 0
    i, end = start, start
    repeat = 1
    while i < len(tokens):
        token = tokens[i]
        low = token.lower()
        after = tokens[i + 2].lower() if i + 2 < len(tokens) else ""
        if low in _REPEAT and (after in _DIGITS or after.isdigit()):
            repeat = _REPEAT[low]
            i += 2  # the space, then the digit word
            continue
        if low in _DIGITS and not (low == "for" and not digits):
            digits.append(_DIGITS[low] * repeat)
            words += 1
        elif low in _HUNDREDS and digits:
            digits.append(_HUNDREDS[low])  # "nine hundred" in a number is 900
            words += 1
        elif token.isdigit() and digits:
            digits.append(token[0] * repeat + token[1:])
        elif token.isdigit() and (after in _DIGITS or after in _REPEAT):
            digits.append(token)  # "0 seven 7 ..." starting with a written digit
        elif not (digits and re.fullmatch(r"[\s,.\-]+", token)):
            break
        else:
            i += 1
            continue
        repeat = 1
        i += 1
        end = i
    if words < _MIN_RUN:
        return None, start
    return "".join(digits), end


def _postcodes(text: str) -> str:
    """Rewrite the first spoken or oddly spaced postcode in ``text`` canonically."""
    pieces = _pieces(text)
    best: tuple[int, int, str] | None = None
    for i in range(len(pieces)):
        joined = ""
        for j in range(i, min(i + 8, len(pieces))):
            joined += pieces[j][2]
            if len(joined) > 7:
                break
            pc = parse_postcode(joined) if len(joined) >= 5 else None
            if pc is not None and pc.area in POSTCODE_AREAS:
                best = (pieces[i][0], pieces[j][1], str(pc))
        if best is not None:
            break
    if best is None:
        return text
    start, end, canonical = best
    return text[:start] + canonical + text[end:]


# The NATO spelling alphabet, said alone for a postcode's letters.
_NATO_WORDS = (
    "alpha alfa bravo charlie delta echo foxtrot golf hotel india juliet juliett kilo "
    "lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
    "whisky xray x-ray yankee zulu"
)
_NATO = {word: word[0].upper() for word in _NATO_WORDS.split()}


def _pieces(text: str) -> list[tuple[int, int, str]]:
    """Postcode-sized pieces of ``text``: (start, end, characters they stand for).

    A piece is a short letters-and-digits word ("SE1", "7LG", "A"), a digit word
    ("one" -> "1"), or a spelled letter ("S for sugar", "P as in Peter" -> "S",
    "P"). Anything else breaks a run (an empty piece)."""
    words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[A-Za-z0-9]+", text)]
    out: list[tuple[int, int, str]] = []
    k = 0
    while k < len(words):
        start, end, word = words[k]
        low = word.lower()
        nxt = words[k + 1][2].lower() if k + 1 < len(words) else ""
        spelled = k + 2 < len(words) and len(word) == 1 and word.isalpha()
        if spelled and _SPELLING.match(nxt) and words[k + 2][2][0].upper() == word.upper():
            out.append((start, words[k + 2][1], word.upper()))
            k += 3
            continue
        if spelled and nxt == "as" and k + 3 < len(words) and words[k + 2][2].lower() == "in":
            out.append((start, words[k + 3][1], word.upper()))
            k += 4
            continue
        word_after = words[k + 1][2] if k + 1 < len(words) else ""
        if low == "for" and len(word_after) >= 3 and word_after.isalpha():
            # "1, for Apple": the letter was lost (or taken for the comma) and only
            # the word that spells it came through: that word's first letter.
            out.append((start, words[k + 1][1], word_after[0].upper()))
            k += 2
            continue
        if low in _NATO:  # "Sierra Whiskey one Alpha": the letters by their code words
            out.append((start, end, _NATO[low]))
        elif low in _DIGITS and low not in ("o", "for"):
            out.append((start, end, _DIGITS[low]))
        elif len(word) <= 2 or (len(word) <= 7 and any(c.isdigit() for c in word)):
            out.append((start, end, word.upper()))
        else:
            out.append((start, end, "\0"))  # breaks every window through it
        k += 1
    return out
