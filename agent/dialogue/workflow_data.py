"""What one call's booking workflow knows: the caller's details, the offers, the
booking's progress, and the pure operations on them.

``BookingWorkflow`` owns one ``BookingData``; its action builder and its tool
result classification read and update the same object.
"""

from __future__ import annotations

from typing import Any

from agent.business.company import CompanyProfile
from agent.business.ukformats import parse_postcode, to_e164
from agent.dialogue.replies import DETAIL_ORDER
from agent.dialogue.slots import Slots, TimeWindow
from agent.dialogue.tools import BookingRequest, ToolRequest
from agent.dialogue.workflow_actions import Utterance

__all__ = ["BookingData"]

_MAX_DIGITS = 15  # E.164 maximum; a longer entry ends by itself


class BookingData:
    """The details and progress of one call's booking (for ``profile``'s company)."""

    def __init__(self, profile: CompanyProfile, call_uuid: str, caller_id: str | None) -> None:
        if not call_uuid:
            raise ValueError("call_uuid must not be empty (it makes the idempotency key)")
        self.profile, self.call_uuid = profile, call_uuid
        self.caller_id = to_e164(caller_id) if caller_id else None
        # what the caller told us
        self.service_id: str | None = None
        self.problem = ""
        self.name: str | None = None
        self.address: str | None = None
        self.postcode: str | None = None
        self.phone: str | None = None
        self.when: TimeWindow | None = None
        self.invalid_field: str | None = None
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
        self.last_booking: BookingRequest | None = None
        # DTMF typed into the phone slot so far
        self.digits = ""

    @property
    def idempotency_key(self) -> str:
        return f"{self.call_uuid}:{self.booking_n}"

    @property
    def booked(self) -> bool:
        """A booking was made, or is kept to be made later: one booking per call."""
        return self.booking_id is not None or self.booking_pending

    def missing_detail(self) -> str | None:
        return next((d for d in DETAIL_ORDER if getattr(self, d) is None), None)

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
        """Store what was said; return the names filled and the first invalid one."""
        filled: set[str] = set()
        invalid = None
        if slots.service_id and self.profile.service(slots.service_id):
            if slots.service_id != self.service_id:
                filled.add("service_id")
            self.service_id = slots.service_id
        for field in ("name", "address"):
            if (value := getattr(slots, field)) is not None:
                setattr(self, field, value)
                filled.add(field)
        if slots.postcode is not None:
            pc = parse_postcode(slots.postcode)
            if pc is None:
                invalid = "postcode"
            else:
                self.postcode = str(pc)
                filled.add("postcode")
        if slots.phone is not None:
            e164 = to_e164(slots.phone)
            if e164 is None:
                invalid = invalid or "phone"
            else:
                self.phone = e164
                filled.add("phone")
        if slots.when is not None:
            self.when = slots.when
            self.offers, self.offer_index, self.offer_open, self.chosen = [], -1, False, None
            filled.add("when")
        self.invalid_field = invalid
        return filled, invalid

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
            problem=self.problem,
            priority=self.priority,
        )
        self.last_booking = request
        return request
