"""FallbackChain policy with in-memory fake models under MockClock, plus one loopback run."""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import httpx
import pytest
import trio

from agent.base.errors import ProviderError, ProviderStatusError
from agent.base.events import Finish, LlmEvent, Message, TextDelta, ToolCall, Usage
from agent.providers.llm.fallback import FallbackChain
from agent.providers.llm.openai_compat import LlmSettings, OpenAICompatibleLLM
from agent.providers.protocols import LanguageModel
from tests.fakes.openai import Fault, ScriptedReply, open_fake_openai

MESSAGES = [Message("user", "Hello?")]
REPLY = [TextDelta("Hi"), TextDelta(" there."), Usage(3, 2), Finish("stop")]


def rate_limited(retry_after: float | None = 0.3) -> ProviderStatusError:
    return ProviderStatusError("a", "HTTP 429", status=429, retryable=True, retry_after=retry_after)


def unauthorized() -> ProviderStatusError:
    return ProviderStatusError("a", "HTTP 401", status=401)


@attrs.define
class Step:
    """One scripted run: send ``events`` (``gap`` s apart), then raise ``error`` if any."""

    events: Sequence[LlmEvent] = ()
    error: ProviderError | None = None
    gap: float = 0.0


@attrs.define
class FakeModel:
    name: str
    steps: list[Step]
    started_at: list[float] = attrs.Factory(list)
    cancelled: bool = False

    async def run(self, messages, tools, out: trio.MemorySendChannel[LlmEvent]) -> None:
        async with out:
            self.started_at.append(trio.current_time())
            step = self.steps.pop(0)
            try:
                for event in step.events:
                    await trio.sleep(step.gap)
                    await out.send(event)
            except trio.Cancelled:
                self.cancelled = True
                raise
            if step.error is not None:
                raise step.error


async def run_chain(chain: LanguageModel, received: list[LlmEvent] | None = None) -> list:
    """Run ``chain``; what reached ``out`` is returned (and kept in ``received`` on error)."""
    received = [] if received is None else received
    send, receive = trio.open_memory_channel(math.inf)
    try:
        await chain.run(MESSAGES, [], send)
    finally:
        with pytest.raises(trio.ClosedResourceError):
            send.send_nowait(Finish("x"))  # the chain closed its output either way
        async with receive:
            received += [event async for event in receive]
    return received


def test_chain_is_a_language_model_and_needs_models():
    assert isinstance(FallbackChain([FakeModel("a", [])]), LanguageModel)
    assert FallbackChain([FakeModel("a", []), FakeModel("b", [])]).name == "a>b"
    with pytest.raises(ValueError, match="at least one"):
        FallbackChain([])


async def test_first_provider_answers(autojump_clock):
    a, b = FakeModel("a", [Step(REPLY)]), FakeModel("b", [])
    assert await run_chain(FallbackChain([a, b])) == REPLY
    assert b.started_at == []


async def test_rate_limit_retries_once_then_moves_on(autojump_clock):
    a = FakeModel("a", [Step(error=rate_limited(0.3)), Step(error=rate_limited(0.3))])
    b = FakeModel("b", [Step(REPLY)])
    assert await run_chain(FallbackChain([a, b])) == REPLY
    first, second = a.started_at
    assert second - first == pytest.approx(0.3)
    assert b.started_at == [pytest.approx(second)]  # no wait before the next provider


async def test_retry_of_the_same_provider_can_succeed(autojump_clock):
    a = FakeModel("a", [Step(error=rate_limited(None)), Step(REPLY)])
    b = FakeModel("b", [])
    assert await run_chain(FallbackChain([a, b], retry_wait_default=0.2)) == REPLY
    assert a.started_at[1] - a.started_at[0] == pytest.approx(0.2)
    assert b.started_at == []


async def test_huge_retry_after_is_capped(autojump_clock):
    a = FakeModel("a", [Step(error=rate_limited(3600.0)), Step(REPLY)])
    assert await run_chain(FallbackChain([a], retry_wait_max=1.0)) == REPLY
    assert a.started_at[1] - a.started_at[0] == pytest.approx(1.0)


async def test_non_retryable_error_moves_on_at_once(autojump_clock):
    a, b = FakeModel("a", [Step(error=unauthorized())]), FakeModel("b", [Step(REPLY)])
    start = trio.current_time()
    assert await run_chain(FallbackChain([a, b])) == REPLY
    assert a.started_at == [start] and b.started_at == [start]


async def test_error_after_the_first_token_propagates(autojump_clock):
    a = FakeModel("a", [Step([TextDelta("Sure, ")], error=rate_limited())])
    b = FakeModel("b", [Step(REPLY)])
    received = []
    with pytest.raises(ProviderStatusError) as info:
        await run_chain(FallbackChain([a, b]), received)
    assert info.value.status == 429
    assert received == [TextDelta("Sure, ")]
    assert len(a.started_at) == 1 and b.started_at == []


async def test_a_tool_call_counts_as_content(autojump_clock):
    call = ToolCall("c1", "book", "{}")
    a = FakeModel("a", [Step([call], error=unauthorized())])
    received = []
    with pytest.raises(ProviderStatusError):
        await run_chain(FallbackChain([a, FakeModel("b", [Step(REPLY)])]), received)
    assert received == [call]


async def test_nothing_from_a_failed_attempt_leaks(autojump_clock):
    # Usage before any content is held back, then dropped with the failed attempt.
    a = FakeModel("a", [Step([Usage(9, 0)], error=unauthorized())])
    b = FakeModel("b", [Step(REPLY)])
    assert await run_chain(FallbackChain([a, b])) == REPLY


async def test_empty_reply_forwards_held_events_at_the_end(autojump_clock):
    a = FakeModel("a", [Step([Usage(3, 0), Finish("stop")])])
    assert await run_chain(FallbackChain([a])) == [Usage(3, 0), Finish("stop")]


async def test_all_failing_raises_the_last_error_with_the_others_noted(autojump_clock):
    a = FakeModel("a", [Step(error=rate_limited()), Step(error=rate_limited())])
    b = FakeModel("b", [Step(error=unauthorized())])
    received = []
    with pytest.raises(ProviderStatusError) as info:
        await run_chain(FallbackChain([a, b]), received)
    assert info.value.status == 401
    assert len(info.value.__notes__) == 2
    assert received == []


async def test_tokens_are_forwarded_as_they_come(autojump_clock):
    a = FakeModel("a", [Step(REPLY, gap=0.1)])
    send, receive = trio.open_memory_channel(0)
    arrivals = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(FallbackChain([a]).run, MESSAGES, [], send)
        async with receive:
            async for event in receive:
                arrivals.append((trio.current_time(), event))
    start = a.started_at[0]
    assert [round(t - start, 6) for t, _ in arrivals[:2]] == [0.1, 0.2]
    assert [event for _, event in arrivals] == REPLY


async def test_cancelling_the_turn_cancels_the_model(autojump_clock):
    a = FakeModel("a", [Step(REPLY, gap=10.0)])
    send, receive = trio.open_memory_channel(0)
    with trio.move_on_after(5.0) as scope:
        async with receive:
            await FallbackChain([a]).run(MESSAGES, [], send)
    assert scope.cancelled_caught and a.cancelled


async def test_a_bug_in_a_model_is_not_swallowed(autojump_clock):
    class Broken:
        name = "broken"

        async def run(self, messages, tools, out):
            raise RuntimeError("bug")

    b = FakeModel("b", [Step(REPLY)])
    with pytest.raises(RuntimeError, match="bug"):
        await run_chain(FallbackChain([Broken(), b]))
    assert b.started_at == []  # a bug is not a provider failure: no fallback


async def test_content_reaches_out_from_the_models_own_task(autojump_clock):
    """No forwarding task: when the model's send returns, the token is in ``out``
    (one trip round the run loop less per token)."""
    send, receive = trio.open_memory_channel(math.inf)
    seen_at_once = []

    class Probe:
        name = "probe"

        async def run(self, messages, tools, out):
            async with out:
                for event in REPLY:
                    await out.send(event)
                    try:
                        seen_at_once.append(receive.receive_nowait())
                    except trio.WouldBlock:
                        seen_at_once.append(None)

    async with receive:
        await FallbackChain([Probe()]).run(MESSAGES, [], send)
    # Usage and Finish after the content go straight on too; nothing was held.
    assert seen_at_once == REPLY


async def test_events_before_the_content_wait_for_it_in_order(autojump_clock):
    early = [Usage(1, 0), Finish("x")]
    a = FakeModel("a", [Step([*early, TextDelta("Hi")], gap=0.1)])
    assert await run_chain(FallbackChain([a])) == [*early, TextDelta("Hi")]


async def test_a_model_sending_after_closing_its_channel_is_told(autojump_clock):
    class Late:
        name = "late"

        async def run(self, messages, tools, out):
            async with out:
                await out.send(TextDelta("Hi"))
            await out.send(TextDelta(" again"))

    with pytest.raises(trio.ClosedResourceError):
        await run_chain(FallbackChain([Late()]))


async def test_a_closed_output_is_not_a_provider_failure(autojump_clock):
    """The turn stopped listening: the chain stops, no other model is tried."""
    a = FakeModel("a", [Step(REPLY)])
    b = FakeModel("b", [Step(REPLY)])
    send, receive = trio.open_memory_channel(math.inf)
    receive.close()
    with pytest.raises(trio.BrokenResourceError):
        await FallbackChain([a, b]).run(MESSAGES, [], send)
    assert b.started_at == []


@pytest.mark.realtime
async def test_loopback_chain_moves_to_the_second_server_after_429s():
    limited = ScriptedReply(fault=Fault.RATE_LIMIT, retry_after=0.01)
    async with (
        open_fake_openai([limited, limited]) as first,
        open_fake_openai([ScriptedReply(text="Backup here.")]) as second,
        httpx.AsyncClient() as client,
    ):
        chain = FallbackChain(
            [
                OpenAICompatibleLLM(
                    LlmSettings(base_url=server.base_url, api_key=server.api_key), client
                )
                for server in (first, second)
            ]
        )
        with trio.fail_after(5.0):
            events = await run_chain(chain)
        first.assert_clean()
        second.assert_clean()
    assert (len(first.requests), len(second.requests)) == (2, 1)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Backup here."
    assert events[-1] == Finish("stop")


# --- the first-token budget (issue 20) ------------------------------------------------


def sampling_failed() -> ProviderStatusError:
    """Groq's tool_use_failed as the wire layer maps it: retry at once."""
    return ProviderStatusError("a", "HTTP 400", status=400, retryable=True, retry_after=0.0)


async def test_a_retry_happens_inside_the_first_token_budget(autojump_clock):
    a = FakeModel("a", [Step(error=sampling_failed()), Step(REPLY)])
    assert await run_chain(FallbackChain([a], first_token_budget_s=2.0)) == REPLY
    assert a.started_at[1] == pytest.approx(a.started_at[0])  # at once


async def test_no_retry_when_the_budget_is_spent(autojump_clock):
    # The failure came only after the whole budget: the next provider, not a retry.
    slow = Step([Usage(1, 0)], sampling_failed(), gap=2.5)
    a, b = FakeModel("a", [slow, Step(REPLY)]), FakeModel("b", [Step(REPLY)])
    assert await run_chain(FallbackChain([a, b], first_token_budget_s=2.0)) == REPLY
    assert len(a.started_at) == 1 and len(b.started_at) == 1


async def test_a_retry_must_bring_its_first_token_within_the_budget(autojump_clock):
    late = Step(REPLY, gap=1.5)  # its first token would come 1.5 s after it started
    a = FakeModel("a", [Step(error=rate_limited(0.3)), late])
    b = FakeModel("b", [Step(REPLY)])
    start = trio.current_time()
    assert await run_chain(FallbackChain([a, b], first_token_budget_s=1.0)) == REPLY
    assert a.cancelled  # cut at the end of the budget
    assert b.started_at == [pytest.approx(start + 1.0)]


def test_the_budget_must_be_positive():
    with pytest.raises(ValueError, match="budget"):
        FallbackChain([FakeModel("a", [])], first_token_budget_s=0)


class _Warming:
    """A model keeping a connection (``KeepsWarm``)."""

    name = "warming"

    def __init__(self) -> None:
        self.warmed = 0

    def wants_warming(self) -> bool:
        return self.warmed == 0

    async def warm(self) -> None:
        self.warmed += 1

    async def run(self, messages, tools, out) -> None:
        async with out:
            await out.send(Finish("stop"))


async def test_the_chain_warms_the_model_each_reply_tries_first():
    first, second = _Warming(), _Warming()
    chain = FallbackChain([first, second])
    assert chain.wants_warming()
    await chain.warm()
    assert not chain.wants_warming() and (first.warmed, second.warmed) == (1, 0)
    cold = FallbackChain([OpenAICompatibleLLM(LlmSettings(api_key="k")), first])
    assert not cold.wants_warming()  # its first model has no pool to keep warm
    await cold.warm()
    assert first.warmed == 1
