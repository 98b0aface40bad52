"""The caller of ``bench/caller_corpus.py`` between its scripted lines: a person who
confirms, says no, repeats, types or spells when the agent asks."""

from __future__ import annotations

import re

import attrs
from caller_scripts import Spec

from agent.business.ukformats import parse_postcode
from agent.demo.softphone import Caller, PressKeys, Say

__all__ = ["REPLIES", "Person", "house_number", "spelled", "street_name"]


REPLIES = {"yes": "Yes, that's right.", "no": "No."}
_ALPHABET = (
    "apple bertie charlie david edward freddie george harry isaac jack king london mary "
    "nellie oliver peter queen robert sugar tommy uncle victor william xray yellow zebra"
)
_WORDS = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", _ALPHABET.split(), strict=True))


def spelled(postcode: str) -> str:
    """A postcode spelled the way people do when asked: "S for sugar, W for william, 1"."""
    parts = [
        f"{c} for {_WORDS[c]}" if c.isalpha() else c for c in postcode.upper().replace(" ", "")
    ]
    return ", ".join(parts) + "."


_CHECK = re.compile(r"\b(?:was that|is the postcode)\b(.*?)(?:\?|$)", re.IGNORECASE)
_AGAIN = re.compile(
    r"say it again|didn't follow|doesn't look right|didn't get a valid|still not getting|"
    r"still missing|not getting your|didn't get a day|isn't coming through|once more",
    re.IGNORECASE,
)


# After a miss ("Sorry, ... type it on your keypad"), not the first question's "you can also".
_KEYPAD = re.compile(r"\bsorry\b.*\b(?:type|key|enter)\b.*\bkeypad\b", re.IGNORECASE)
_SPELL = re.compile(r"\bletter by letter\b", re.IGNORECASE)  # the postcode, spelled
_STREET = re.compile(r"\bspell\b.*\bstreet\b", re.IGNORECASE)  # the street's name, spelled
_NUMBER = re.compile(r"\bwhat's the house number\b", re.IGNORECASE)  # of the street heard
_FIRST = re.compile(r"\byour first name\b", re.IGNORECASE)  # after a surname spelled alone
_SURNAME = re.compile(  # "spell your surname", or "not getting your name ... spell it"
    r"\bspell\b.*\b(?:surname|last name)\b|\byour name\b.*\bspell\b", re.IGNORECASE
)


# The agent asking for a detail (again): a person who gave it already gives it again.
_ASKS = (
    ("postcode", re.compile(r"\bpostcode\?", re.IGNORECASE)),
    ("address", re.compile(r"\baddress of the job\b|\bmissing the address\b", re.IGNORECASE)),
    ("name", re.compile(r"\btake your name\b", re.IGNORECASE)),
    ("phone", re.compile(r"\bbest number\b", re.IGNORECASE)),
)


def house_number(address: str) -> str | None:
    """The house number of "30 Green Lane": "30"."""
    m = re.match(r"\s*(\d+[A-Za-z]?)\b", address)
    return m.group(1) if m else None


def street_name(address: str) -> str:
    """The name of the street of "15 Park Lane": "Park" (between number and street word)."""
    words = address.split()
    return " ".join(w for w in words[:-1] if not w[0].isdigit()) or words[-1]


def _alnum(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@attrs.define
class Person:
    """What a person does between the scripted lines: says yes when the agent reads a
    value back right ("Was that ...?"), no and the line again when it is wrong, and
    says the last line again when the agent did not get it, at most twice for one
    line; asked to type the number or spell the postcode, does that (once each)."""

    spec: Spec
    caller: Caller
    entry: dict
    replies: dict
    seen: int = 0
    repeats: int = 0
    said: dict = attrs.field(factory=dict)
    known: set = attrs.field(factory=set)
    other_ways: set = attrs.field(factory=set)  # keypad, spell: asked and done
    reasked: dict = attrs.field(factory=dict)  # detail: times given again when asked again

    def __attrs_post_init__(self) -> None:
        self.said = {s.label: s for s in self.caller.script if isinstance(s, Say)}
        values = [*self.spec.slots.values(), *self.spec.confirms]
        self.known = {_alnum("0" + v[3:] if v.startswith("+44") else v) for v in values}

    def __call__(self) -> list:
        lines = self.entry["agent"]
        if len(lines) <= self.seen:
            return []
        self.seen = len(lines)
        text = lines[-1]
        said = self._last_line()
        if (m := _CHECK.search(text)) is not None:
            heard = _alnum(m.group(1))
            if (postcode := parse_postcode(heard)) is not None:
                # A postcode read back is right only whole: "E1 7PB" is in "SE1 7PB" but
                # is another place, and a person says no to it.
                wanted = [self.spec.slots.get("postcode", ""), *self.spec.confirms]
                right = any(parse_postcode(w) == postcode for w in wanted if w)
                return self._checked(right, said)
            # Right if it is a value the booking wants, or what this caller said in its
            # own words ("14 Mill Lane", corrected to 41 only later).
            own = len(heard) >= 5 and any(heard in _alnum(line) for line in self.said)
            right = own or (heard and any(v and (v in heard or heard in v) for v in self.known))
            return self._checked(bool(right), said)
        # Asked another way (type the number, spell the postcode), a person does it, once
        # each, however often they have repeated themselves before.
        phone = self.spec.slots.get("phone")
        if _KEYPAD.search(text) and phone and "keypad" not in self.other_ways and said:
            self.other_ways.add("keypad")
            return [PressKeys("0" + phone[3:] + "#", gap_ms=150)]
        for way, asked in (("street", _STREET), ("surname", _SURNAME)):
            # Asked to spell again, a person spells again (at most twice in all).
            reply = self.replies.get(f"{self.spec.name}/{way}")
            if asked.search(text) and reply is not None and f"{way}2" not in self.other_ways:
                self.other_ways.add(f"{way}2" if way in self.other_ways else way)
                return [reply]
        for way, asked in (("number", _NUMBER), ("first", _FIRST)):
            # asked for the house number or the first name alone: says it, once
            reply = self.replies.get(f"{self.spec.name}/{way}")
            if asked.search(text) and reply is not None and way not in self.other_ways:
                self.other_ways.add(way)
                return [reply]
        spell = self.replies.get(self.spec.name)
        if _SPELL.search(text) and spell is not None and "spell" not in self.other_ways:
            self.other_ways.add("spell")
            return [spell]
        if (line := self._asked_again(text)) is not None:
            return [line]
        if _AGAIN.search(text) and said is not None and self.repeats < 2:
            self.repeats += 1
            return [said]
        self.repeats = 0
        return []

    def _checked(self, right: bool, said: Say | None) -> list:
        """Yes to a value read back right; no and the line again (twice at most) to one
        read back wrong."""
        if right:
            self.repeats = 0
            return [self.replies["yes"]]
        self.repeats += 1
        return [self.replies["no"]] + ([said] if said and self.repeats <= 2 else [])

    def _asked_again(self, text: str) -> Say | None:
        """The caller's line with the detail the agent asks for, when it was said
        already and is not what was said last (at most twice per detail)."""
        said = [u.label for u in self.caller.utterances]
        for detail, asked in _ASKS:
            value = self.spec.slots.get(detail, "")
            value = "0" + value[3:] if detail == "phone" and value else value
            if not value or not asked.search(text) or self.reasked.get(detail, 0) >= 2:
                continue
            lines = [x for x in said if x in self.said and _alnum(value) in _alnum(x)]
            if lines and said[-1] != lines[-1]:
                self.reasked[detail] = self.reasked.get(detail, 0) + 1
                return self.said[lines[-1]]
        return None

    def _last_line(self) -> Say | None:
        """The last scripted line said (a spelling or a yes said since does not count:
        asked again for the detail, a person says the detail again)."""
        for utterance in reversed(self.caller.utterances):
            if utterance.label in self.said:
                return self.said[utterance.label]
        return None
