"""The call observer's pure helpers: look-ups on the timeline, the outcome word,
provider error kinds, and the personal values a caller's words give away."""

from __future__ import annotations

import pytest

from agent.base.errors import (
    ProviderConnectError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeout,
)
from agent.base.logs import ADDRESS, NAME, PHONE, POSTCODE
from agent.observe.timeline import (
    barge_in_onset,
    classify_outcome,
    error_kind,
    expecting_from_question,
    latest_in,
    personal_arguments,
    personal_values,
)


def test_latest_in_is_half_open():
    times = [1.0, 2.0, 3.0]
    assert latest_in(times, 1.0, 3.0) == 3.0
    assert latest_in(times, 1.0, 2.5) == 2.0
    assert latest_in(times, 2.0, 2.5) is None  # lo is excluded
    assert latest_in(times, 0.0, 0.5) is None
    assert latest_in([], 0.0, 9.0) is None


def test_barge_in_onset():
    starts = [1.0, 4.0, 9.5]
    # The caller's onset after the agent became audible.
    assert barge_in_onset(starts, interrupted_at=10.2, first_frame_at=8.0) == 9.5
    # An onset before the agent spoke is not this barge-in: the interruption time is.
    assert barge_in_onset(starts, interrupted_at=9.0, first_frame_at=5.0) == 9.0
    # Nor is one long before (a cough three seconds ago): a key press, say.
    assert barge_in_onset(starts, interrupted_at=20.0, first_frame_at=2.0) == 20.0
    assert barge_in_onset(starts, interrupted_at=4.5, first_frame_at=None) == 4.0


@pytest.mark.parametrize(
    ("end_reason", "kind", "reason", "tools", "expected"),
    [
        ("error", "transfer", "", [], "error"),
        ("agent", "transfer", "asked", [("book_appointment", "ok", {})], "transferred"),
        ("hangup", None, "", [("get_quote", "ok", {}), ("book_appointment", "ok", {})], "booked"),
        (
            "agent",
            "end",
            "",
            [("book_appointment", "failed", {"pending": True})],
            "booking-pending",
        ),
        ("hangup", None, "", [("get_quote", "ok", {})], "quoted"),
        ("agent", "end", "silence", [], "silence"),
        ("agent", "end", "model_end", [("get_quote", "refused", {})], "completed"),
        ("hangup", None, "", [], "abandoned"),
        ("max-duration", None, "", [], "max-duration"),
    ],
)
def test_outcome(end_reason, kind, reason, tools, expected):
    assert classify_outcome(end_reason, kind, reason, tools) == expected


def test_outcome_of_a_call_without_a_conversation():
    assert classify_outcome("hangup", None, "", [], conversation=False) == "ended"


def test_error_kinds():
    assert error_kind(ProviderTimeout("x", "slow")) == "timeout"
    assert error_kind(ProviderConnectError("x", "refused")) == "connect"
    assert error_kind(ProviderStatusError("x", "boom", status=503)) == "status_5xx"
    assert error_kind(ProviderStatusError("x", "no", status=429)) == "status_4xx"
    assert error_kind(ProviderStatusError("x", "ws", status=4008)) == "status"
    assert error_kind(ProviderError("x", "odd")) == "error"


def test_what_the_agent_asked_for():
    assert expecting_from_question("Can I take your name, please?") == "name"
    assert expecting_from_question("And what's the best number to reach you?") == "phone"
    assert expecting_from_question("What's the postcode there?") == "postcode"
    assert expecting_from_question("And the address of the property?") == "address"
    assert expecting_from_question("How can I help you today?") is None


def test_personal_values_in_every_form():
    assert personal_values("my name is Sarah Connor") == {NAME: ["Sarah Connor"]}
    assert personal_values("Sarah Connor", expecting="name") == {NAME: ["Sarah Connor"]}
    assert personal_values("hello there") == {}
    phone = personal_values("it's 07700 900 123")[PHONE]
    for form in ("+447700900123", "447700900123", "07700900123", "07700", "900", "123"):
        assert form in phone
    assert personal_values("SW1A 1AA please")[POSTCODE] == ["SW1A 1AA", "SW1A1AA", "SW1A", "1AA"]
    found = personal_values("it's 12 Acacia Avenue, SW1A 1AA")
    assert found[ADDRESS] == ["12 Acacia Avenue"] and "SW1A 1AA" in found[POSTCODE]


def test_personal_tool_arguments():
    found = personal_arguments(
        {
            "service_id": "leak_repair",
            "name": "Sarah Connor",
            "phone": "07700 900 123",
            "postcode": "sw1a1aa",
            "address": "12 Acacia Avenue",
            "slot_start": "2025-05-14T09:00:00+01:00",
        }
    )
    assert found[NAME] == ["Sarah Connor"] and found[ADDRESS] == ["12 Acacia Avenue"]
    assert "+447700900123" in found[PHONE] and "900" in found[PHONE]
    assert found[POSTCODE][0] == "SW1A 1AA"
    assert personal_arguments({"name": 3, "phone": ""}) == {}
