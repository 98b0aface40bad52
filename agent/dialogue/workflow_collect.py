"""What an answer means while the details are collected (pure parts of ``workflow``).

``classify_collect`` takes what was just merged into the call's data (the slots
filled, the first invalid one) and says what comes next: the slot offer answered,
a postcode that only sounded like one read back, a postcode outside the area
confirmed before declining, the next detail asked, a person after too many misses.

``heard_again`` is the rule for a name or an address the caller turned down: heard
the same again it is never read back again nor taken; it is asked for another way
(spelled, then once more), and at last kept marked for the office as not confirmed.
"""

from __future__ import annotations

import re

import attrs

from agent.business.company import CompanyProfile
from agent.business.postcode_districts import known_district
from agent.business.postcode_near import near_area_postcode
from agent.business.ukformats import postcode_guess
from agent.dialogue.readings import address_key, known_street, whole_address
from agent.dialogue.slots import Intent, Slots, extract
from agent.dialogue.spelling import looks_spelled, spelled_word
from agent.dialogue.street_prior import street_guess
from agent.dialogue.workflow_actions import Utterance, WorkflowConfig
from agent.dialogue.workflow_data import BookingData, likely_value
from agent.dialogue.workflow_names import fuller_name, name_spelled, plausible_name
from agent.dialogue.workflow_problem import dont_know, hand_over
from agent.dialogue.workflow_table import Kind

__all__ = [
    "AS_HEARD",
    "address_from_readings",
    "alternative_value",
    "classify_collect",
    "classify_unsure_detail",
    "guess_postcode",
    "heard_again",
    "hold_street_guess",
    "hold_to_check",
    "keep_sure_details",
    "values_in_readings",
]

K = Kind
AS_HEARD = frozenset({"name", "address"})  # no keypad for them: spelled, or said again


def guess_postcode(
    data: BookingData, profile: CompanyProfile, wanted: str | None, text: str
) -> str | None:
    """A postcode the line sounds like though it holds none whole ("SW1A1A1A1"),
    when the postcode is the detail asked for and this guess was not turned down."""
    if wanted != "postcode" or data.offer_open:
        return None
    guess = postcode_guess(text, profile.service_area, known_district)
    if guess is None or not profile.serves_postcode(str(guess)):
        # one character missing or wrong, in the company's own area ("southeast point
        # nine sg" for SE1 9SG) before any reading outside it
        near = near_area_postcode(text, profile.service_area)
        if near is not None and str(near) not in data.rejected:
            return str(near)
    if guess is None or str(guess) in data.rejected:
        return None
    return str(guess)


def alternative_value(
    data: BookingData, profile: CompanyProfile, wanted: str | None, u: Utterance
) -> str | None:
    """The postcode or phone number asked for (``wanted``), from the recogniser's other
    readings of a line that holds none valid itself: the first whole one in them, not
    turned down before; a phone number only a UK one; a postcode only with a district
    that exists, one in the company's area before any other, and one outside it not
    before a guess inside it from the line itself (``guess_postcode``). To be read
    back, never taken unasked."""
    if wanted not in ("postcode", "phone") or data.offer_open or not u.alternatives:
        return None
    if likely_value(wanted, getattr(u.slots, wanted)) is not None:
        return None  # the line has one: the other readings never replace it
    found = values_in_readings(data, wanted, u)
    if wanted == "phone" or not found:
        return found[0] if found else None
    inside = [v for v in found if profile.serves_postcode(v)]
    if inside:
        return inside[0]
    guess = guess_postcode(data, profile, wanted, u.text)
    return None if guess is not None and profile.serves_postcode(guess) else found[0]


def _inside_alternative(data: BookingData, profile: CompanyProfile, u: Utterance) -> str | None:
    """A postcode in the company's area from the recogniser's other readings of a line
    whose own postcode is outside it ("S for sugar, B4 Edward, 1, 7 ..." heard as E1 7PB
    and, a rank lower, SE1 7PB), else the one a character from it (``near_area_postcode``):
    a mishearing must not turn a customer away."""
    found = values_in_readings(data, "postcode", u)
    inside = next((v for v in found if profile.serves_postcode(v)), None)
    if inside is None:  # one character from the one heard ("S1 7PB" for SE1 7PB)
        near = near_area_postcode(u.text, profile.service_area, beside_whole=True)
        inside = str(near) if near is not None and str(near) not in data.rejected else None
    return inside


def values_in_readings(data: BookingData, wanted: str, u: Utterance) -> list[str]:
    """The whole values of ``wanted`` in the line's other readings, in their order, not
    turned down before: a phone number only a UK one, a postcode only with a district
    that exists (``likely_value`` checks it)."""
    found: list[str] = []
    for reading in u.alternatives:
        _, slots = extract(reading, expecting=wanted)
        value = likely_value(wanted, getattr(slots, wanted))
        if value is None or value in data.rejected or value in found:
            continue
        if wanted == "phone" and not value.startswith("+44"):
            continue  # "00770090055" is +7 70090055 to the format: a number heard wrong
        found.append(value)
    return found


def heard_again(data: BookingData, field: str, heard: str | None) -> set[str] | None:
    """``heard`` (a name or address) is a value the caller turned down, or nothing
    usable while it was asked once more another way: ``None`` when neither (take the
    answer as usual); else the fields filled (empty while it is asked another way,
    ``{field}`` once kept marked as not confirmed)."""
    asked_again = data.another_way == field
    if field not in AS_HEARD or not (heard in data.rejected or (asked_again and heard is None)):
        if asked_again and heard is not None:
            data.another_way = None  # said anew: taken (or read back) as usual
        return None
    if data.not_confirmed(field, heard) == "settled" and getattr(data, field) is not None:
        return {field}
    return set()


def keep_sure_details(
    data: BookingData, u: Utterance, wanted: str | None
) -> tuple[set[str], str | None] | None:
    """What a line heard in doubt still gives: a whole postcode or number said with it
    is kept (their shape is checked); a time when the time is asked (the slot offered
    for it is the check); a number given for another detail but not whole is said
    back ("I heard 0 7 7 ..., type it"), never lost. ``(filled, invalid)`` when the
    line is settled so, else ``None`` (the asked detail is to be read back)."""
    sure = {f: likely_value(f, getattr(u.slots, f)) for f in ("postcode", "phone")}
    filled, _ = data.merge_slots(Slots(**{f: v for f, v in sure.items() if v and f != wanted}))
    data.changed = []
    if filled and wanted is not None and getattr(u.slots, wanted) is None:
        return filled, None  # another detail given whole: taken, the asked one asked again
    if wanted == "when" and u.slots.when is not None:
        return data.merge_slots(Slots(when=u.slots.when))
    raw = u.slots.phone
    if wanted not in ("phone", "postcode") or raw is None or sure["phone"] or data.phone:
        return None
    filled, invalid = data.merge_slots(Slots(phone=raw))  # not whole: said back, keypad
    data.changed = []
    return filled, invalid


def classify_collect(
    data: BookingData,
    profile: CompanyProfile,
    config: WorkflowConfig,
    expecting: str | None,
    u: Utterance,
    filled: set[str],
    invalid: str | None,
) -> Kind:
    """The next step once an answer's details are merged (``filled``, ``invalid``)."""
    if data.offer_open:
        if "when" in filled:
            return K.DETAILS_READY
        if u.intent is Intent.YES:
            return K.ACCEPT_SLOT
        if u.intent is Intent.NO:
            return K.REJECT_SLOT
    if not filled and expecting and dont_know(u.text):
        # said once: why it's needed and a way on; twice: a person takes it from here
        return hand_over(profile) if data.miss(f"not_known_{expecting}") > 1 else K.DONT_KNOW
    # The detail asked for, or one said unasked that did not hold ("077009009" given
    # while the address was asked): the recogniser's second reading may hold it whole.
    target = invalid if invalid in ("postcode", "phone") else expecting
    if target not in filled and (other := alternative_value(data, profile, target, u)):
        data.doubt = (target, other)  # type: ignore[assignment]
        return K.CHECK_VALUE  # "Was that EC4M 7LS?": the recogniser's second reading
    guessing = invalid == "postcode" or (not filled and invalid is None)
    wanted = "postcode" if invalid == "postcode" else expecting  # said, if not asked
    if guessing and (guess := guess_postcode(data, profile, wanted, u.text)) is not None:
        data.doubt = ("postcode", guess)
        return K.CHECK_VALUE  # read back what it sounded like, never taken unasked
    if invalid is not None:
        if data.miss(invalid) > config.max_misses:
            return hand_over(profile)
        return K.INVALID_DETAIL
    postcode = data.postcode
    if postcode is not None and not profile.serves_postcode(postcode):
        if "postcode" in filled and (inside := _inside_alternative(data, profile, u)):
            data.postcode, data.doubt = None, ("postcode", inside)
            data.heard_outside = postcode
            return K.CHECK_VALUE  # "Was that SE1 7PB?" before "E1 7PB is outside the area"
        if data.area_checked == postcode:
            return K.OUT_OF_AREA
        data.area_pending = True  # a mishearing must not turn a customer away
        return K.CHECK_AREA
    if not filled and expecting != "name" and (spelt := name_spelled(data.name, u.text)):
        data.merge_slots(Slots(name=spelt))  # "K O W A L S K I" after "Tomasz Kowalski"
        return K.DETAILS
    if not filled and expecting != "name" and (fuller := fuller_name(data.name, u.text)):
        data.merge_slots(Slots(name=fuller))  # "Karen Jones" after "Karen": the whole name
        return K.DETAILS
    if not filled:
        if data.miss(expecting) > config.max_misses:
            return hand_over(profile)
        return K.UNCLEAR
    if data.missing_detail() is None:
        return K.READY_TO_BOOK if data.chosen is not None else K.DETAILS_READY
    return K.DETAILS


def classify_unsure_detail(
    data: BookingData, profile: CompanyProfile, config: WorkflowConfig, u: Utterance
) -> Kind | None:
    """A line heard in doubt while a detail is asked: confirm the likely value ("Was
    that ...?") instead of re-asking blindly; ``None`` when nothing of it is usable
    and the detail has not run out of misses (asked to say it again)."""
    wanted = data.missing_detail()
    kept = keep_sure_details(data, u, wanted)
    if kept is not None:
        return classify_collect(data, profile, config, wanted, u, *kept)
    value = getattr(u.slots, wanted, None) if wanted else None
    if wanted == "name" and not plausible_name(value):
        value = None  # a question or a sentence heard in its place: not a name
    if wanted == "address" and value is not None:
        value = known_reading(data, value) or value  # "12 regions straight": 12 Regent Street
    likely = (
        likely_value(wanted, value)
        or alternative_value(data, profile, wanted, u)
        or guess_postcode(data, profile, wanted, u.text)
    )
    if wanted in AS_HEARD and (got := heard_again(data, wanted, likely)) is not None:
        # Heard the same again after a no: never read back nor taken as it is;
        # asked another way, at last kept marked as not confirmed.
        return classify_collect(data, profile, config, wanted, u, got, None) if got else K.DETAILS
    if likely is not None and likely in data.rejected:
        # A turned-down number or postcode is never read back: ask another way.
        return hand_over(profile) if data.miss(wanted) > config.max_misses else K.DETAILS
    if likely is not None:
        data.doubt = (wanted, likely)  # type: ignore[assignment]
        return K.CHECK_VALUE
    if data.miss(wanted) > config.max_misses:
        return hand_over(profile)
    return None


def hold_to_check(data: BookingData, u: Utterance) -> bool:
    """A name or address held to read back before it is taken: one holding a word the
    recogniser doubted (``BookingData.hold_doubted``), or a street's name it misheard
    as words it knows (``hold_street_guess``); an address whose doubted words are its
    street's name is read back with the known name it sounds like, when one is spelled
    much alike, else as heard."""
    address = u.slots.address
    # the doubted words of the address itself ("[check: that's million] That's 14 million")
    in_address = address is not None and u.doubted & set(re.findall(r"[\w']+", address.lower()))
    if in_address and hold_street_guess(data, u.slots, strict=True):
        return True  # "[check: millerode] 20 millerode": "Was that 20 Mill Road?"
    if in_address and hold_known_reading(data, u.slots):
        return True  # "[check: regions] 12 regions straight" beside "12 Regents Street"
    return data.hold_doubted(u.slots, u.doubted) or hold_street_guess(data, u.slots)


def hold_known_reading(data: BookingData, slots: Slots) -> bool:
    """A doubted address whose street the prior does not know, while another reading
    of the line has the same house number and a street it knows ("12 regions straight"
    beside "12 Regents Street"): that one is read back first ("Was that 12 Regent
    Street?"); a no to it is a no to the line as heard (``BookingData.mended``)."""
    address = slots.address
    if address is None or data.offer_open or data.doubt is not None:
        return False
    if data.checks.get("address", 0) >= 2 or (known := known_reading(data, address)) is None:
        return False
    data.checks["address"] = data.checks.get("address", 0) + 1
    data.merge_slots(attrs.evolve(slots, address=None))
    data.changed, data.doubt, data.doubt_word = [], ("address", known), True
    return True


def known_reading(data: BookingData, address: str) -> str | None:
    """The first other reading of the line (``data.address_readings``, then dropped
    from them) with ``address``'s house number and a street the prior knows, when
    ``address``'s street it does not; the heard one is kept behind it (first heard,
    and turned down with it)."""
    number = _HOUSE.match(address)
    if number is None or known_street(address) is not None:
        return None
    for reading in data.address_readings:
        known = known_street(reading)
        if known is None or known in data.rejected:
            continue
        if (m := _HOUSE.match(known)) is not None and m.group(1) == number.group(1):
            data.address_readings.remove(reading)
            data.first_heard.setdefault("address", address)
            data.mended[known] = address
            return known
    return None


def address_from_readings(data: BookingData, u: Utterance) -> Utterance:
    """An answer to "what's the address?" whose best reading lost part of the address,
    mended from the recogniser's other readings of the line (``readings``): the house
    number of one with the same street word ("start the green lane" beside "30 cream
    lane": 30 green lane), or a whole one when the best has no street word ("14
    million" beside "14 mil lane"). Mended, it is marked doubted (read back before it
    is taken); the other whole readings are kept to read back after a no."""
    top = u.slots.address
    others: list[str] = []
    for reading in u.alternatives:
        found = whole_address(reading)
        seen = [address_key(a) for a in (*others, *([top] if top else []))]
        if found is not None and found not in data.rejected and address_key(found) not in seen:
            others.append(found)
    data.address_readings = others
    if not others or (top is not None and whole_address(top) is not None):
        return u
    if top is not None and not re.search(r"\d", top):
        same_street = [a for a in others if a.split()[-1].lower() == top.split()[-1].lower()]
        if not same_street:
            return u
        number, *name = same_street[0].split()
        mended = " ".join([number, *top.split()[-len(name) :]])
    else:
        mended = others.pop(0)
    if top is not None:
        data.mended[mended] = top  # a no to the mended one is a no to the line as heard
    doubted = frozenset(re.findall(r"[\w']+", mended.lower()))  # all of it: read back
    return attrs.evolve(u, slots=attrs.evolve(u.slots, address=mended), doubted=doubted)


def hold_street_guess(data: BookingData, slots: Slots, *, strict: bool = False) -> bool:
    """An address whose street's name the recogniser misheard as words it knows ("19
    rows straight") read back with the known name it sounds like ("Was that 19 Rose
    Street?", ``street_prior``) before it is taken; the other details said with it are
    kept. A no goes on as for any address turned down (spelled, the heard one kept
    last); a guess is never read back twice, nor an address read back twice already."""
    address = slots.address
    if address is None or data.offer_open or data.doubt is not None:
        return False
    if address == data.address or data.checks.get("address", 0) >= 2:
        return False
    guess = _street_guess(data, address, strict=strict)
    if guess is None:
        return False
    data.checks["address"] = data.checks.get("address", 0) + 1
    data.merge_slots(attrs.evolve(slots, address=None))
    data.changed, data.doubt, data.doubt_word = [], ("address", guess), True
    return True


def _street_guess(data: BookingData, heard: str, *, strict: bool = False) -> str | None:
    """The prior's guess for ``heard`` unless turned down; the heard address is the
    first hearing (kept, marked for the office, if nothing better comes)."""
    guess = street_guess(heard, strict=strict)
    if guess is None or guess in data.rejected or heard in data.rejected:
        return None
    data.first_heard.setdefault("address", heard)
    return guess


_HOUSE = re.compile(r"^\s*(\d+[a-z]?)\b", re.IGNORECASE)


def answer_to_street_check(data: BookingData, u: Utterance) -> Utterance:
    """An answer to "Was that 22 Bay Crest Street?" that corrects the street alone keeps
    the house number read back: "No, it's Baker Street" is 22 Baker Street. A name or
    street spelled instead of a yes or no ("B, A, K, E, R") is a no, and the spelling
    its answer: the value is turned down as after a no, so the spelling is taken as
    after "could you spell ...?" (``BookingData.spelled``) and read back in turn."""
    if data.doubt is None or u.intent is Intent.YES:
        return u
    field, value = data.doubt
    if field in AS_HEARD and looks_spelled(u.text) and spelled_word(u.text) is not None:
        data.doubt = None
        data.turned_down(field, value)
        return u
    new = u.slots.address
    house = _HOUSE.match(value)
    if field != "address" or new is None or house is None or re.search(r"\d", new):
        return u
    return attrs.evolve(u, slots=attrs.evolve(u.slots, address=f"{house.group(1)} {new}"))
