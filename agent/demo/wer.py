"""Word error rate of a recogniser against a reference, spoken and written forms alike.

Used by the Whisper accuracy test and bench/recogniser_wer.py.
"""

from __future__ import annotations

import re

__all__ = ["normalise", "word_error_rate", "word_errors"]

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
_TEENS_LIST = _TEENS.split(" ")
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
_TENS = {word: n for n, word in enumerate(_TENS_WORDS.split(" "), 2)}
_CONTRACTIONS = {
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "i'm": "i am",
    "don't": "do not",
    "can't": "cannot",
    "won't": "will not",
    "what's": "what is",
}
_JOINED = {("post", "code"): "postcode", ("good", "bye"): "goodbye"}


def normalise(text: str) -> list[str]:
    """Words for WER: lower case, no punctuation, numbers as single digits.

    "22" and "twenty two" both become "2 2"; "SW1A 1AA" and "s w 1 a 1 a a"
    both become "s w 1 a 1 a a"; so spoken and written forms compare equal.
    """
    text = text.lower().replace("’", "'")
    # "0770.0900" and "EC1-A1-BB" are one token each, like "07700900" and "EC1A1BB".
    text = re.sub(r"(?<=\d)[.,](?=\d)|(?<=\w)-(?=\w)", "", text)
    words = re.sub(r"[^a-z0-9' ]+", " ", text).split()
    expanded: list[str] = []
    for word in words:
        expanded.extend(_CONTRACTIONS.get(word, word.strip("'")).split())
    joined: list[str] = []
    for word in expanded:
        if joined and (joined[-1], word) in _JOINED:
            joined[-1] = _JOINED[(joined[-1], word)]
        else:
            joined.append(word)
    numbers: list[str] = []
    for i, word in enumerate(joined):
        if word == "oh" and (_digit_word(joined[i - 1 : i]) or _digit_word(joined[i + 1 : i + 2])):
            word = "zero"
        if word in _UNITS:
            if numbers and numbers[-1] in _TENS:  # "twenty two" -> 22
                numbers[-1] = str(_TENS[numbers[-1]] * 10 + _UNITS.index(word))
                continue
            word = str(_UNITS.index(word))
        elif word in _TEENS_LIST:
            word = str(10 + _TEENS_LIST.index(word))
        numbers.append(word)
    out: list[str] = []
    for word in numbers:
        word = str(_TENS[word] * 10) if word in _TENS else word
        out.extend(word if any(ch.isdigit() for ch in word) else [word])
    return out


def _digit_word(words: list[str]) -> bool:
    return bool(words) and (words[0] in _UNITS or words[0] == "oh" or words[0].isdigit())


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (substitutions + deletions + insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
            )
        previous = current
    return previous[-1]


def word_error_rate(pairs: list[tuple[str, str]]) -> tuple[int, int]:
    """(word errors, reference words) over (reference, heard) pairs."""
    errors = words = 0
    for reference, heard in pairs:
        ref = normalise(reference)
        errors += word_errors(ref, normalise(heard))
        words += len(ref)
    return errors, words
