"""Parts of a detail the recogniser left out, asked for once each (pure parts of
``workflow``).

A street heard without its house number ("start the green lane": the "30" came
out as other words) gets "And what's the house number?"; a surname spelled alone
after the name was misheard ("Bentonson", then "T for Tommy, H ...": Thompson) gets
"And what's your first name?". ``BookingData.missing_detail`` names them
(``"house_number"``, ``"first_name"``) after the detail they complete; each is
asked once, and whatever the answer the call goes on.
"""

from __future__ import annotations

import re

import attrs

from agent.business.first_names import glued_first_name, is_first_name, sounds_like_first_name
from agent.dialogue.normalise import lone_house_number
from agent.dialogue.slots import Intent, find_name
from agent.dialogue.workflow_actions import Utterance
from agent.dialogue.workflow_data import BookingData
from agent.dialogue.workflow_names import plausible_name
from agent.dialogue.workflow_table import Kind

__all__ = ["answer_left_out", "first_name", "first_name_guess"]


def answer_left_out(data: BookingData, part: str, u: Utterance, *, sure: bool) -> Kind | None:
    """The answer to "what's the house number?" (``part`` "house_number") or "and your
    first name?" (``"first_name"``): the part put into the detail; no part ("there
    isn't one", "no") goes on to the next detail; ``None`` when the line is to be
    heard as any answer (a whole address, other details). A first name heard in
    doubt (``sure`` false, or a word of it doubted: "Ben" heard as "Then") is not
    taken: read back when a reading of it is a first name the prior knows
    (``first_name_guess``), else the surname stays alone rather than wrong."""
    if part == "first_name" and (not sure or u.doubted):
        data.first_name_asked = True
        if (guess := first_name_guess(data, u)) is not None:
            data.first_name_guess = f"{guess} {data.name}"
            data.doubt, data.doubt_word = ("name", data.first_name_guess), True
            return Kind.CHECK_VALUE  # "Was that Ben Thompson?"
        return Kind.DETAILS if find_name(u.text, expecting=True) or u.slots.is_empty() else None
    if part == "house_number":
        data.house_asked = True
        if (number := lone_house_number(u.text) or u.slots.house_number) is not None:
            # "It's number 30, and the postcode is ...": the other details kept too
            data.merge_slots(attrs.evolve(u.slots, address=None, house_number=number))
            data.changed = []
            return Kind.DETAILS
    elif first_name(data, u.text):
        return Kind.DETAILS
    return Kind.DETAILS if u.slots.is_empty() and u.intent in (None, Intent.NO) else None


def first_name(data: BookingData, text: str) -> bool:
    """The answer to "and your first name?" after a surname spelled alone: put before
    the surname ("Ben" + "Thompson"), or the whole name when said with it; ``False``
    when no name came of it (asked once: the call goes on either way)."""
    data.first_name_asked = True
    surname, said = data.name or "", find_name(text, expecting=True)
    if said is None or re.search(r"\d", said) or not plausible_name(said):
        return False
    words = said.split()
    whole = len(words) >= 2 and words[-1].lower() == surname.lower()
    data.name = said if whole else f"{words[0].capitalize()} {surname}"
    return True


def first_name_guess(data: BookingData, u: Utterance) -> str | None:
    """The first name to read back for an answer to "and your first name?" heard in
    doubt: the first reading of the line (best, then the others) that is a first name
    the prior knows ("Then", also heard "Ben": Ben), else one that sounds like one
    ("Niner": Nina), else the head of the name heard before the surname was spelled
    ("Bentonson", spelled Thompson: Ben); ``None`` when there is none."""
    words = [
        said.split()[0]
        for reading in (u.text, *u.alternatives)
        if (said := find_name(reading, expecting=True)) is not None and plausible_name(said)
    ]
    # a name heard as itself in any reading before one that only sounds like one
    for word in sorted(words, key=lambda w: not is_first_name(w)):
        if (name := sounds_like_first_name(word)) is not None:
            return name
    heard = data.first_heard.get("name")
    return glued_first_name(heard, data.name or "") if heard else None
