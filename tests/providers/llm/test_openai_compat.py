"""The real client against the fake OpenAI-compatible server over loopback (real time).

Real sockets and an autojump clock do not mix (the clock jumps while a socket
is being waited on), so these use real time with short delays, each bounded by
``trio.fail_after``.
"""

from __future__ import annotations

import gc
import math

import httpx
import pytest
import trio

from agent.base.errors import (
    ProviderConnectError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeout,
)
from agent.base.events import Finish, Message, TextDelta, ToolCall, ToolSpec, Usage
from agent.providers.llm.fallback import FallbackChain
from agent.providers.llm.openai_compat import (
    LlmSettings,
    OpenAICompatibleLLM,
    language_model_from_env,
)
from agent.providers.protocols import LanguageModel
from tests.fakes.openai import Fault, ScriptedReply, open_fake_openai, refused_base_url

pytestmark = pytest.mark.realtime

GUARD_S = 5.0


async def first_events(llm, tools, count: int) -> list:
    """The first ``count`` events of a run, then the run cancelled (the caller hung up)."""
    send, receive = trio.open_memory_channel(0)
    received = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(llm.run, MESSAGES, tools, send)
        async with receive:
            async for event in receive:
                received.append(event)
                if len(received) == count:
                    nursery.cancel_scope.cancel()
    return received


MESSAGES = [Message("system", "You book plumbers."), Message("user", "Is tomorrow free?")]
TOOLS = [ToolSpec("check_slots", "Free slots", {"type": "object", "properties": {}})]
BOOK = ToolCall("call_7", "check_slots", '{"day": "tomorrow", "after": "09:00"}')


def settings_for(server, provider: str = "groq", **overrides) -> LlmSettings:
    return LlmSettings(
        provider=provider, base_url=server.base_url, api_key=server.api_key, **overrides
    )


async def run_collect(llm, messages=MESSAGES, tools=TOOLS) -> list:
    send, receive = trio.open_memory_channel(math.inf)
    with trio.fail_after(GUARD_S):
        try:
            await llm.run(messages, tools, send)
        finally:
            with pytest.raises(trio.ClosedResourceError):
                send.send_nowait(None)  # run() must close its output channel
    async with receive:
        return [event async for event in receive]


def test_the_client_is_a_language_model():
    assert isinstance(OpenAICompatibleLLM(LlmSettings(api_key="k")), LanguageModel)


async def test_streaming_text_tool_call_usage_and_finish_groq_style():
    reply = ScriptedReply(
        text="Let me check that for you.",
        reasoning="The caller wants a slot.",
        tool_calls=(BOOK,),
        usage=Usage(30, 9),
    )
    async with open_fake_openai([reply]) as server, httpx.AsyncClient() as client:
        events = await run_collect(OpenAICompatibleLLM(settings_for(server), client))
        server.assert_clean()
    texts = [event.text for event in events if isinstance(event, TextDelta)]
    assert len(texts) > 1 and "".join(texts) == "Let me check that for you."
    assert events[len(texts) :] == [
        BOOK,
        Usage(30, 9, extra=(("queue_time", 0.01), ("total_tokens", 39))),
        Finish("tool_calls"),
    ]
    (request,) = server.requests
    assert request.body["model"] == "openai/gpt-oss-20b"
    assert request.body["tools"][0]["function"]["name"] == "check_slots"
    assert not request.client_disconnected


async def test_usage_chunk_when_the_provider_takes_stream_options():
    async with open_fake_openai([ScriptedReply(text="Sure.", usage=Usage(4, 2))]) as server:
        # No client given: the model opens and closes its own for the run.
        events = await run_collect(OpenAICompatibleLLM(settings_for(server, "openai")), tools=[])
        server.assert_clean()
    assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert events == [
        TextDelta("Sure."),
        Usage(4, 2, extra=(("total_tokens", 6),)),
        Finish("stop"),
    ]


async def test_shared_client_reuses_the_connection_across_turns():
    async with open_fake_openai() as server, httpx.AsyncClient() as client:
        llm = OpenAICompatibleLLM(settings_for(server), client)
        first = await run_collect(llm)
        second = await run_collect(llm)
        server.assert_clean()
    assert first == second and first[-1] == Finish("stop")
    assert len(server.requests) == 2
    assert server.connections == 1


async def test_cancelling_mid_stream_closes_the_connection():
    reply = ScriptedReply(text="one two three four five six seven eight", token_gap=0.05)
    async with open_fake_openai([reply]) as server, httpx.AsyncClient() as client:
        llm = OpenAICompatibleLLM(settings_for(server), client)
        with trio.fail_after(GUARD_S):
            received = await first_events(llm, TOOLS, 2)
            await server.wait_for_disconnect()
        server.assert_clean()
        (request,) = server.requests
        assert request.client_disconnected
        assert received == [TextDelta("one"), TextDelta(" two")]
    gc.collect()  # a leaked response or socket would warn here, and warnings are errors


async def test_cancelling_while_blocked_on_a_slow_consumer():
    # Barge-in while the TTS applies back-pressure: run() is stuck in out.send.
    reply = ScriptedReply(text=" ".join(["word"] * 100), token_gap=0.005)
    async with open_fake_openai([reply]) as server, httpx.AsyncClient() as client:
        llm = OpenAICompatibleLLM(settings_for(server), client)
        send, receive = trio.open_memory_channel(0)
        with trio.fail_after(GUARD_S):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(llm.run, MESSAGES, TOOLS, send)
                async with receive:
                    assert await receive.receive() == TextDelta("word")
                    await trio.sleep(0.05)  # the second token waits in out.send
                    nursery.cancel_scope.cancel()
            await server.wait_for_disconnect()
        server.assert_clean()
    gc.collect()


@pytest.mark.parametrize("shared_client", [True, False])
async def test_cancelling_before_the_first_token(shared_client):
    reply = ScriptedReply(first_token_delay=10.0)
    async with open_fake_openai([reply]) as server, httpx.AsyncClient() as client:
        llm = OpenAICompatibleLLM(settings_for(server), client if shared_client else None)
        send, receive = trio.open_memory_channel(0)
        with trio.fail_after(GUARD_S):
            with trio.move_on_after(0.1):
                async with receive:
                    await llm.run(MESSAGES, TOOLS, send)
            await server.wait_for_disconnect()
        assert server.requests[0].client_disconnected
    gc.collect()


@pytest.mark.parametrize(
    ("reply", "kind", "status", "retryable", "retry_after"),
    [
        (ScriptedReply(fault=Fault.AUTH), ProviderStatusError, 401, False, None),
        (ScriptedReply(fault=Fault.RATE_LIMIT, retry_after=2), ProviderStatusError, 429, True, 2),
        (ScriptedReply(fault=Fault.SERVER_ERROR), ProviderStatusError, 500, True, None),
        (ScriptedReply(fault=Fault.SERVER_ERROR, status=503), ProviderStatusError, 503, True, None),
        (ScriptedReply(fault=Fault.CLOSE_MID_STREAM), ProviderError, None, True, None),
        (ScriptedReply(fault=Fault.MALFORMED_JSON), ProviderError, None, False, None),
        (ScriptedReply(fault=Fault.MALFORMED_SSE), ProviderError, None, False, None),
        (ScriptedReply(fault=Fault.ERROR_EVENT), ProviderError, None, True, None),
    ],
    ids=lambda value: value.fault.value if isinstance(value, ScriptedReply) else None,
)
async def test_faults_map_to_provider_errors(reply, kind, status, retryable, retry_after):
    async with open_fake_openai([reply]) as server, httpx.AsyncClient() as client:
        with pytest.raises(ProviderError) as info:
            await run_collect(OpenAICompatibleLLM(settings_for(server), client))
        server.assert_clean()
    error = info.value
    assert type(error) is kind
    assert (error.provider, error.retryable, error.retry_after) == ("groq", retryable, retry_after)
    assert getattr(error, "status", None) == status
    gc.collect()  # nothing half-read may be left for the collector to warn about


async def test_refused_connection_is_a_retryable_connect_error():
    settings = LlmSettings(base_url=refused_base_url(), api_key="k")
    with pytest.raises(ProviderConnectError) as info:
        await run_collect(OpenAICompatibleLLM(settings))
    assert info.value.retryable
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_stalled_stream_is_a_timeout_and_the_connection_is_dropped():
    reply = ScriptedReply(fault=Fault.STALL, fault_after=0)
    async with open_fake_openai([reply]) as server, httpx.AsyncClient() as client:
        llm = OpenAICompatibleLLM(settings_for(server, timeout_s=0.2), client)
        with pytest.raises(ProviderTimeout) as info:
            await run_collect(llm)
        with trio.fail_after(GUARD_S):
            await server.wait_for_disconnect()
        server.assert_clean()
    assert info.value.retryable
    assert server.requests[0].client_disconnected


async def test_wrong_base_path_is_caught_by_the_fake():
    async with open_fake_openai() as server:
        settings = LlmSettings(base_url=f"http://127.0.0.1:{server.port}", api_key="test-key")
        with pytest.raises(ProviderStatusError) as info:
            await run_collect(OpenAICompatibleLLM(settings))
    assert (info.value.status, info.value.retryable) == (400, False)
    assert any("path '/chat/completions'" in problem for problem in server.violations)


async def test_wrong_key_is_caught_by_the_fake():
    async with open_fake_openai() as server:
        settings = LlmSettings(base_url=server.base_url, api_key="wrong")
        with pytest.raises(ProviderStatusError) as info:
            await run_collect(OpenAICompatibleLLM(settings))
    assert info.value.status == 401
    assert any("Authorization" in problem for problem in server.violations)


async def test_json_instead_of_an_event_stream_is_an_error():
    def reply_json(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": []})

    transport = httpx.MockTransport(reply_json)
    async with httpx.AsyncClient(transport=transport) as client:
        llm = OpenAICompatibleLLM(LlmSettings(api_key="k"), client)
        with pytest.raises(ProviderError, match="expected an event stream"):
            await run_collect(llm)


def test_language_model_from_env():
    # Even alone a provider sits in a chain: it gets its one retry where the vendor
    # says a retry helps (issue 20), inside the first-token budget (LLM_TIMEOUT_S).
    single = language_model_from_env({"GROQ_API_KEY": "k", "LLM_TIMEOUT_S": "4"})
    assert isinstance(single, FallbackChain) and single.name == "groq"
    assert single.first_token_budget_s == 4.0
    env = {"GROQ_API_KEY": "k", "CEREBRAS_API_KEY": "c", "LLM_FALLBACKS": "cerebras"}
    chain = language_model_from_env(env)
    assert isinstance(chain, FallbackChain) and chain.name == "groq>cerebras"


async def test_the_services_shared_client_serves_every_turn_on_one_connection():
    from agent.providers.llm.openai_compat import SharedClient

    shared = SharedClient()
    async with open_fake_openai() as server, trio.open_nursery() as nursery:
        llm = OpenAICompatibleLLM(settings_for(server), shared=shared)
        await run_collect(llm)  # the service's client is not running: a client per run
        await nursery.start(shared.run)
        for _ in range(3):
            await run_collect(llm)
        nursery.cancel_scope.cancel()
        server.assert_clean()
    assert len(server.requests) == 4
    assert server.connections == 2  # one for the lone run, one kept alive for three
    assert shared.client is None  # closed with the service
