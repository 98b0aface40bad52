"""Details held to read back before they are taken, for the recogniser's doubt (pure
parts of ``workflow``): a name or address with a doubted word, a postcode it doubted
and read otherwise too, a phone number with a digit it doubted, and a number turned
down heard again. The other details said with them are kept."""

from __future__ import annotations

import re

import attrs

from agent.dialogue.workflow_actions import Utterance
from agent.dialogue.workflow_collect import hold_to_check, values_in_readings
from agent.dialogue.workflow_data import BookingData, likely_value
from agent.dialogue.workflow_table import Kind

__all__ = [
    "hold_doubted_phone",
    "hold_for_doubt",
    "hold_wavering_postcode",
    "refuse_turned_down_phone",
]


def hold_for_doubt(data: BookingData, u: Utterance) -> Kind | None:
    """What a line heard while the details are collected must wait for: a value read
    back before it is taken (``Kind.CHECK_VALUE``: a name or address with a doubted
    word, ``workflow_collect.hold_to_check``; a wavering postcode; a doubted phone
    number), or a turned-down number heard again asked for on the keypad
    (``Kind.DETAILS``); ``None`` when it is taken as usual."""
    if hold_to_check(data, u) or hold_wavering_postcode(data, u) or hold_doubted_phone(data, u):
        return Kind.CHECK_VALUE
    return Kind.DETAILS if refuse_turned_down_phone(data, u) else None


# A doubted word of a phone number: digits ("07700990099", "0 7"), or a digit said
_PHONE_WORD = re.compile(
    r"\d|^(?:zero|oh|o|nought|one|two|three|four|five|six|seven|eight|nine|double|triple)$"
)


def hold_wavering_postcode(data: BookingData, u: Utterance) -> bool:
    """A postcode the recogniser doubted and read otherwise too ("[check: w1d 3qs]
    W1D 3QS", also heard W1D 3QF) is read back before it is taken; heard again after a
    no, its other reading is read back instead. The other details said with it are
    kept. At most twice for one call: then it is taken as heard."""
    postcode = likely_value("postcode", u.slots.postcode)
    if postcode is None or data.offer_open or data.doubt is not None:
        return False
    if postcode == data.postcode or data.checks.get("postcode", 0) >= 2:
        return False
    if not u.doubted & set(postcode.lower().split()):
        return False
    others = [v for v in values_in_readings(data, "postcode", u) if v != postcode]
    if not others:
        return False  # the recogniser did not waver: its doubt alone is no reason to ask
    data.checks["postcode"] = data.checks.get("postcode", 0) + 1
    data.merge_slots(attrs.evolve(u.slots, postcode=None))
    read_back = others[0] if postcode in data.rejected else postcode
    data.changed, data.doubt = [], ("postcode", read_back)
    return True


def hold_doubted_phone(data: BookingData, u: Utterance) -> bool:
    """A whole phone number said with a digit the recogniser doubted ("[check:
    07700990099] 07700990099") is read back before it is taken ("Was that 0 7 7 0 0,
    9 9 0, 0 9 9?"): the callback hangs on it, and a number heard one digit wrong still
    looks whole. Not one read back twice already, nor one turned down (asked another
    way instead)."""
    phone = likely_value("phone", u.slots.phone)
    if phone is None or data.offer_open or data.doubt is not None:
        return False
    if phone == data.phone or phone in data.rejected or data.checks.get("phone", 0) >= 2:
        return False
    if not any(_PHONE_WORD.search(word) for word in u.doubted):
        return False
    data.checks["phone"] = data.checks.get("phone", 0) + 1
    data.merge_slots(attrs.evolve(u.slots, phone=None))
    data.changed, data.doubt = [], ("phone", phone)
    return True


def refuse_turned_down_phone(data: BookingData, u: Utterance) -> bool:
    """A phone number the caller turned down ("Was that ...?", no) heard again, as a
    caller says "No. 0 7 7 0 0 ..." after a wrong read-back: never taken, since it is
    heard the same way; the other details said with it are kept and the number is
    asked for on the keypad."""
    phone = likely_value("phone", u.slots.phone)
    if phone is None or phone not in data.rejected or phone == data.phone:
        return False
    data.merge_slots(attrs.evolve(u.slots, phone=None))
    data.changed = []
    data.miss("phone")
    return True
