"""``voice-agent check --live`` against the loopback fakes (issue 20): a recorded caller
through Deepgram, a question that needs a tool through the LLM, a sentence through
Cartesia, each stage's latency, and a failure in the vendor's own words."""

from __future__ import annotations

from contextlib import asynccontextmanager

import trio

from agent.base.events import ToolCall
from agent.cli.main import main
from agent.service.live import CALLER_WAV, live_report, run_live
from tests.fakes.cartesia import FakeCartesia
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.openai import Fault, ScriptedReply, open_fake_openai

HEARD = "My phone number is 07700 900123."  # the recording's reference transcript
QUOTE = ToolCall("call_1", "get_quote", '{"service_id": "leak_repair"}')


@asynccontextmanager
async def fakes(replies=None):
    replies = replies if replies is not None else [ScriptedReply("", (QUOTE,))]
    async with (
        open_fake_deepgram(script=[HEARD]) as deepgram,
        open_fake_openai(replies, provider="groq") as llm,
        trio.open_nursery() as nursery,
    ):
        cartesia = await nursery.start(FakeCartesia().serve)
        env = {
            "DEEPGRAM_API_KEY": deepgram.api_key,
            "DEEPGRAM_URL": deepgram.url,
            "GROQ_API_KEY": llm.api_key,
            "LLM_BASE_URL": llm.base_url,
            "CARTESIA_API_KEY": cartesia.api_key,
            "CARTESIA_VOICE_ID": "voice-1",
            "CARTESIA_URL": cartesia.url,
        }
        yield env, deepgram, llm, cartesia
        nursery.cancel_scope.cancel()


async def test_round_trip_prints_a_stage_table(autojump_clock):
    async with fakes() as (env, deepgram, llm, cartesia):
        stages = await run_live(env, timeout_s=30)
    table = live_report(stages, 8000)
    assert [s.name for s in stages] == ["stt deepgram", "llm groq", "tts cartesia"], table
    assert all(s.ok for s in stages), table
    stt, model, tts = stages
    assert f'"{HEARD}"' in stt.detail
    # The recording ends with a phone number: Finalize brings the final at once.
    assert deepgram.controls("Finalize") == 1 and stt.latency_ms < 1000
    assert "get_quote" in model.detail
    (request,) = llm.requests
    assert request.body["messages"][-1]["content"].startswith("Hi, how much")
    assert {t["function"]["name"] for t in request.body["tools"]} >= {"get_quote"}
    assert "8000 Hz" in tts.detail
    (context,) = cartesia.contexts.values()
    assert context.sample_rate == 8000 and "Thanks for calling" in context.text
    deepgram.check()
    llm.assert_clean()
    assert not cartesia.violations
    lines = table.splitlines()
    assert lines[1].split() == ["stage", "result", "latency", "detail"]
    assert lines[-1] == "3 stages, 0 failed"
    assert all(" ms " in line for line in lines[2:5])


async def test_each_failure_is_in_the_vendors_words(autojump_clock):
    async with fakes([ScriptedReply(fault=Fault.AUTH)]) as (env, *_):
        env["DEEPGRAM_API_KEY"] = "wrong-key"
        env["CARTESIA_VERSION"] = "2026-03-01"  # fine: the client follows the version
        stages = await run_live(env, timeout_s=30)
    stt, model, tts = stages
    assert not stt.ok and "HTTP 401" in stt.detail and "Invalid credentials" in stt.detail
    assert not model.ok and "HTTP 401: Invalid API Key" in model.detail
    assert tts.ok
    assert live_report(stages, 8000).endswith("3 stages, 2 failed")


async def test_a_reply_without_a_tool_call_fails_the_llm_stage(autojump_clock):
    async with fakes([ScriptedReply("It's sixty pounds.")]) as (env, *_):
        stages = await run_live(env, timeout_s=30)
    model = stages[1]
    assert not model.ok and "answered without calling a tool" in model.detail
    assert "sixty pounds" in model.detail


def test_cli_prints_the_table_and_exits_1_on_a_failure(monkeypatch, capsys):
    assert CALLER_WAV.is_file() and CALLER_WAV.name == "phone.wav"  # bundled
    for name in ("DEEPGRAM_API_KEY", "LLM_API_KEY", "GROQ_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("VOICE_AGENT_OFFLINE", "VOICE_AGENT_STT", "VOICE_AGENT_LLM", "VOICE_AGENT_TTS"):
        monkeypatch.delenv(name, raising=False)
    assert main(["check", "--live", "--timeout", "5"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Live round trip through the configured providers (8000 Hz):"
    assert out[2].startswith("stt deepgram  FAIL") and "DEEPGRAM_API_KEY is not set" in out[2]
    assert "GROQ_API_KEY is not set" in out[3] and "CARTESIA_API_KEY is not set" in out[4]
    assert out[-1] == "3 stages, 3 failed"
