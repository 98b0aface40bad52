"""What a tool's result, or a tool call the model asks for, does to the booking:
update its data and name the table's ``Kind`` for the workflow to apply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from agent.dialogue.replies import DETAIL_ORDER
from agent.dialogue.slots import TimeWindow
from agent.dialogue.tools import (
    AMEND_BOOKING,
    BOOK_APPOINTMENT,
    CHECK_AVAILABILITY,
    GET_QUOTE,
    REQUEST_CALLBACK,
    AmendRequest,
    AvailabilityRequest,
    BookingRequest,
    CallbackRequest,
    EndCallRequest,
    InvalidToolCall,
    QuoteRequest,
    ToolRequest,
    ToolResult,
    TransferRequest,
)
from agent.dialogue.workflow_actions import KeepPending
from agent.dialogue.workflow_data import BookingData
from agent.dialogue.workflow_move import classify_move_result
from agent.dialogue.workflow_table import Kind

__all__ = ["admit_model_request", "callback_result", "classify_result"]

K = Kind


def classify_result(data: BookingData, result: ToolResult, now: float) -> Kind | None:
    """The kind of a tool result, or ``None`` for a stale or unasked-for one."""
    if result.tool != data.pending_tool:
        return None  # stale or unasked-for: nothing to do
    data.pending_tool = None
    ok = result.status == "ok"
    if result.tool == GET_QUOTE:
        data.quote_data = dict(result.data) if ok else {}
        return K.QUOTED if ok else K.QUOTE_FAILED
    if result.tool == AMEND_BOOKING:
        if data.moving is not None:
            return classify_move_result(data, result)
        if ok:
            return K.AMENDED
        return K.AMEND_PENDING if result.data.get("pending") else K.AMEND_FAILED
    if result.status == "invalid":
        field = result.field if result.field in DETAIL_ORDER else "postcode"
        setattr(data, field, None)
        data.invalid_field = field
        if result.tool == BOOK_APPOINTMENT:
            data.booking_n += 1
            return K.BOOKING_INVALID
        return K.INVALID_DETAIL
    if result.tool == CHECK_AVAILABILITY:
        if not ok:
            return K.AVAILABILITY_FAILED
        data.offers = _slots_from(result.data, now, data.profile.timezone)
        data.offer_index, data.offer_open = -1, False
        return K.SLOTS_FOUND if data.offers else K.NO_SLOTS
    if result.tool == BOOK_APPOINTMENT:
        if ok:
            data.booking_id = str(result.data.get("booking_id", "")) or "pending"
            return K.BOOKED
        if result.status == "slot_taken":
            data.booking_n += 1
            if data.chosen in data.offers:
                data.offer_index = data.offers.index(data.chosen) - 1
                data.offers.remove(data.chosen)
            data.chosen = None
            return K.SLOT_TAKEN
        data.booking_pending = True
        return K.BOOKING_FAILED
    return None


def admit_model_request(data: BookingData, request: ToolRequest) -> Kind:
    """State gates for the LLM mode; records what the model learned from the caller.

    Raises ``InvalidToolCall`` (its text goes back to the model) for a second
    booking, a slot that was never offered, a second callback or one with no number.
    """
    if isinstance(request, QuoteRequest):
        data.service_id = request.service_id
        data.problem = data.problem or request.problem
        data.pending_tool = GET_QUOTE
        return K.MODEL_QUOTE
    if isinstance(request, AvailabilityRequest):
        data.service_id, data.postcode = request.service_id, request.postcode
        data.when = TimeWindow(request.earliest, request.latest, "model")
        data.pending_tool = CHECK_AVAILABILITY
        return K.MODEL_AVAILABILITY
    if isinstance(request, BookingRequest):
        if data.booked:
            raise InvalidToolCall(
                BOOK_APPOINTMENT, "this call already has a booking; only one booking per call"
            )
        slot = next((s for s in data.offers if abs(s[0] - request.slot_start) < 60), None)
        if slot is None:
            raise InvalidToolCall(
                BOOK_APPOINTMENT,
                "that slot was not offered by check_availability; check availability first",
                field="slot_start",
            )
        data.service_id, data.chosen = request.service_id, slot
        data.name, data.phone, data.address = request.name, request.phone, request.address
        data.postcode, data.problem = request.postcode, request.problem or data.problem
        data.authorized = data.booking_request()
        data.pending_tool = BOOK_APPOINTMENT
        return K.MODEL_BOOK
    if isinstance(request, AmendRequest):
        if not data.booked:
            raise InvalidToolCall(AMEND_BOOKING, "there is no booking in this call to amend")
        slot = None
        if request.slot is not None:
            slot = next((s for s in data.offers if abs(s[0] - request.slot[0]) < 60), None)
            if slot is None:
                raise InvalidToolCall(
                    AMEND_BOOKING,
                    "that slot was not offered by check_availability; check availability first",
                    field="slot_start",
                )
        for field, value in request.changes:
            setattr(data, field, value)
        data.amending, data.moving = request.changes, slot
        data.pending_tool = AMEND_BOOKING
        return K.MODEL_AMEND
    if isinstance(request, CallbackRequest):
        return _admit_callback(data, request)
    if isinstance(request, TransferRequest):
        return K.MODEL_TRANSFER
    assert isinstance(request, EndCallRequest)
    return K.MODEL_END


def _admit_callback(data: BookingData, request: CallbackRequest) -> Kind:
    """One callback a call, to the number given, else the booking's, else the caller id."""
    if data.callback_phone is not None:
        raise InvalidToolCall(
            REQUEST_CALLBACK,
            f"a callback is already kept for this call: the office will call {data.callback_phone}",
        )
    number = request.phone or data.phone or data.caller_id
    if not number:
        raise InvalidToolCall(
            REQUEST_CALLBACK,
            "no number to call back: ask the caller for one and give it as phone",
            field="phone",
        )
    data.callback_phone = number
    return K.MODEL_CALLBACK


def callback_result(action: KeepPending) -> ToolResult:
    """What the model is told of the callback its request_callback kept."""
    phone = action.data.get("phone")
    return ToolResult(
        REQUEST_CALLBACK,
        "ok",
        {"kept": True, "phone": phone, "note": f"kept: the office will call {phone}"},
    )


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
