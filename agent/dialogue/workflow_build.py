"""The workflow's data and the builders behind the table's action names.

``BookingWorkflow`` (agent/workflow.py) inherits this to keep the table and the
classification in one short module; every ``_act_<name>`` here is one action
name used in ``TABLE`` and returns the concrete actions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agent.business.company import CompanyProfile
from agent.business.ukformats import parse_postcode, to_e164
from agent.dialogue.replies import DETAIL_ORDER, QUESTIONS, render
from agent.dialogue.saytext import say_phone, say_postcode, say_price, say_when
from agent.dialogue.slots import Slots, TimeWindow
from agent.dialogue.tools import (
    BOOK_APPOINTMENT,
    CHECK_AVAILABILITY,
    GET_QUOTE,
    AvailabilityRequest,
    BookingRequest,
    EndCallRequest,
    InvalidToolCall,
    QuoteRequest,
    ToolRequest,
    ToolResult,
    TransferRequest,
)
from agent.dialogue.workflow_actions import (
    Action,
    CallTool,
    EndCall,
    KeepPending,
    Say,
    Transfer,
    Utterance,
    WorkflowConfig,
)

_MAX_DIGITS = 15  # E.164 maximum; a longer entry ends by itself


class Builder:
    state: Any  # set by BookingWorkflow
    last_kind: Any

    def __init__(
        self,
        profile: CompanyProfile,
        call_uuid: str,
        now: float,
        config: WorkflowConfig,
        caller_id: str | None,
    ) -> None:
        if not call_uuid:
            raise ValueError("call_uuid must not be empty (it makes the idempotency key)")
        self.profile, self.call_uuid, self.now, self.config = profile, call_uuid, now, config
        self.caller_id = to_e164(caller_id) if caller_id else None
        # what the caller told us
        self.service_id: str | None = None
        self.problem = ""
        self.name: str | None = None
        self.address: str | None = None
        self.postcode: str | None = None
        self.phone: str | None = None
        self.when: TimeWindow | None = None
        self.last_text = ""
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
        # counters and DTMF
        self.silences = 0
        self.repeats = 0
        self.digits = ""

    # --- data -----------------------------------------------------------------

    @property
    def idempotency_key(self) -> str:
        return f"{self.call_uuid}:{self.booking_n}"

    def missing_detail(self) -> str | None:
        return next((d for d in DETAIL_ORDER if getattr(self, d) is None), None)

    @property
    def expecting(self) -> str | None:
        """The detail just asked for, so a bare answer ("Sarah", "SW1A 1AA") counts."""
        if self.state.value != "collect" or self.offer_open:
            return None
        return self.missing_detail()

    @property
    def digits_open(self) -> bool:
        return self.expecting == "phone"

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

    def note_emergency(self, keyword: str, u: Utterance) -> None:
        self.priority = True
        self.emergency_keyword = keyword
        self.merge_slots(u.slots)
        self.service_id = self.service_id or self.profile.services[0].id
        self.problem = self.problem or u.text.strip()
        self.when = TimeWindow(self.now, self.now + self.config.priority_window, "priority")

    def classify_result(self, result: ToolResult) -> Any:
        from agent.dialogue.workflow import Kind as K  # the table's kinds; imported late (cycle)

        if result.tool != self.pending_tool:
            return None  # stale or unasked-for: nothing to do
        self.pending_tool = None
        ok = result.status == "ok"
        if result.tool == GET_QUOTE:
            self.quote_data = dict(result.data) if ok else {}
            return K.QUOTED if ok else K.QUOTE_FAILED
        if result.status == "invalid":
            field = result.field if result.field in DETAIL_ORDER else "postcode"
            setattr(self, field, None)
            self.invalid_field = field
            if result.tool == BOOK_APPOINTMENT:
                self.booking_n += 1
                return K.BOOKING_INVALID
            return K.INVALID_DETAIL
        if result.tool == CHECK_AVAILABILITY:
            if not ok:
                return K.AVAILABILITY_FAILED
            self.offers = _slots_from(result.data, self.now, self.profile.timezone)
            self.offer_index, self.offer_open = -1, False
            return K.SLOTS_FOUND if self.offers else K.NO_SLOTS
        if result.tool == BOOK_APPOINTMENT:
            if ok:
                self.booking_id = str(result.data.get("booking_id", "")) or "pending"
                return K.BOOKED
            if result.status == "slot_taken":
                self.booking_n += 1
                if self.chosen in self.offers:
                    self.offer_index = self.offers.index(self.chosen) - 1
                    self.offers.remove(self.chosen)
                self.chosen = None
                return K.SLOT_TAKEN
            self.booking_pending = True
            return K.BOOKING_FAILED
        return None

    def admit_model_request(self, request: ToolRequest) -> Any:
        """State gates for the LLM mode; records what the model learned from the caller."""
        from agent.dialogue.workflow import Kind as K

        if isinstance(request, QuoteRequest):
            self.service_id = request.service_id
            self.problem = self.problem or request.problem
            self.pending_tool = GET_QUOTE
            return K.MODEL_QUOTE
        if isinstance(request, AvailabilityRequest):
            self.service_id, self.postcode = request.service_id, request.postcode
            self.when = TimeWindow(request.earliest, request.latest, "model")
            self.pending_tool = CHECK_AVAILABILITY
            return K.MODEL_AVAILABILITY
        if isinstance(request, BookingRequest):
            if self.booking_id is not None or self.booking_pending:
                raise InvalidToolCall(
                    BOOK_APPOINTMENT, "this call already has a booking; only one booking per call"
                )
            slot = next((s for s in self.offers if abs(s[0] - request.slot_start) < 60), None)
            if slot is None:
                raise InvalidToolCall(
                    BOOK_APPOINTMENT,
                    "that slot was not offered by check_availability; check availability first",
                    field="slot_start",
                )
            self.service_id, self.chosen = request.service_id, slot
            self.name, self.phone, self.address = request.name, request.phone, request.address
            self.postcode, self.problem = request.postcode, request.problem or self.problem
            self.authorized = self._booking_request()
            self.pending_tool = BOOK_APPOINTMENT
            return K.MODEL_BOOK
        if isinstance(request, TransferRequest):
            return K.MODEL_TRANSFER
        assert isinstance(request, EndCallRequest)
        return K.MODEL_END

    def _booking_request(self) -> BookingRequest:
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

    def question(self) -> str:
        state = self.state.value
        if state == "collect":
            if self.offer_open:
                return QUESTIONS["slot?"]
            detail = self.missing_detail()
            return render(self.profile, f"ask_{detail}") if detail else QUESTIONS["slot?"]
        return {
            "greet": QUESTIONS["greet"],
            "understand": QUESTIONS["service"],
            "quote": QUESTIONS["book?"],
            "confirm": QUESTIONS["confirm?"],
        }.get(state, QUESTIONS["else?"])

    def say(self, key: str, **fields: Any) -> list[Action]:
        return [Say(render(self.profile, key, **fields), key)]

    def _slot_text(self, slot: tuple[float, float] | None) -> str:
        return say_when(slot[0], self.profile.timezone, now=self.now) if slot else "the slot"

    # --- action builders (names used in TABLE) ---------------------------------

    def _act_greet(self) -> list[Action]:
        return self.say("greet")

    def _act_greet_closed(self) -> list[Action]:
        opening = self.profile.next_opening(self.now)
        text = say_when(opening, self.profile.timezone, now=self.now) if opening else "soon"
        return self.say("greet_closed", next_opening=text)

    def _act_ask_service(self) -> list[Action]:
        names = [s.name for s in self.profile.services]
        joined = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        return self.say("ask_service", services=joined)

    def _act_call_quote(self) -> list[Action]:
        assert self.service_id is not None
        self.pending_tool = GET_QUOTE
        return [CallTool(GET_QUOTE, QuoteRequest(self.service_id, self.problem))]

    def _act_say_quote(self) -> list[Action]:
        service = self.profile.service(self.service_id or "")
        assert service is not None
        price, cur = service.price, service.currency
        if price.fixed is not None:
            text = f"it's a fixed price of {say_price(price.fixed, cur)}"
        else:
            parts = []
            if price.call_out is not None:
                parts.append(f"there's a call-out charge of {say_price(price.call_out, cur)}")
            if price.hourly is not None:
                parts.append(f"then {say_price(price.hourly, cur)} an hour")
            text = ", ".join(parts)
        return self.say("quote", service=service.name.lower(), price_text=text)

    def _act_say_quote_unavailable(self) -> list[Action]:
        return self.say("quote_unavailable")

    def _act_ask_detail(self) -> list[Action]:
        detail = self.missing_detail()
        if detail is None:
            return self._act_call_availability()
        return self.say(f"ask_{detail}")

    def _act_say_invalid_detail(self) -> list[Action]:
        field = self.invalid_field or "postcode"
        if field in ("postcode", "phone"):
            return self.say(f"invalid_{field}")
        return self.say("invalid_field", field=field, question=self.question())

    def _act_say_out_of_area(self) -> list[Action]:
        return self.say("out_of_area", postcode=say_postcode(self.postcode or ""))

    def _act_call_availability(self) -> list[Action]:
        assert self.service_id and self.postcode and self.when
        self.pending_tool = CHECK_AVAILABILITY
        earliest = max(self.when.start, self.now)
        latest = max(self.when.end, earliest + 3600)
        request = AvailabilityRequest(self.service_id, self.postcode, earliest, latest)
        return [CallTool(CHECK_AVAILABILITY, request)]

    def _act_offer_slot(self) -> list[Action]:
        self.offer_index += 1
        if self.offer_index < min(len(self.offers), self.config.max_offers):
            self.offer_open = True
            return self.say("offer_slot", slot=self._slot_text(self.offers[self.offer_index]))
        return self._act_say_no_slots()

    def _act_say_no_slots(self) -> list[Action]:
        self.offers, self.offer_index, self.offer_open, self.when = [], -1, False, None
        return self.say("no_slots")

    def _act_keep_callback(self) -> list[Action]:
        return [KeepPending("callback", self.details())]

    def _act_say_availability_failed(self) -> list[Action]:
        phone = self.phone or self.caller_id
        return self.say(
            "availability_failed",
            phone=say_phone(phone) if phone else "the number you're calling from",
        )

    def _act_call_book(self) -> list[Action]:
        if self.booking_id is not None or self.booking_pending:
            return self.say("already_booked")
        if self.chosen is None:
            self.chosen = self.offers[self.offer_index]
        self.offer_open = False
        self.pending_tool = BOOK_APPOINTMENT
        return [CallTool(BOOK_APPOINTMENT, self._booking_request(), self.idempotency_key)]

    def _act_say_booked(self) -> list[Action]:
        return self.say(
            "booked",
            name=self.name,
            address=self.address,
            postcode=say_postcode(self.postcode or ""),
            slot=self._slot_text(self.chosen),
            phone=say_phone(self.phone or self.caller_id or ""),
        )

    def _act_keep_booking(self) -> list[Action]:
        assert self.last_booking is not None
        body = self.last_booking.body(self.profile, self.call_uuid)
        return [KeepPending("booking", body, self.idempotency_key)]

    def _act_say_booking_pending(self) -> list[Action]:
        return self.say("booking_pending", slot=self._slot_text(self.chosen))

    def _act_say_slot_taken(self) -> list[Action]:
        return self.say("slot_taken")

    def _act_keep_correction(self) -> list[Action]:
        return [KeepPending("correction", {**self.details(), "booking_id": self.booking_id})]

    def _act_call_authorized(self) -> list[Action]:
        assert self.authorized is not None
        name = {QuoteRequest: GET_QUOTE, AvailabilityRequest: CHECK_AVAILABILITY}.get(
            type(self.authorized), BOOK_APPOINTMENT
        )
        key = self.idempotency_key if name == BOOK_APPOINTMENT else None
        return [CallTool(name, self.authorized, key)]

    def _act_transfer_authorized(self) -> list[Action]:
        assert isinstance(self.authorized, TransferRequest)
        return [Transfer(self.authorized.target, self.authorized.reason or "model")]

    def _act_transfer_default(self) -> list[Action]:
        target = self.profile.default_transfer_target
        assert target is not None  # classification checked
        return [Transfer(target, self.last_kind.value)]

    def _act_transfer_emergency(self) -> list[Action]:
        target = self.profile.emergency_target
        assert target is not None
        return [Transfer(target, f"emergency: {self.emergency_keyword}")]

    def _act_say_emergency_transfer(self) -> list[Action]:
        target = self.profile.emergency_target
        assert target is not None
        return self._gas_safety() + self.say("emergency_transfer", target=target.name)

    def _act_say_emergency_priority(self) -> list[Action]:
        return self._gas_safety() + self.say("emergency_priority")

    def _gas_safety(self) -> list[Action]:
        return self.say("emergency_safety_gas") if "gas" in (self.emergency_keyword or "") else []

    def _act_say_transfer(self) -> list[Action]:
        target = self.profile.default_transfer_target
        return self.say("transfer", target=target.name if target else "the team")

    def _act_say_one_booking(self) -> list[Action]:
        target = self.profile.default_transfer_target
        return self.say("one_booking", target=target.name if target else "the team")

    def _act_say_anything_else(self) -> list[Action]:
        return self.say("anything_else")

    def _act_say_what_else(self) -> list[Action]:
        return self.say("what_else")

    def _act_say_correction_noted(self) -> list[Action]:
        return self.say("correction_noted")

    def _act_say_goodbye(self) -> list[Action]:
        return self.say("goodbye")

    def _act_say_no_human(self) -> list[Action]:
        return self.say("no_human")

    def _act_end_call(self) -> list[Action]:
        return [EndCall(self.last_kind.value)]

    def _act_ask_repeat(self) -> list[Action]:
        return self.say("ask_repeat")

    def _act_say_unclear(self) -> list[Action]:
        return self.say("unclear", question=self.question())

    def _act_reprompt(self) -> list[Action]:
        return self.say("reprompt", question=self.question())

    def _act_say_silence_end(self) -> list[Action]:
        return self.say("silence_end")


def _epoch(text: str, tz: ZoneInfo) -> float:
    value = datetime.fromisoformat(text)
    return (value if value.tzinfo else value.replace(tzinfo=tz)).timestamp()


def _slots_from(data: dict[str, Any], now: float, tz: ZoneInfo) -> list[tuple[float, float]]:
    """``{"slots": [{"start": iso, "end": iso}]}`` -> future (start, end) epoch pairs."""
    out = []
    for item in data.get("slots", []):
        try:
            start, end = _epoch(item["start"], tz), _epoch(item["end"], tz)
        except (KeyError, TypeError, ValueError):
            continue  # one bad slot does not spoil the others
        if end > start >= now - 60:
            out.append((start, end))
    return sorted(out)
