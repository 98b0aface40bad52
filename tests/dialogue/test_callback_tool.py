"""The model's request_callback: its spec, its argument checks and the workflow's gate
(kept as the offline policy keeps a callback, one a call, never without a number)."""

from __future__ import annotations

import json

import pytest

from agent.base.events import ToolCall
from agent.business.company import CompanyProfile
from agent.dialogue.prompt import system_prompt
from agent.dialogue.tools import (
    REQUEST_CALLBACK,
    CallbackRequest,
    InvalidToolCall,
    parse_tool_call,
    tool_specs,
)
from agent.dialogue.workflow import BookingWorkflow, KeepPending, Kind, State
from agent.dialogue.workflow_results import callback_result
from tests.dialogue.test_workflow import LONELY, NOW, PLUMBER


def make(profile: CompanyProfile = PLUMBER, caller_id: str | None = None) -> BookingWorkflow:
    return BookingWorkflow(profile, "call-1", NOW, caller_id=caller_id)


def call(args: dict | str) -> ToolCall:
    return ToolCall("cb1", REQUEST_CALLBACK, args if isinstance(args, str) else json.dumps(args))


# --- spec and parse ---------------------------------------------------------------


def test_spec_takes_an_optional_reason_and_phone() -> None:
    (spec,) = [s for s in tool_specs(PLUMBER) if s.name == REQUEST_CALLBACK]
    params = spec.parameters
    assert set(params["properties"]) == {"reason", "phone"}
    assert params["required"] == [] and params["additionalProperties"] is False


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, CallbackRequest()),
        ({"reason": "wants a plumber to ring"}, CallbackRequest("wants a plumber to ring")),
        ({"phone": "07700 900123"}, CallbackRequest(phone="+447700900123")),
        ({"phone": "+44 20 7946 0018", "reason": "x"}, CallbackRequest("x", "+442079460018")),
        ({"phone": ""}, CallbackRequest()),  # an empty number is no number given
    ],
)
def test_parse_keeps_reason_and_a_valid_number(args: dict, expected: CallbackRequest) -> None:
    assert parse_tool_call(call(args), PLUMBER) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"phone": "call me tomorrow"}, "request_callback.phone: 'call me tomorrow' is not a"),
        ({"phone": "0770"}, "request_callback.phone: '0770' is not a phone number"),
        ({"phone": 7700900123}, "request_callback.phone: expected a non-empty string"),
        ({"reason": ["x"]}, "request_callback.reason: expected a non-empty string"),
        ("not json", "request_callback: arguments are not a JSON object"),
    ],
)
def test_parse_refuses_bad_arguments(args: dict | str, message: str) -> None:
    with pytest.raises(InvalidToolCall) as err:
        parse_tool_call(call(args), PLUMBER)
    assert str(err.value).startswith(message)


# --- the workflow's gate ----------------------------------------------------------


def test_the_number_given_is_kept_with_what_the_call_knows() -> None:
    wf = make(caller_id="07700900555")
    wf.start(NOW)
    wf.data.service_id, wf.data.problem, wf.data.name = "leak_repair", "dripping tap", "Sam"
    wf.state = State.QUOTE
    (kept,) = wf.authorize(call({"phone": "07700 900123", "reason": "busy now"}), NOW)
    assert isinstance(kept, KeepPending) and kept.kind == "callback"
    assert kept.data == {**wf.data.details(), "phone": "+447700900123"}
    assert kept.data["problem"] == "dripping tap" and kept.data["name"] == "Sam"
    assert wf.last_kind is Kind.MODEL_CALLBACK
    assert wf.state is State.QUOTE  # the call goes on: the caller may still book
    result = callback_result(kept)
    assert result.status == "ok"
    assert json.loads(result.for_model()) == {
        "status": "ok",
        "kept": True,
        "phone": "+447700900123",
        "note": "kept: the office will call +447700900123",
    }


@pytest.mark.parametrize(
    ("booking_phone", "caller_id", "expected"),
    [
        ("+447700900111", "07700900555", "+447700900111"),  # the number the caller gave
        (None, "07700900555", "+447700900555"),  # else the number they call from
    ],
)
def test_without_a_number_the_known_one_is_used(booking_phone, caller_id, expected) -> None:
    wf = make(caller_id=caller_id)
    wf.start(NOW)
    wf.data.phone = booking_phone
    (kept,) = wf.authorize(call({}), NOW)
    assert isinstance(kept, KeepPending) and kept.data["phone"] == expected
    assert callback_result(kept).data["phone"] == expected


def test_no_number_at_all_asks_the_model_to_get_one() -> None:
    wf = make()  # a withheld number, none given
    wf.start(NOW)
    with pytest.raises(InvalidToolCall) as err:
        wf.authorize(call({"reason": "call me back"}), NOW)
    assert err.value.field == "phone" and "ask the caller for one" in str(err.value)
    # Asked and given, it is kept.
    (kept,) = wf.authorize(call({"phone": "07700 900123"}), NOW)
    assert isinstance(kept, KeepPending) and kept.data["phone"] == "+447700900123"


def test_one_callback_a_call() -> None:
    wf = make(LONELY, caller_id="07700900555")
    wf.start(NOW)
    assert len(wf.authorize(call({}), NOW)) == 1
    with pytest.raises(InvalidToolCall) as err:
        wf.authorize(call({"phone": "07700 900123"}), NOW)
    assert "already kept for this call: the office will call +447700900555" in str(err.value)


@pytest.mark.parametrize("final", [State.END, State.TRANSFER])
def test_refused_once_the_call_is_ending(final: State) -> None:
    wf = make(caller_id="07700900555")
    wf.state = final
    with pytest.raises(InvalidToolCall, match="already ending"):
        wf.authorize(call({}), NOW)
    assert wf.data.callback_phone is None


def test_the_prompt_tells_the_model_to_use_it() -> None:
    lonely = system_prompt(LONELY, tts_reads_brackets=True, now=NOW)
    assert "none (offer a callback with request_callback)" in lonely
    prompt = system_prompt(PLUMBER, tts_reads_brackets=True, now=NOW)
    assert "use request_callback" in prompt and "say only what the result says" in prompt


def test_the_prompt_gives_the_callers_own_number_only_when_known() -> None:
    known = system_prompt(PLUMBER, tts_reads_brackets=True, now=NOW, caller_id="+447700900555")
    assert "calling from +447700900555" in known
    unknown = system_prompt(PLUMBER, tts_reads_brackets=True, now=NOW)
    assert (
        "+44" not in unknown.split("Callbacks:")[1] and "always ask for a phone number" in unknown
    )
