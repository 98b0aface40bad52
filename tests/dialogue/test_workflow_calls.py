"""The booking workflow: whole conversations and edge cases (the table rows: ``test_workflow``)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from agent.base.events import ToolCall
from agent.business.company import parse_company
from agent.dialogue.tools import InvalidToolCall, ToolResult
from agent.dialogue.workflow import (
    BookingWorkflow,
    CallTool,
    Dtmf,
    EndCall,
    KeepPending,
    Kind,
    Silence,
    State,
    Transfer,
    WorkflowConfig,
)
from agent.dialogue.workflow_build import Step
from tests.dialogue.test_callers import to_details
from tests.dialogue.test_workflow import (
    BOOK_ARGS,
    DATA,
    NOW,
    PLUMBER,
    SLOT_A,
    SLOT_B,
    SLOTS,
    SPARKS,
    SUNDAY_10,
    YES,
    epoch,
    fill,
    make,
    said,
    text,
    with_offer,
)

# --- whole conversations ---------------------------------------------------------


def test_happy_path_books_once_and_reads_back() -> None:
    wf = make()
    assert said(wf.start(NOW)) == ["greet"]
    (quote_call,) = wf.hear("my kitchen tap is leaking", NOW)
    assert isinstance(quote_call, CallTool) and quote_call.name == "get_quote"
    assert quote_call.request.service_id == "leak_repair"
    quoted = wf.handle(ToolResult("get_quote", "ok", {"call_out": 85.0}), NOW)
    assert "85 pounds" in text(quoted) and "65 pounds an hour" in text(quoted)
    steps = [
        ("yes please", "ask_name"),
        ("Sarah Jones", "ask_address"),
        ("12 Baker Street", "ask_postcode"),
        ("s w one a one a a", "ask_phone"),
        ("oh seven seven double oh nine double oh one two three", "ask_when"),
    ]
    for words, asked in steps:
        assert said(wf.hear(words, NOW)) == [asked], words
    (avail,) = wf.hear("tomorrow morning", NOW)
    assert isinstance(avail, CallTool) and avail.name == "check_availability"
    assert avail.request.query(PLUMBER)["from"] == "2025-05-14T08:00:00+01:00"
    offer = wf.handle(ToolResult("check_availability", "ok", SLOTS), NOW)
    assert "tomorrow at nine in the morning" in text(offer)
    assert "eleven in the morning" in text(wf.hear("no, later please", NOW))
    (book,) = wf.hear("yes that's fine", NOW)
    assert isinstance(book, CallTool) and book.idempotency_key == "call-1:1"
    body = book.request.body(PLUMBER, "call-1")
    assert body["customer"] == {
        "name": "Sarah Jones",
        "phone": "+447700900123",
        "address": "12 Baker Street",
        "postcode": "SW1A 1AA",
    }
    assert body["slot"] == {"start": SLOT_B[0], "end": SLOT_B[1]}
    assert body["quote"] == {"amount": 85.0, "currency": "GBP"}
    readback = text(wf.handle(ToolResult("book_appointment", "ok", {"booking_id": "B7"}), NOW))
    assert "S W 1 A, 1 A A" in readback and "0 7 7 0 0, 9 0 0, 1 2 3" in readback
    assert said(wf.hear("yes", NOW)) == ["anything_else"]
    end = wf.hear("no thanks", NOW)
    assert said(end) == ["goodbye"] and isinstance(end[-1], EndCall)
    assert wf.state is State.END and wf.data.booking_id == "B7"


def test_no_double_booking() -> None:
    wf = make()
    with_offer(wf)
    wf.state = State.COLLECT
    (book,) = wf.handle(YES, NOW)
    assert book.idempotency_key == "call-1:1"
    # a second model call while the first is in flight, and after it succeeded
    call = ToolCall("t2", "book_appointment", json.dumps(BOOK_ARGS))
    with pytest.raises(InvalidToolCall, match="wait for the book_appointment"):
        wf.authorize(call, NOW)
    wf.handle(ToolResult("book_appointment", "ok", {"booking_id": "B1"}), NOW)
    with pytest.raises(InvalidToolCall, match="one booking per call"):
        wf.authorize(call, NOW)
    # the offline path refuses too
    step = Step(wf.state, Kind.ACCEPT_SLOT, NOW)
    assert wf.builder.build(["call_book"], step)[0].key == "already_booked"
    # the same result delivered twice (a retry) changes nothing
    assert wf.handle(ToolResult("book_appointment", "ok", {"booking_id": "B1"}), NOW) == ()


def test_slot_taken_offers_next_with_a_new_key() -> None:
    wf = make()
    with_offer(wf)
    wf.state = State.COLLECT
    wf.handle(YES, NOW)
    taken = wf.handle(ToolResult("book_appointment", "slot_taken"), NOW)
    assert said(taken) == ["slot_taken", "offer_slot"] and "eleven" in text(taken)
    (book,) = wf.handle(YES, NOW)
    assert book.idempotency_key == "call-1:2"
    assert book.request.slot_start == epoch(SLOT_B[0])


def test_booking_failure_keeps_it_pending_with_the_same_key() -> None:
    wf = make()
    with_offer(wf)
    wf.state = State.COLLECT
    (book,) = wf.handle(YES, NOW)
    actions = wf.handle(ToolResult("book_appointment", "failed", error="timeout"), NOW)
    keep = actions[0]
    assert isinstance(keep, KeepPending) and keep.kind == "booking"
    assert keep.idempotency_key == book.idempotency_key
    assert keep.data["customer"]["phone"] == "+447700900123"
    assert said(actions) == ["booking_pending"] and wf.state is State.CLOSE
    with pytest.raises(InvalidToolCall, match="one booking"):
        wf.authorize(ToolCall("t", "book_appointment", json.dumps(BOOK_ARGS)), NOW)


def test_booking_invalid_asks_again_then_books_with_next_key() -> None:
    wf = make()
    with_offer(wf)
    wf.state = State.COLLECT
    wf.handle(YES, NOW)
    again = wf.handle(ToolResult("book_appointment", "invalid", field="phone"), NOW)
    assert said(again) == ["invalid_phone"] and wf.data.phone is None
    (book,) = wf.hear("07700 900456", NOW)
    assert isinstance(book, CallTool) and book.idempotency_key == "call-1:2"
    assert book.request.phone == "+447700900456"


def test_quote_and_availability_failures_move_on() -> None:
    wf = make()
    wf.start(NOW)
    wf.hear("my drain is blocked", NOW)
    failed = wf.handle(ToolResult("get_quote", "failed"), NOW)
    assert said(failed) == ["quote_unavailable"]
    assert said(wf.hear("yes", NOW)) == ["ask_name"]
    fill(wf, skip=("when",))
    wf.hear("tomorrow afternoon", NOW)
    actions = wf.handle(ToolResult("check_availability", "failed"), NOW)
    assert isinstance(actions[0], KeepPending) and actions[0].kind == "callback"
    assert "0 7 7 0 0" in text(actions) and wf.state is State.CLOSE


def test_stale_tool_result_is_ignored() -> None:
    wf = make()
    wf.start(NOW)
    assert wf.handle(ToolResult("book_appointment", "ok", {"booking_id": "X"}), NOW) == ()
    assert wf.data.booking_id is None and wf.state is State.UNDERSTAND


def test_silence_reprompts_three_times_then_ends() -> None:
    wf = make()
    wf.start(NOW)
    for _ in range(3):
        assert said(wf.handle(Silence(), NOW)) == ["reprompt"]
    wf.hear("hello?", NOW)  # speech resets the count
    for _ in range(3):
        assert said(wf.handle(Silence(), NOW)) == ["reprompt"]
    end = wf.handle(Silence(), NOW)
    assert said(end) == ["silence_end"] and isinstance(end[-1], EndCall)
    assert wf.state is State.END


def test_low_confidence_asks_to_repeat_then_offers_a_person() -> None:
    wf = make(max_repeats=2, assess_after=5)  # before an engineer is offered to look
    wf.start(NOW)
    assert said(wf.hear("mumble", NOW, confidence=0.3)) == ["ask_repeat"]
    assert said(wf.hear("mumble", NOW, confidence=0.49)) == ["ask_repeat"]
    actions = wf.hear("mumble", NOW, confidence=0.1)
    assert isinstance(actions[-1], Transfer) and actions[-1].target.name == "office"
    assert make().hear("my tap leaks", NOW, confidence=0.5)  # 0.5 itself is fine


def test_dtmf_phone_entry() -> None:
    wf = make()
    fill(wf, skip=("phone", "when"))
    wf.state = State.COLLECT
    assert wf.digits_open
    for digit in "0799":
        assert wf.handle(Dtmf(digit), NOW) == ()
    wf.handle(Dtmf("*"), NOW)  # start again
    for digit in "07700900123":
        wf.handle(Dtmf(digit), NOW)
    assert said(wf.handle(Dtmf("#"), NOW)) == ["ask_when"]
    assert wf.data.phone == "+447700900123" and not wf.digits_open


def test_the_keypad_offered_for_a_number_said_unasked_takes_the_number() -> None:
    """The number said while the address was asked, heard short: the agent offers the
    keypad, so the digits typed go into the number, not nowhere (seen in the corpus)."""
    call = to_details()
    call.say("Kate Morris")
    assert "keypad" in call.say("077009009") and call.wf.expecting == "address"
    assert call.wf.digits_open
    for digit in "07700900999#":
        actions = call.wf.handle(Dtmf(digit), NOW)
    assert call.wf.data.phone == "+447700900999" and not call.wf.digits_open
    assert "address" in text(actions)  # the address is still to come
    call.wf.handle(Dtmf("0"), NOW)
    assert call.wf.state is State.TRANSFER  # outside digit entry 0 is a person again


def test_dtmf_bad_number_is_asked_again() -> None:
    wf = make()
    fill(wf, skip=("phone",))
    wf.state = State.COLLECT
    for digit in "123#":
        actions = wf.handle(Dtmf(digit), NOW)
    assert said(actions) == ["heard_phone"] and wf.data.phone is None  # says what it heard


def test_dtmf_zero_asks_for_a_person_only_outside_entry() -> None:
    wf = make()
    wf.start(NOW)
    actions = wf.handle(Dtmf("0"), NOW)
    assert isinstance(actions[-1], Transfer) and wf.state is State.TRANSFER
    off = make(human_digit=None)
    off.start(NOW)
    assert off.handle(Dtmf("0"), NOW) == () and off.state is State.UNDERSTAND
    assert make().handle(Dtmf("5"), NOW) == ()


def test_out_of_hours_emergency_goes_to_on_call() -> None:
    wf = make(now=SUNDAY_10)
    wf.start(SUNDAY_10)
    actions = wf.hear("there's a burst pipe and water everywhere", SUNDAY_10)
    transfer = actions[-1]
    assert isinstance(transfer, Transfer) and transfer.target.dial == "PJSIP/1099"
    assert said(actions) == ["emergency_transfer"] and wf.state is State.TRANSFER


def test_gas_smell_gets_safety_advice() -> None:
    wf = make()
    wf.start(NOW)
    actions = wf.hear("I can smell gas in the hall", NOW)
    assert said(actions) == ["emergency_safety_gas", "emergency_transfer"]


def test_a_carbon_monoxide_alarm_gets_its_own_safety_advice() -> None:
    wf = make()
    wf.start(NOW)
    actions = wf.hear("The carbon monoxide alarm is going off", NOW)
    assert said(actions) == ["emergency_safety_co", "emergency_transfer"]
    assert "fresh air" in text(actions) and "0 8 0 0, 1 1 1, 9 9 9" in text(actions)


def test_emergency_priority_booking() -> None:
    wf = make(SPARKS)
    wf.start(NOW)
    assert said(wf.hear("a socket is sparking", NOW)) == ["emergency_priority", "ask_name"]
    assert wf.data.priority and wf.data.when is not None and wf.data.when.end == NOW + 24 * 3600
    for words in ("Sam Patel", "4 Oxford Road", "M1 5QA"):
        wf.hear(words, NOW)
    (avail,) = wf.hear("07700 900123", NOW)  # no preferred time asked: the earliest
    assert isinstance(avail, CallTool) and avail.request.earliest == NOW
    wf.handle(ToolResult("check_availability", "ok", SLOTS), NOW)
    (book,) = wf.hear("yes", NOW)
    assert book.request.body(SPARKS, "call-1")["problem"].startswith("[PRIORITY]")


def test_out_of_area_postcode_is_declined() -> None:
    wf = make()
    fill(wf, skip=("postcode", "phone", "when"))
    wf.state = State.COLLECT
    actions = wf.hear("N1 9GU", NOW)
    assert said(actions) == ["check_area"] and "N 1, 9 G U" in text(actions)  # confirmed first
    actions = wf.hear("yes, that's right", NOW)
    assert said(actions) == ["out_of_area"] and "N 1, 9 G U" in text(actions)
    assert wf.state is State.CLOSE


def test_misheard_out_of_area_postcode_is_asked_again_not_declined() -> None:
    wf = make()
    fill(wf, skip=("postcode", "phone", "when"))
    wf.state = State.COLLECT
    assert said(wf.hear("S1P 3QD", NOW)) == ["check_area"]
    actions = wf.hear("no, it's SW1P 3QD", NOW)
    assert wf.data.postcode == "SW1P 3QD" and said(actions)[-1] == "ask_phone"
    wf.data.postcode = None
    assert said(wf.hear("N1 9GU", NOW)) == ["check_area"]
    actions = wf.hear("no", NOW)
    assert wf.data.postcode is None and said(actions) == ["ask_postcode"]


def test_model_mode_gates_tools() -> None:
    wf = make()
    wf.start(NOW)
    with pytest.raises(InvalidToolCall, match="not an allowed target"):
        wf.authorize(ToolCall("t", "transfer_to_human", '{"target": "PJSIP/9999"}'), NOW)
    with pytest.raises(InvalidToolCall, match="not offered"):
        wf.authorize(ToolCall("t", "book_appointment", json.dumps(BOOK_ARGS)), NOW)
    (call,) = wf.authorize(ToolCall("t", "get_quote", '{"service_id": "leak_repair"}'), NOW)
    assert isinstance(call, CallTool) and wf.state is State.QUOTE
    wf.handle(ToolResult("get_quote", "ok"), NOW)
    args = {
        "service_id": "leak_repair",
        "postcode": "sw1a1aa",
        "earliest": SLOT_A[0],
        "latest": SLOT_B[1],
    }
    wf.authorize(ToolCall("t", "check_availability", json.dumps(args)), NOW)
    wf.handle(ToolResult("check_availability", "ok", SLOTS), NOW)
    (book,) = wf.authorize(ToolCall("t", "book_appointment", json.dumps(BOOK_ARGS)), NOW)
    assert book.idempotency_key == "call-1:1" and wf.state is State.BOOK
    assert book.request.phone == "+447700900123"


def test_same_inputs_same_actions() -> None:
    script = [
        "my toilet is blocked",
        "yes",
        "Ann Lee",
        "3 High Street",
        "SE1 7PB",
        "020 7946 0000",
        "friday afternoon",
    ]

    def run() -> list[Any]:
        wf = make()
        out = list(wf.start(NOW))
        for line in script:
            out += wf.hear(line, NOW)
        return out

    first = run()
    assert first == run()
    assert isinstance(first[-1], CallTool) and first[-1].name == "check_availability"


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="min_confidence"):
        WorkflowConfig(min_confidence=2.0)
    with pytest.raises(ValueError, match="human_digit"):
        WorkflowConfig(human_digit="99")
    with pytest.raises(ValueError, match="DTMF"):
        Dtmf("x")
    with pytest.raises(ValueError, match="call_uuid"):
        BookingWorkflow(PLUMBER, "", NOW)


def test_company_phrases_override_templates() -> None:
    data = copy.deepcopy(DATA["companies"][0])
    data["phrases"] = {"greet": "{greeting} What's up?", "goodbye": "Bye from {nonsense}"}
    profile = parse_company(data)
    wf = make(profile)
    assert text(wf.start(NOW)).endswith("What's up?")
    assert said(wf.hear("bye", NOW)) == ["goodbye"]  # broken phrase falls back to ours
