"""How ``bench/caller_corpus.py`` judges a call and reports a run.

A call is judged by what it ended in (booked, transferred, declined, silence), which
expected slots the booking record holds, and the recogniser's word errors over the
caller's lines; the report sums those per voice and lists every miss.
"""

from __future__ import annotations

import json
import os
import re
import sys

import attrs
from caller_scripts import Spec

from agent.business.ukformats import parse_postcode, to_e164
from agent.demo.wer import word_errors
from agent.dialogue.doubt import split_also_heard, split_check, split_unsure


@attrs.define
class Result:
    spec: Spec
    voice: str
    outcome: str
    slots_right: int = 0
    slots_wrong: list[str] = attrs.field(factory=list)
    ref_words: int = 0
    word_errors: int = 0
    heard: list[str] = attrs.field(factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == self.spec.expect


_DIGIT_WORDS = "zero one two three four five six seven eight nine"
_DIGITS = {w: str(i) for i, w in enumerate(re.findall(r"\w+", _DIGIT_WORDS))}
_DIGITS["oh"] = "0"


def _words(text: str) -> list[str]:
    """Words for the error rate: lower case, no punctuation, digits one by one and digit
    words as digits ("07700" and "oh seven seven double oh" are the same five words)."""
    out: list[str] = []
    repeat = 1
    for word in re.sub(r"[^\w\s']", " ", text.lower()).split():
        if word in ("double", "triple"):
            repeat = 2 if word == "double" else 3
            continue
        digits = _DIGITS.get(word, word)
        if digits.isdigit():
            out.extend(list(digits[0] * repeat + digits[1:]))
        else:
            out.extend([word] * repeat)
        repeat = 1
    return out


def _same(field: str, expected: str, got: str) -> bool:
    if field == "postcode":
        a, b = parse_postcode(expected), parse_postcode(got)
        return a is not None and a == b
    if field == "phone":
        return to_e164(got) == expected
    # "70 Queen's Road" is the street of "70 Queens Road": an apostrophe is dropped, not
    # read as a word break; other punctuation is.
    norm = lambda s: " ".join(re.sub(r"[^\w\s]", " ", s.lower().replace("'", "")).split())  # noqa: E731
    return norm(expected) == norm(got)


def judge(
    spec: Spec, voice: str, brain, bookings: list[dict], heard: list[str], said: list[str]
) -> Result:
    """``said``: every line the caller spoke (its reactions too), the reference for WER."""
    outcome = "none"
    if bookings:
        outcome = "booked"
    elif brain is not None and brain.outcome is not None:
        ended = brain.outcome
        if ended.kind == "transfer":
            outcome = f"transfer:{ended.target.name if ended.target else '?'}"
        elif ended.kind == "end" and ended.reason == "silence":
            outcome = "silence"
        else:
            outcome = "declined"
    result = Result(spec, voice, outcome, heard=heard)
    customer = json.loads(bookings[-1]["body"])["customer"] if bookings else {}
    for field, expected in spec.slots.items():
        got = str(customer.get(field, ""))
        if _same(field, expected, got):
            result.slots_right += 1
        else:
            result.slots_wrong.append(f"{field}: want {expected!r}, got {got!r}")
    reference = [w for line in said for w in _words(line)]
    # Keypad entries are no words; a line heard in doubt is words heard all the same;
    # the recogniser's other readings of it are not what it heard.
    lines = [
        split_check(split_also_heard(split_unsure(h)[0])[0])[0]
        for h in heard
        if not h.startswith("[keypad")
    ]
    hypothesis = [w for h in lines for w in _words(h)]
    result.ref_words, result.word_errors = len(reference), word_errors(reference, hypothesis)
    return result


def report(results: list[Result], voices: list[str], *, quiet: bool = False) -> dict:
    figures = {}
    out = open(os.devnull, "w") if quiet else sys.stdout  # noqa: SIM115
    print(f"\n{'voice':<28} {'calls':>5} {'outcomes':>9} {'slots':>9} {'WER':>7}", file=out)
    for voice in voices:
        mine = [r for r in results if r.voice == voice]
        if not mine:
            continue
        slots = sum(len(r.spec.slots) for r in mine)
        right = sum(r.slots_right for r in mine)
        ref = sum(r.ref_words for r in mine)
        figures[voice] = {
            "calls": len(mine),
            "outcome_accuracy": sum(r.ok for r in mine) / len(mine),
            "slot_accuracy": right / slots if slots else 1.0,
            "wer": sum(r.word_errors for r in mine) / ref if ref else 0.0,
        }
        f = figures[voice]
        print(
            f"{voice:<28} {len(mine):>5} {f['outcome_accuracy']:>8.1%} "
            f"{f['slot_accuracy']:>8.1%} {f['wer']:>6.1%}",
            file=out,
        )
    misses = [r for r in results if not r.ok or r.slots_wrong]
    if quiet:
        out.close()
        return figures
    if misses:
        print("\nmisses:")
    for r in misses:
        print(f"- {r.voice} {r.spec.name}: expected {r.spec.expect}, got {r.outcome}")
        for wrong in r.slots_wrong:
            print(f"    {wrong}")
        print(f"    heard: {' | '.join(r.heard)}")
    return figures
