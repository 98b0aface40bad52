"""The per-preset capability table (issue 20), on its own and against the fake
server applying each provider's own parameter rules (``tests/fakes/openai_rules``)."""

from __future__ import annotations

import math

import httpx
import pytest
import trio

from agent.base.errors import ProviderStatusError
from agent.base.events import Finish, Message, TextDelta, ToolCall, ToolSpec
from agent.providers.llm.openai_compat import OpenAICompatibleLLM, language_model_from_env
from agent.providers.llm.openai_presets import DEFAULTS_CHECKED, PRESETS, ModelCaps
from agent.providers.llm.openai_settings import LlmSettings
from agent.providers.llm.openai_wire import build_request_body
from tests.fakes.openai import Fault, ScriptedReply, open_fake_openai

MESSAGES = [Message("system", "You book plumbers."), Message("user", "Is tomorrow free?")]
TOOLS = [ToolSpec("check_slots", "Free slots", {"type": "object", "properties": {}})]
SLOTS = ToolCall("call_1", "check_slots", '{"day": "tomorrow"}')
GUARD_S = 5.0


def test_every_default_model_is_in_its_presets_table_and_not_shut_down():
    for preset in PRESETS.values():
        if preset.name in ("llamacpp", "vllm"):
            continue  # whatever the local server loaded
        caps = preset.caps(preset.model)
        assert preset.model in preset.models, preset.name
        assert caps.shutdown is None or caps.shutdown > DEFAULTS_CHECKED, preset.name
    # OpenAI announced gpt-4.1-mini's shutdown for 2027-01-14: no longer the default.
    assert PRESETS["openai"].model == "gpt-6-luna"
    assert PRESETS["openai"].caps("gpt-4.1-mini").shutdown == "2027-01-14"


@pytest.mark.parametrize(
    ("provider", "model", "reasoning", "temperature", "parallel"),
    [
        ("groq", "openai/gpt-oss-20b", True, True, True),
        ("groq", "qwen/qwen3-32b", True, True, True),
        # Not in the table: nothing is guessed from "qwen3" in the name.
        ("groq", "qwen/qwen3.6-27b", False, True, True),
        ("cerebras", "gpt-oss-120b", True, True, False),
        ("cerebras", "some-new-model", False, True, False),
        ("openai", "gpt-6-luna", True, False, False),
        # A newer OpenAI model is taken for a reasoning model (no temperature).
        ("openai", "gpt-7-nova", True, False, False),
        ("openai", "gpt-4.1-mini-2025-04-14", False, True, True),  # a dated snapshot
        ("ollama", "gpt-oss:20b", True, True, True),
    ],
)
def test_capabilities_are_looked_up_not_guessed(provider, model, reasoning, temperature, parallel):
    caps = PRESETS[provider].caps(model)
    assert (caps.reasoning, caps.temperature, caps.parallel_tool_calls) == (
        reasoning,
        temperature,
        parallel,
    )
    body = build_request_body(
        LlmSettings(provider=provider, model=model, api_key="k"), MESSAGES, TOOLS
    )
    assert ("temperature" in body) is temperature
    assert ("parallel_tool_calls" in body) is parallel


def test_a_reasoner_row_is_an_openai_reasoning_model():
    row = ModelCaps.reasoner("2027-04-01", reasoning_effort="none")
    assert (row.reasoning, row.temperature, row.parallel_tool_calls) == (True, False, False)
    assert dict(row.reasoning_options) == {"reasoning_effort": "none"} and row.shutdown


async def collect(llm) -> list:
    send, receive = trio.open_memory_channel(math.inf)
    with trio.fail_after(GUARD_S):
        await llm.run(MESSAGES, TOOLS, send)
    async with receive:
        return [event async for event in receive]


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-6-luna"),  # the new default: tools only with reasoning_effort none
        ("openai", "gpt-7-nova"),  # was sent temperature (the o1/o3/o4/gpt-5 regex)
        ("cerebras", "gpt-oss-120b"),  # was sent parallel_tool_calls
        ("groq", "openai/gpt-oss-20b"),
        ("groq", "qwen/qwen3-32b"),
    ],
)
async def test_each_provider_accepts_what_the_table_sends(provider, model):
    reply = ScriptedReply(text="", tool_calls=(SLOTS,))
    async with open_fake_openai([reply], provider=provider) as server:
        settings = LlmSettings(
            provider=provider, model=model, base_url=server.base_url, api_key=server.api_key
        )
        events = await collect(OpenAICompatibleLLM(settings))
        server.assert_clean()
    assert events[0] == SLOTS and events[-1] == Finish("tool_calls")


async def test_the_fake_refuses_in_the_vendors_words():
    async with open_fake_openai([], provider="openai") as server:
        # What the old client sent a newer reasoning model: a temperature.
        body = {
            "model": "gpt-7-nova",
            "messages": [m.to_openai() for m in MESSAGES],
            "stream": True,
            "temperature": 0.3,
        }
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{server.base_url}/chat/completions",
                json=body,
                headers={"Authorization": "Bearer test-key"},
            )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith("Unsupported parameter: 'temperature'")
    assert server.violations


# --- Groq tool_use_failed: one retry on the same provider ---------------------------


def groq_env(server, **extra: str) -> dict[str, str]:
    return {"GROQ_API_KEY": server.api_key, "LLM_BASE_URL": server.base_url, **extra}


async def test_groq_tool_use_failed_is_retried_once_on_the_same_provider():
    replies = [ScriptedReply(fault=Fault.TOOL_USE_FAILED), ScriptedReply("", (SLOTS,))]
    async with open_fake_openai(replies, provider="groq") as server:
        events = await collect(language_model_from_env(groq_env(server)))
        server.assert_clean()
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body  # the same request again
    assert events[0] == SLOTS


async def test_groq_tool_use_failed_twice_is_the_error_in_groqs_words():
    replies = [ScriptedReply(fault=Fault.TOOL_USE_FAILED)] * 3
    async with open_fake_openai(replies, provider="groq") as server:
        with pytest.raises(ProviderStatusError, match="Failed to call a function") as caught:
            await collect(language_model_from_env(groq_env(server)))
    assert len(server.requests) == 2  # once, then no more
    assert caught.value.status == 400


async def test_no_retry_once_the_first_token_budget_is_spent():
    # The first attempt needs all of LLM_TIMEOUT_S's budget: no time for a second one.
    slow_failure = ScriptedReply(fault=Fault.TOOL_USE_FAILED)
    async with open_fake_openai([slow_failure, ScriptedReply("Hi.")], provider="groq") as server:
        chain = language_model_from_env(groq_env(server, LLM_TIMEOUT_S="0.001"))
        with pytest.raises(ProviderStatusError, match="Failed to call a function"):
            await collect(chain)
    assert len(server.requests) == 1


async def test_text_replies_still_stream():
    async with open_fake_openai([ScriptedReply("Sure, ten.")], provider="groq") as server:
        events = await collect(language_model_from_env(groq_env(server)))
        server.assert_clean()
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Sure,", " ten."]
