"""What one call's booking workflow knows: the caller's details, the offers, the
booking's progress, and the pure operations on them.

``BookingWorkflow`` owns one ``BookingData``; its action builder and its tool
result classification read and update the same object.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import attrs

from agent.business.company import CompanyProfile
from agent.business.first_names import ending_heard_after
from agent.business.postcode_districts import known_district
from agent.business.ukformats import parse_postcode, to_e164
from agent.dialogue.details import number_sounds, with_street_name
from agent.dialogue.replies import DETAIL_ORDER
from agent.dialogue.slots import Slots, TimeWindow
from agent.dialogue.spelling import looks_spelled, spelled_letters, spelled_word
from agent.dialogue.street_prior import known_spelling
from agent.dialogue.tools import BookingRequest, ToolRequest
from agent.dialogue.workflow_actions import Utterance

__all__ = ["BookingData", "likely_value"]

_MAX_DIGITS = 15  # E.164 maximum; a longer entry ends by itself


class BookingData:
    """The details and progress of one call's booking (for ``profile``'s company)."""

    def __init__(self, profile: CompanyProfile, call_uuid: str, caller_id: str | None) -> None:
        if not call_uuid:
            raise ValueError("call_uuid must not be empty (it makes the idempotency key)")
        self.profile, self.call_uuid = profile, call_uuid
        self.caller_id = to_e164(caller_id) if caller_id else None
        self.fixing: str | None = None  # the detail the caller said was wrong, asked again
        # what the caller told us
        self.service_id: str | None = None
        self.problem = ""
        self.name: str | None = None
        self.address: str | None = None
        self.postcode: str | None = None
        self.phone: str | None = None
        self.when: TimeWindow | None = None
        self.invalid_field: str | None = None
        # a problem not understood: the caller's words, kept for an engineer to look
        self.problem_said: list[str] = []
        self.assessing = False  # the service is the company's "come and take a look"
        self.not_a_job = False  # an invoice, a sales call: never offered a visit
        # the path
        self.priority = False
        self.emergency_keyword: str | None = None
        self.quote_data: dict[str, Any] = {}
        self.offers: list[tuple[float, float]] = []
        self.offer_index = -1
        self.offer_open = False
        self.chosen: tuple[float, float] | None = None
        self.pending_tool: str | None = None
        self.authorized: ToolRequest | None = None
        # one booking per call: attempt n makes the key <uuid>:<n>
        self.booking_n = 1
        self.booking_id: str | None = None
        self.booking_pending = False
        self.callback_phone: str | None = None  # the model's request_callback (one a call)
        self.last_booking: BookingRequest | None = None
        # DTMF typed into the phone slot so far
        self.digits = ""
        # doubt: details changed by the last input (field, new value), a likely value
        # heard with low confidence waiting for a yes, misses per detail, an
        # out-of-area postcode the caller has confirmed
        self.changed: list[tuple[str, str]] = []
        self.doubt: tuple[str, str] | None = None
        self.doubt_word = False  # the doubt is one word of it (or a spelling), not the line
        self.misses: dict[str, int] = {}
        self.rejected: set[str] = set()  # values read back that the caller said no to
        self.checks: dict[str, int] = {}  # read-backs of a doubted name or address
        # a name or address turned down: the surname or the street's name asked spelled
        self.spelling: tuple[str, str] | None = None
        self.respelled: dict[str, tuple[str, str]] = {}  # field: (spelled, first heard)
        self.spelled_so_far = ""  # a spelling cut short by a pause
        # a name or address still wrong after the spelling: asked once more another way,
        # then the best value kept, marked for the office as not confirmed by the caller
        self.another_way: str | None = None
        self.unconfirmed: dict[str, str] = {}
        self.first_heard: dict[str, str] = {}  # the first value of a field turned down
        self.moved_to: TimeWindow | None = None  # a time asked for after the booking
        self.moving: tuple[float, float] | None = None  # the slot it is being moved to
        self.area_checked: str | None = None
        self.area_pending = False  # "is the postcode ...?" asked, waiting for the answer
        self.heard_outside: str | None = None  # heard outside the area, one inside asked
        self.heard_phone: str | None = None  # digits heard that made no whole number
        self.amending: tuple[tuple[str, str], ...] | None = None
        self.amend_n = 0
        self.house_asked = False  # "what's the house number?" for a street without one
        self.address_readings: list[str] = []  # the recogniser's other whole addresses
        self.mended: dict[str, str] = {}  # an address read back for the line heard: that line
        # names that came of a spelling: one word alone is the surname, the first name lost
        self.spelled_names: set[str] = set()
        self.first_name_asked = False
        self.first_name_guess: str | None = None  # "Ben Thompson" read back for "Then"

    @property
    def idempotency_key(self) -> str:
        return f"{self.call_uuid}:{self.booking_n}"

    def next_amend_key(self) -> str:
        """The idempotency key of the next amendment (the contract's ``<uuid>:amend:<n>``)."""
        self.amend_n += 1
        return f"{self.call_uuid}:amend:{self.amend_n}"

    @property
    def booked(self) -> bool:
        """A booking was made, or is kept to be made later: one booking per call."""
        return self.booking_id is not None or self.booking_pending

    def missing_detail(self) -> str | None:
        """The next detail to ask for; ``"house_number"`` (once) after an address heard
        without one ("Green Lane"): the engineer has to find the door."""
        for detail in DETAIL_ORDER:
            if getattr(self, detail) is None:
                return detail
            if detail == "name" and self.surname_only():
                return "first_name"
            if detail == "address" and not self.house_asked and _numberless(self.address):
                return "house_number"
        return None

    def surname_only(self) -> bool:
        """The name is one spelled word ("Thompson", heard as "Bentonson" and spelled):
        its first name is asked for, once."""
        name = self.name or ""
        return not self.first_name_asked and " " not in name and name in self.spelled_names

    def details(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "postcode": self.postcode,
            "phone": self.phone or self.caller_id,
            "service_id": self.service_id,
            "problem": self.problem,
            "priority": self.priority,
        }

    def merge_slots(self, slots: Slots) -> tuple[set[str], str | None]:
        """Store what was said; return the names filled and the first invalid one.

        A value that replaces a different one is noted in ``changed`` (the
        read-back says the new value); a lone corrected house number or surname
        changes only that part of the address or name."""
        filled: set[str] = set()
        invalid = None
        self.changed = []
        if slots.service_id and self.profile.service(slots.service_id):
            if slots.service_id != self.service_id:
                filled.add("service_id")
            self.service_id = slots.service_id
        name = slots.name
        if name is not None and slots.correction and self.name and " " not in name:
            name = _replace_word(self.name, name)  # "it's Patel with one T": the surname only
        address = slots.address
        if address is None and slots.house_number and self.address:
            address = _new_number(self.address, slots.house_number)
        for field, value in (("name", name), ("address", address)):
            if value is not None:
                self._set(field, value, filled)
        if slots.postcode is not None:
            pc = parse_postcode(slots.postcode)
            if pc is None or not known_district(pc):  # "S0E 9SG": the shape of one, no place
                invalid = "postcode"
            else:
                self._set("postcode", str(pc), filled)
        if slots.phone is not None:
            e164 = to_e164(slots.phone)
            self.heard_phone = None if e164 else re.sub(r"\D", "", slots.phone) or None
            if e164 is None:
                invalid = invalid or "phone"
            else:
                self._set("phone", e164, filled)
        if slots.when is not None:
            if self.when is not None and self.when != slots.when:
                self.changed.append(("when", slots.when.label))
            self.when = slots.when
            self.offers, self.offer_index, self.offer_open, self.chosen = [], -1, False, None
            filled.add("when")
        self.invalid_field = invalid
        for field in filled:
            self.misses.pop(field, None)
        return filled, invalid

    def hold_doubted(self, slots: Slots, doubted: frozenset[str]) -> bool:
        """A name or address said with a word the recogniser doubted: keep the rest of
        ``slots`` and hold that one as ``doubt`` to read back. Not a value turned down
        before (heard the same again: kept as heard, see ``workflow``) nor a detail
        read back twice already (at most twice, then it is taken as heard)."""
        if not doubted or self.offer_open or self.doubt is not None:
            return False
        for field in ("name", "address"):
            value = getattr(slots, field)
            if value is None or value == getattr(self, field) or value in self.rejected:
                continue
            heard_as = set(_words(value)) | (number_sounds(value) if field == "address" else set())
            if not doubted & heard_as:
                continue
            if self.checks.get(field, 0) >= 2:
                self.unconfirmed[field] = value  # read back twice already: kept, marked
                continue
            self.checks[field] = self.checks.get(field, 0) + 1
            self.merge_slots(attrs.evolve(slots, **{field: None}))
            self.changed, self.doubt, self.doubt_word = [], (field, value), True
            return True
        return False

    def spelled(self, text: str, heard: str | None) -> str | None:
        """The answer to "could you spell ...?": ``"check"`` with the value turned down
        with the spelled word in it (the street's name, or the name's word most like it)
        held as ``doubt`` to read back ("15 part lane" + P, A, R, K: "15 Park Lane");
        ``"wait"`` for a spelling cut short by a pause (the rest is coming); ``"again"``
        when the caller said the value again, heard the same (they had not heard the
        question yet); ``"another"``/``"settled"`` when no spelling came of it (see
        ``not_confirmed``); ``None``: something else was said, to be taken as usual."""
        assert self.spelling is not None
        field, base = self.spelling
        so_far = f"{self.spelled_so_far} {text}".strip()
        letters, word = spelled_letters(so_far), spelled_word(so_far)
        short = word is None and letters and len(letters) < 3 and looks_spelled(text)
        if short and self.checks.get("wait", 0) < 2:
            self.checks["wait"] = self.checks.get("wait", 0) + 1
            self.spelled_so_far = so_far
            return "wait"
        if word is None and heard in self.rejected and not self.checks.get(f"{field}/again"):
            self.checks[f"{field}/again"] = 1
            return "again"
        self.spelling, self.spelled_so_far = None, ""
        value = None
        if word is not None:
            value = (  # "MARKETT": the street's name as the prior knows it (read back)
                with_street_name(base, known_spelling(word))
                if field == "address"
                else _replace_word(base, word)
            )
        if value is not None and value not in self.rejected:
            self.doubt, self.respelled[field] = (field, value), (value, base)
            if field == "name":
                self.spelled_names.add(value)
            self.doubt_word = True
            return "check"
        fresh = heard is not None and heard not in self.rejected
        if fresh and letters is not None and not looks_spelled(text):
            return None  # said anew rather than spelled: taken (or read back) as usual
        return self.not_confirmed(field, value or heard)

    def not_confirmed(self, field: str, heard: str | None) -> str:
        """A name or address the caller could not confirm (turned down, the spelling
        not understood or turned down too): asked once more in another way
        (``"another"``), then the best value kept (``"settled"``): the latest hearing
        not turned down, else the spelled one, else the first; marked in
        ``unconfirmed`` so the booking record tells the office. A value turned down is
        never kept while another was heard."""
        self.spelling, self.spelled_so_far = None, ""
        if not self.checks.get(f"{field}/another"):
            self.checks[f"{field}/another"] = 1
            self.another_way = field
            return "another"
        self.another_way = None
        spelled, first = self.respelled.get(field, (None, None))
        heard_ok = heard if heard is not None and heard not in self.rejected else None
        best = heard_ok or spelled or heard or first or self._first_rejected(field)
        if best:
            setattr(self, field, best)
            self.unconfirmed[field] = best
        return "settled"

    def _first_rejected(self, field: str) -> str | None:
        return self.first_heard.get(field)

    def turned_down(self, field: str, value: str) -> None:
        """A no to "Was that ...?": never read back again; a name or an address is asked
        again by spelling (said the same way, it would be heard the same way), once,
        then once more another way (``not_confirmed``)."""
        self.rejected.add(value)
        self.first_heard.setdefault(field, value)
        self.misses[field] = max(self.misses.get(field, 0), 1)
        if field not in ("name", "address"):
            return
        spellable = field == "name" or with_street_name(value, "X") is not None
        if spellable and not self.checks.get(f"{field}/spelled"):
            self.checks[f"{field}/spelled"] = 1
            self.spelling = (field, value)
            return
        self.not_confirmed(field, None)

    def unconfirmed_note(self) -> str:
        """For the booking record: the details kept though the caller never confirmed
        them (the office checks them), empty when all were."""
        return _note({f: v for f, v in self.unconfirmed.items() if getattr(self, f) == v})

    def _set(self, field: str, value: str, filled: set[str]) -> None:
        old = getattr(self, field)
        if old is not None and old != value:
            self.changed.append((field, value))
        setattr(self, field, value)
        filled.add(field)

    def miss(self, detail: str | None) -> int:
        """One more failed try at ``detail``; the number of misses so far."""
        if detail is None:
            return 0
        self.misses[detail] = self.misses.get(detail, 0) + 1
        return self.misses[detail]

    def understood(self) -> list[tuple[str, str]]:
        """The details taken so far, for a read-back."""
        out = [(f, getattr(self, f)) for f in ("name", "address", "postcode", "phone")]
        if self.when is not None:
            out.append(("when", self.when.label))
        return [(f, v) for f, v in out if v]

    def enter_digit(self, digit: str) -> tuple[set[str], str | None] | None:
        """DTMF into the phone slot: ``None`` while typing, else like ``merge_slots``."""
        if digit == "*":
            self.digits = ""
            return None
        if digit != "#":
            self.digits += digit
            if len(self.digits) < _MAX_DIGITS:
                return None
        typed, self.digits = self.digits, ""
        if not typed:
            return None
        return self.merge_slots(Slots(phone=typed))

    def note_emergency(self, keyword: str, u: Utterance, window: TimeWindow) -> None:
        """An emergency: a priority booking within ``window`` unless transferred."""
        self.priority = True
        self.emergency_keyword = keyword
        self.merge_slots(u.slots)
        self.service_id = self.service_id or self.profile.services[0].id
        self.problem = self.problem or u.text.strip()
        self.when = window

    def booking_request(self) -> BookingRequest:
        """The booking of the chosen slot with the details so far (kept as ``last_booking``)."""
        assert self.chosen is not None and self.service_id is not None
        request = BookingRequest(
            service_id=self.service_id,
            slot_start=self.chosen[0],
            slot_end=self.chosen[1],
            name=self.name or "",
            phone=self.phone or self.caller_id or "",
            address=self.address or "",
            postcode=self.postcode or "",
            problem=self.problem + self.unconfirmed_note(),
            priority=self.priority,
        )
        self.last_booking = request
        return request


def _note(unconfirmed: dict[str, str]) -> str:
    said = "; ".join(f"{field} {value!r}" for field, value in unconfirmed.items())
    return f" [Not confirmed by the caller, please check: {said}]" if said else ""


def _words(value: str) -> list[str]:
    return re.findall(r"[\w']+", value.lower())


def _replace_word(name: str, new: str) -> str:
    """``name`` with the word most like ``new`` replaced by it (a surname respelled),
    and the first name before it mended when it lost its ending to it."""
    words = name.split()
    best = max(
        range(len(words)),
        key=lambda i: (difflib.SequenceMatcher(None, words[i].lower(), new.lower()).ratio(), i),
    )
    if best > 0:  # "Ann Oluis", spelled Lewis: the "-a" of Anna heard on the surname
        words[best - 1] = ending_heard_after(words[best - 1], words[best], new)
    words[best] = new
    return " ".join(words)


# A house known by its name ("Rose Cottage", "Mill Farm") has no number to ask for.
_NAMED_HOUSE = re.compile(
    r"\b(?:cottage|farm|farmhouse|house|lodge|barn|hall|grange|rectory|vicarage)\b", re.I
)


def _numberless(address: str | None) -> bool:
    return bool(address) and not re.search(r"\d", address) and not _NAMED_HOUSE.search(address)


def _new_number(address: str, number: str) -> str:
    """``address`` with its house number replaced ("22 Baker Street" -> "41 Baker Street")."""
    if re.search(r"\b\d+[A-Za-z]?\b", address):
        return re.sub(r"\b\d+[A-Za-z]?\b", number, address, count=1)
    return f"{number} {address}"


def likely_value(field: str | None, value: object) -> str | None:
    """A value heard in doubt worth confirming: a whole phone number or postcode, a
    name, an address; ``None`` for nothing usable."""
    if field is None or not isinstance(value, str) or not value:
        return None
    if field == "phone":
        return to_e164(value)
    if field == "postcode":
        pc = parse_postcode(value)
        return str(pc) if pc and known_district(pc) else None
    return value if field in ("name", "address") else None
