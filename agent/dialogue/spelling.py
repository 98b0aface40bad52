"""Words spelled letter by letter, as a recogniser writes them (pure helpers of
``slots`` and ``workflow``).

Asked to spell a surname or a street, callers say "P for Peter, A, R, K", "pee ay
are kay", or the code words alone ("Kilo India November Golf"); a recogniser writes
"P4 Peter", "M-formary", "before Edward" (E for Edward run together), "Those were
Oliver, A4A" (the letter lost, its word kept). ``spelled_letters`` reads the letters
out of all of these; ``looks_spelled`` tells a spelling from a name or a street said
again; ``spelled_word`` is the word they make.
"""

from __future__ import annotations

import re

from agent.business.ukformats import letters_confusable

__all__ = ["LETTER_WORDS", "looks_spelled", "spelled_letters", "spelled_word"]

# What a recogniser writes for the "for" of "P for Peter": "for", "4", "as in", "like".
# "before Edward" is "E for Edward" run together: the word says the letter.
_SPELL_MARKERS = frozenset({"for", "four", "like", "before"})
# Letters said by their names, as a recogniser writes them ("pee ay are kay", "el").
_LETTER_NAMES = {
    "ay": "A", "bee": "B", "see": "C", "sea": "C", "dee": "D", "ee": "E", "ef": "F",
    "eff": "F", "gee": "G", "aitch": "H", "haitch": "H", "eye": "I", "jay": "J", "kay": "K",
    "el": "L", "ell": "L", "em": "M", "en": "N", "oh": "O", "pee": "P", "queue": "Q",
    "cue": "Q", "are": "R", "ar": "R", "ess": "S", "es": "S", "tee": "T", "tea": "T",
    "you": "U", "vee": "V", "ex": "X", "why": "Y", "zed": "Z", "zee": "Z",
}  # fmt: skip
# Words said for letters ("O for Oliver"): one heard alone among spelled letters, its
# "O for" lost ("Those were Oliver, A4A, K4K"), still spells its letter.
LETTER_WORDS = frozenset({
    "apple", "alpha", "bertie", "bravo", "charlie", "david", "delta", "edward", "echo",
    "foxtrot", "freddie", "george", "golf", "harry", "hotel", "isaac", "india", "jack",
    "juliet", "king", "kilo", "london", "lima", "mary", "mike", "nellie", "nelly",
    "november", "oliver", "oscar", "peter", "papa", "queen", "quebec", "robert", "romeo",
    "sugar", "sierra", "tommy", "tango", "uncle", "uniform", "victor", "william",
    "whiskey", "xray", "yellow", "yankee", "zebra", "zulu",
})  # fmt: skip
# "X for Word" run together by a recogniser: "M-formary", "Fournelli", "forte".
_MERGED_FOR = re.compile(r"^(?:for|four|fore)(?=[a-z]{2,})", re.IGNORECASE)


def _letter_names(tokens: list[str]) -> str | None:
    """The letters of a spelling said by the letters' names ("pee ay are kay"), when
    nearly every word is one (so "are you there" is not R, U)."""
    named = [t.lower() for t in tokens if t.lower() not in ("and", "then", "double")]
    letters = [_LETTER_NAMES.get(t, t.upper() if len(t) == 1 else "") for t in named]
    slack = 1 if len(named) >= 5 else 0  # one word misheard in a long spelling
    if len(named) < 3 or sum(1 for x in letters if x) < len(named) - slack:
        return None
    return "".join(letters)


def spelled_letters(text: str) -> str | None:
    """The letters spelled in ``text`` ("P for Peter, A, R" -> "PAR"), maybe none;
    ``None`` for a recogniser's decoding loop ("M4M4O4O4R4R4R4..."). In "X for Word"
    the letter heard alone is taken ("R4 Albert" is R), else the word's first ("for
    Peter" is P); letters said by name ("pee ay are kay") and "X for Word" run
    together ("M-formary", "and Fournelli") count too."""
    # "R-4-A-burt": the word said for the letter cut in two ("Albert"), not a letter A
    text = re.sub(r"\b([A-Za-z])-(?:4|for)-([A-Za-z])-(?=[A-Za-z]{2,})", r"\1 for \2", text)
    # "P4 Peter", "K-4K", "4 apple": the recogniser's "4" is the "for"
    text = re.sub(r"(?<=[A-Za-z])4|\b4\b|(?<=[\s-])4(?=[A-Za-z])", " for ", text)
    text = text.replace(" as in ", " for ")
    # "I-fluorizing": a letter glued by a hyphen to a word is "I for <word>".
    text = re.sub(r"\b([A-Za-z])-(?=[A-Za-z]{3,})", r"\1 for ", text)
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
            elif held and len(after) >= 2 and letters_confusable(letters[-1], after[0].upper()):
                letters[-1] = after[0].upper()  # "B for Edward": the word tells B from E
            held, i = False, i + 2  # the word only says the letter again
            continue
        if (m := _MERGED_FOR.match(token)) is not None and len(token) >= 6:
            if not held:
                letters.append(token[m.end()].upper())  # "and Fournelli": N
            held, i = False, i + 1
            continue
        before = tokens[i - 1] if i > 0 else ""
        # "a" and "I" are words too: letters only among letters ("P, A, R, K", "A for")
        among = len(before) == 1 or len(after) == 1 or after.lower() in _SPELL_MARKERS
        held = len(token) == 1 and (low not in ("a", "i") or among)
        if not held and low in _LETTER_NAMES and after.lower() in _SPELL_MARKERS:
            # "El for London" is L; "You for Queen" is Q (a word heard for the letter:
            # where they differ, the word that spells it is the surer)
            named, word = _LETTER_NAMES[low], tokens[i + 2] if i + 2 < len(tokens) else ""
            letters.append(word[0].upper() if len(word) >= 2 else named)
            held, i = True, i + 1
            continue
        if held:
            letters.append(token.upper())
        elif token[0].isupper() and low in LETTER_WORDS and before.lower() not in _SPELL_MARKERS:
            letters.append(token[0])  # "Oliver" among letters: O
        i += 1
    if len(letters) < 3 and (named := _letter_names(tokens)) is not None:
        return named
    return "".join(letters)


_SPELLING = re.compile(
    r"\b[A-Za-z]\s*(?:for|4|as in)\s*[A-Za-z]{2,}|"
    r"^\W*(?:(?:that's|it's|that is|it is|spelled|spelt|so)\W+)*(?:[A-Za-z]\b\W*){2,}$",
    re.IGNORECASE,
)


# "Do you for George are for Robert, if for Edward": the letters lost, the words kept
_SPELLING_WORDS = re.compile(r"(?:\b(?:for|4)\s+[A-Z][a-z]+\b.*?){3}")


def looks_spelled(text: str) -> bool:
    """Letters spelled ("V for Victor, I", "P A R"), not a street or a name said again."""
    return _SPELLING.search(text) is not None or _SPELLING_WORDS.search(text) is not None


def spelled_word(text: str) -> str | None:
    """A word spelled letter by letter ("P for Peter, A for apple, R, K", "P A R K"),
    capitalised; ``None`` unless three to twenty letters were spelled, none three times
    in a row (a recogniser's decoding loop)."""
    word = spelled_letters(text)
    if word is None or not 3 <= len(word) <= 20 or re.search(r"(.)\1\1", word):
        return None
    return word.capitalize()
