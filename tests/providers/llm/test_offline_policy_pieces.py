"""The offline dialogue policy, apart from whole scenarios: the same conversation
gives the same events, each message is fed once, foreign tool results are ignored,
and its pieces (tool results, tool arguments, words streamed with their gap)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import trio

from agent.base.events import Finish, LlmEvent, Message, TextDelta, ToolCall
from agent.dialogue.doubt import UNSURE_PREFIX
from agent.dialogue.tools import (
    AvailabilityRequest,
    BookingRequest,
    TransferRequest,
    parse_tool_call,
    quote,
    tool_specs,
)
from agent.dialogue.tools import ToolResult as Result
from agent.dialogue.workflow import State
from agent.providers.llm.offline_policy import (
    OfflinePolicy,
    parse_tool_result,
    tool_arguments,
)
from tests.providers.llm.offline_rig import (
    LINE,
    PLUMBER,
    SLOT_A,
    TUESDAY_10,
    make,
)

# --- determinism and the message bookkeeping -------------------------------------------


async def test_the_same_conversation_gives_the_same_events() -> None:
    async def events_of() -> list[list[LlmEvent]]:
        call, out = make(), []
        await call.turn()
        for line in ("leak", "sounds_fine", "name", "address", "postcode"):
            call.history.add_user(LINE[line])
            while True:
                text, calls, events = await call.run_once()
                out.append(events)
                call.history.add_assistant(text or None, calls)
                for c in calls:
                    call.history.add_tool_result(c.id, call.executor(c).for_model())
                if not calls:
                    break
        return out

    first, second = await events_of(), await events_of()
    assert first == second and len(first) == 6


def test_the_same_request_twice_is_answered_the_same_and_fed_once() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10)
    history = [
        Message("system", "p"),
        Message("assistant", "Hello."),
        Message("user", "My tap leaks."),
    ]
    first = policy.respond(history)
    assert policy.respond(history) == first
    (call,) = [e for e in first if isinstance(e, ToolCall)]
    assert call.name == "get_quote" and policy.workflow.state is State.QUOTE
    assert len(policy._issued) == 1


def test_a_merged_continuation_feeds_only_the_new_words() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10)
    wf = policy.workflow
    wf.start(TUESDAY_10)
    wf.state, wf.data.service_id = State.QUOTE, "leak_repair"
    asked = [Message("system", "p"), Message("assistant", "Would you like me to book?")]
    price = policy.respond([*asked, Message("user", "How much will it cost?")])
    assert "85 pounds" in "".join(e.text for e in price if isinstance(e, TextDelta))
    # Our reply was never heard, so the brain merged the caller's next words.
    events = policy.respond([*asked, Message("user", "How much will it cost? Yes please.")])
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == (
        "Can I take your name, please?"
    )
    assert wf.state is State.COLLECT


def test_foreign_and_repeated_tool_results_are_ignored() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10)
    first = policy.respond([Message("system", "p"), Message("user", "My tap leaks.")])
    (call,) = [e for e in first if isinstance(e, ToolCall)]
    ok = Result("get_quote", "ok", quote(PLUMBER, "leak_repair")).for_model()
    base = [
        Message("system", "p"),
        Message("user", "My tap leaks."),
        Message("assistant", None, (call,)),
    ]
    stranger = Message("tool", ok, tool_call_id="someone_else")
    quoted = policy.respond([*base, stranger, Message("tool", ok, tool_call_id=call.id)])
    assert "85 pounds" in "".join(e.text for e in quoted if isinstance(e, TextDelta))
    # The quote reply went unheard and was dropped; the caller spoke again.
    again = policy.respond(
        [*base, Message("tool", ok, tool_call_id=call.id), Message("user", "Yes.")]
    )
    assert (
        "".join(e.text for e in again if isinstance(e, TextDelta))
        == "Can I take your name, please?"
    )


def test_messages_must_be_messages() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10)
    with pytest.raises(TypeError, match="Message"):
        policy.respond([{"role": "user", "content": "hi"}])  # type: ignore[list-item]


# --- pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        Result("get_quote", "ok", {"call_out": 85.0, "service": "Leak repair"}),
        Result("book_appointment", "slot_taken", error="gone"),
        Result("book_appointment", "invalid", error="bad", field="postcode"),
        Result("check_availability", "failed", error="timeout"),
    ],
)
def test_tool_results_round_trip(result: Result) -> None:
    assert parse_tool_result(result.tool, result.for_model()) == result
    assert parse_tool_result(result.tool, result.for_model()).data == result.data


@pytest.mark.parametrize(
    "content", ["[not run: the caller spoke]", "[1,2]", '{"status":"meh"}', ""]
)
def test_anything_else_is_a_failed_result(content: str) -> None:
    result = parse_tool_result("book_appointment", content)
    assert result.status == "failed" and result.error


def test_tool_arguments_pass_the_tool_checks() -> None:
    start, end = (datetime.fromisoformat(t).timestamp() for t in SLOT_A)
    requests = [
        AvailabilityRequest("leak_repair", "SW1A 1AA", start, end),
        BookingRequest("leak_repair", start, end, "Ann", "+447700900123", "1 High St", "SW1A 1AA"),
    ]
    for name, request in zip(("check_availability", "book_appointment"), requests, strict=True):
        call = ToolCall("x", name, json.dumps(tool_arguments(request, PLUMBER)))
        assert parse_tool_call(call, PLUMBER) == request
    with pytest.raises(TypeError, match="TransferRequest"):
        tool_arguments(TransferRequest(PLUMBER.transfer_targets[0]), PLUMBER)


async def test_words_stream_one_by_one_with_the_gap(autojump_clock: trio.abc.Clock) -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10, token_gap_s=0.05)
    send, receive = trio.open_memory_channel[LlmEvent](0)
    stamps: list[tuple[float, LlmEvent]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(policy.run, [Message("system", "p")], tool_specs(PLUMBER), send)
        async with receive:
            async for event in receive:
                stamps.append((trio.current_time(), event))
    deltas = [e.text for _, e in stamps if isinstance(e, TextDelta)]
    assert "".join(deltas).startswith(PLUMBER.greeting) and len(deltas) > 10
    assert all(len(d.split()) == 1 for d in deltas)
    assert stamps[-1][0] - stamps[0][0] == pytest.approx(0.05 * (len(deltas) - 1))
    assert stamps[-1][1] == Finish("stop")


async def test_a_line_marked_unsure_is_not_acted_on_as_heard() -> None:
    # The turn-taker marks a low-confidence turn (agent.dialogue.doubt); the policy
    # must not book on the strength of it, and a clear line after it is taken.
    call = make()
    await call.turn()
    for line in ("leak", "sounds_fine", "name", "address"):
        await call.turn(LINE[line])
    assert await call.turn(f"{UNSURE_PREFIX}My postcode is SW1A 1AA.")
    assert call.policy.workflow.data.postcode is None
    assert "number" in await call.turn("My postcode is SW1A 1AA.")
    assert call.policy.workflow.data.postcode == "SW1A 1AA"
