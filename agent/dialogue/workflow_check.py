"""The answer to a read-back: "Was that SE1 9SG?", "is the postcode E1 7PB?" (pure).

A bare yes takes the value read back; a bare no (or the same value said again)
turns it down and the detail is asked another way, never read back the same way
twice; "no, it's ..." turns it down and the line is heard as a new answer.
"""

from __future__ import annotations

from agent.business.company import CompanyProfile
from agent.dialogue.readings import known_street
from agent.dialogue.slots import Intent, Slots
from agent.dialogue.workflow_actions import Utterance, WorkflowConfig
from agent.dialogue.workflow_collect import AS_HEARD, classify_collect, guess_postcode
from agent.dialogue.workflow_data import BookingData
from agent.dialogue.workflow_problem import hand_over
from agent.dialogue.workflow_table import Kind

__all__ = ["after_postcode_no", "classify_check_answer"]

K = Kind


def _has_detail(slots: Slots) -> bool:
    return any(
        v is not None for v in (slots.name, slots.address, slots.postcode, slots.phone, slots.when)
    )


def classify_check_answer(
    data: BookingData,
    profile: CompanyProfile,
    config: WorkflowConfig,
    expecting: str | None,
    u: Utterance,
) -> Kind | None:
    """The answer to "Was that ...?" or "is the postcode ...?", when it is a bare yes/no
    (or a no with the same value); ``None`` when the line is to be heard as usual."""
    bare = u.slots.is_empty() or (u.slots.correction and not _has_detail(u.slots))
    if data.doubt is not None:
        field, value = data.doubt
        data.doubt = None
        if u.intent is Intent.YES and bare:
            filled, invalid = data.merge_slots(Slots(**{field: value}))
            return classify_collect(data, profile, config, expecting, u, filled, invalid)
        said_again = getattr(u.slots, field) == value  # "No, 15 part lane": heard the same
        # The caller's line said again and heard as before, in place of a yes or no: they
        # had not heard the question yet (asked once more), else it is a no.
        as_before = field == "address" and getattr(u.slots, field) in data.rejected
        if as_before and not data.checks.get("address/before"):
            data.checks["address/before"] = 1
            data.doubt, data.doubt_word = (field, value), True
            return K.CHECK_VALUE
        if (u.intent is Intent.NO and (bare or said_again)) or as_before:
            if field == "name" and value == data.first_name_guess:
                data.rejected.add(value)  # "Was that Ben Thompson?", no: the surname alone
                return classify_collect(data, profile, config, expecting, u, {field}, None)
            if (heard := data.mended.get(value)) is not None:
                data.rejected.add(heard)  # "16 hope road", no: not "16 hope route" either
            if field == "address" and (other := _other_address(data, value)) is not None:
                data.rejected.add(value)  # the recogniser's next reading of the line first
                data.first_heard.setdefault(field, value)
                data.doubt, data.doubt_word = (field, other), True
                return K.CHECK_VALUE
            # Said the same way, it would be heard the same way: ask another way next
            # (spelled, on the keypad), never the same read-back twice.
            data.turned_down(field, value)
            if field == "postcode" and (k := after_postcode_no(data, profile, config, u)):
                return k
            if field in AS_HEARD:
                if getattr(data, field) is None:
                    return K.DETAILS
                return classify_collect(data, profile, config, expecting, u, {field}, None)
            return K.HAND_OVER if data.miss(field) > config.max_misses else K.DETAILS
        if u.intent is Intent.NO:
            data.rejected.add(value)  # "no, it's ...": never read back again
        elif getattr(u.slots, field) is None:
            data.merge_slots(Slots(**{field: value}))  # moved on without a no: taken
            data.changed = []
    if data.area_pending:
        data.area_pending = False
        if u.intent is Intent.YES and bare:
            data.area_checked = data.postcode
            return K.OUT_OF_AREA
        if u.intent is Intent.NO and bare:
            data.rejected.add(data.postcode or "")
            data.postcode = None
            data.misses["postcode"] = max(data.misses.get("postcode", 0), 1)
            data.miss("postcode")  # asked again another way: letter by letter
            return K.DETAILS
    return None


def _other_address(data: BookingData, value: str) -> str | None:
    """After a no to the address ``value``: the recogniser's first other whole reading
    of that line with a street name known (``readings.known_street``: "4L in the
    street", no: "was that 4 Elm Street?"), not turned down; one at most per line,
    then the street is spelled. ``None`` when there is none."""
    readings, data.address_readings = data.address_readings, []
    known = (known_street(other) for other in readings)
    return next((k for k in known if k is not None and k != value and k not in data.rejected), None)


def after_postcode_no(
    data: BookingData, profile: CompanyProfile, config: WorkflowConfig, u: Utterance
) -> Kind | None:
    """After "no" to a postcode read back: the one heard outside the area beside it
    ("Was that SE1 7PB?" for "E1 7PB"), checked with the caller before the call is
    declined, not a third way of asking; else what the rest of the line sounds like
    ("No, it's probably 1D3QF": "Was that W1D 3QF?"); ``None`` when neither."""
    outside, data.heard_outside = data.heard_outside, None
    if outside is not None:
        data.postcode, data.area_pending = outside, True
        return K.CHECK_AREA
    if (guess := guess_postcode(data, profile, "postcode", u.text)) is None:
        return None
    if data.miss("postcode") > config.max_misses:  # a miss all the same: never endless
        return hand_over(profile)
    data.doubt = ("postcode", guess)
    return K.CHECK_VALUE
