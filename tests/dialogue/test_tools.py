"""Tool specs and pure argument validation."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.base.events import ToolCall
from agent.business.company import EXAMPLE_COMPANIES, load_companies
from agent.dialogue.tools import (
    TOOL_NAMES,
    AvailabilityRequest,
    BookingRequest,
    EndCallRequest,
    InvalidToolCall,
    QuoteRequest,
    ToolResult,
    TransferRequest,
    parse_tool_call,
    quote,
    tool_specs,
)

TZ = ZoneInfo("Europe/London")
PLUMBER = load_companies(EXAMPLE_COMPANIES).get("thames-plumbing")
BOOK = {
    "service_id": "leak_repair",
    "slot_start": "2025-05-14T09:00:00+01:00",
    "slot_end": "2025-05-14T11:00:00+01:00",
    "name": "Sarah Jones",
    "phone": "07700 900123",
    "address": "12 Baker Street",
    "postcode": "sw1a1aa",
    "problem": "leaking tap",
}


def call(name: str, args: Any) -> ToolCall:
    return ToolCall("c1", name, args if isinstance(args, str) else json.dumps(args))


def test_specs() -> None:
    specs = tool_specs(PLUMBER)
    assert tuple(s.name for s in specs) == TOOL_NAMES
    by_name = {s.name: s.to_openai()["function"] for s in specs}
    params = by_name["book_appointment"]["parameters"]
    assert params["additionalProperties"] is False
    assert set(params["required"]) == {
        "service_id",
        "slot_start",
        "slot_end",
        "name",
        "phone",
        "address",
        "postcode",
    }
    assert params["properties"]["service_id"]["enum"] == [
        "leak_repair",
        "boiler_repair",
        "drain_unblock",
    ]
    target = by_name["transfer_to_human"]["parameters"]["properties"]["target"]
    assert target["enum"] == ["office", "on-call engineer"]
    assert "enum" not in tool_specs()[0].parameters["properties"]["service_id"]


def test_valid_calls_become_typed_requests() -> None:
    assert parse_tool_call(call("get_quote", {"service_id": "leak_repair"}), PLUMBER) == (
        QuoteRequest("leak_repair", "")
    )
    avail = parse_tool_call(
        call(
            "check_availability",
            {
                "service_id": "boiler_repair",
                "postcode": "SE1 7PB",
                "earliest": "2025-05-14T08:00:00",
                "latest": "2025-05-14T12:00:00+01:00",
            },
        ),
        PLUMBER,
    )
    assert isinstance(avail, AvailabilityRequest)
    assert avail.earliest == datetime(2025, 5, 14, 8, 0, tzinfo=TZ).timestamp()  # naive: local
    assert avail.query(PLUMBER) == {
        "service": "boiler_repair",
        "postcode": "SE1 7PB",
        "from": "2025-05-14T08:00:00+01:00",
        "to": "2025-05-14T12:00:00+01:00",
    }
    book = parse_tool_call(call("book_appointment", BOOK), PLUMBER)
    assert isinstance(book, BookingRequest)
    assert (book.phone, book.postcode) == ("+447700900123", "SW1A 1AA")
    body = book.body(PLUMBER, "uuid-1")
    assert body["quote"] == {"amount": 85.0, "currency": "GBP"}  # from the price list
    assert body["slot"]["start"] == "2025-05-14T09:00:00+01:00" and body["call_uuid"] == "uuid-1"
    transfer = parse_tool_call(call("transfer_to_human", {"target": "Office"}), PLUMBER)
    assert isinstance(transfer, TransferRequest) and transfer.target.dial == "PJSIP/1001"
    assert parse_tool_call(call("end_call", ""), PLUMBER) == EndCallRequest("")


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("rm_rf", {}, "no such tool"),
        ("get_quote", "[1]", "not a JSON object"),
        ("get_quote", "{oops", "not a JSON object"),
        ("get_quote", {"service_id": "roofing"}, "get_quote.service_id: unknown service 'roofing'"),
        ("get_quote", {}, "get_quote.service_id: expected a non-empty string"),
        ("book_appointment", {**BOOK, "postcode": "SW10A"}, "not a UK postcode"),
        ("book_appointment", {**BOOK, "postcode": "N1 9GU"}, "outside the service area"),
        ("book_appointment", {**BOOK, "phone": "12345"}, "book_appointment.phone"),
        ("book_appointment", {**BOOK, "slot_start": "tomorrow"}, "not an ISO 8601"),
        ("book_appointment", {**BOOK, "slot_end": BOOK["slot_start"]}, "after slot_start"),
        ("book_appointment", {**BOOK, "name": "  "}, "book_appointment.name"),
        (
            "check_availability",
            {
                "service_id": "leak_repair",
                "postcode": "SW1A 1AA",
                "earliest": "2025-05-14T12:00:00",
                "latest": "2025-05-14T08:00:00",
            },
            "latest must be after earliest",
        ),
        ("transfer_to_human", {"target": "PJSIP/9999"}, "not an allowed target; allowed: office"),
        ("transfer_to_human", {"target": "SIP/+447700900999"}, "not an allowed target"),
    ],
)
def test_bad_calls_are_refused_with_a_message(name: str, args: Any, message: str) -> None:
    with pytest.raises(InvalidToolCall) as info:
        parse_tool_call(call(name, args), PLUMBER)
    assert message in str(info.value)


def test_quote_and_result_messages() -> None:
    assert quote(PLUMBER, "drain_unblock") == {
        "service": "Drain unblocking",
        "currency": "GBP",
        "fixed": 120.0,
    }
    with pytest.raises(InvalidToolCall, match="unknown service"):
        quote(PLUMBER, "nope")
    result = ToolResult("book_appointment", "invalid", {}, error="bad phone", field="phone")
    assert json.loads(result.for_model()) == {
        "status": "invalid",
        "error": "bad phone",
        "field": "phone",
    }
