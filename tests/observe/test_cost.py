"""Cost: prices from the environment times metered usage."""

from __future__ import annotations

import pytest

from agent.base.errors import ConfigError
from agent.observe.cost import CostBreakdown, Prices, UsageMeter, call_cost

ENV = {
    "VOICE_AGENT_PRICE_STT_PER_MIN": "0.0077",
    "VOICE_AGENT_PRICE_LLM_INPUT_PER_MTOK": "0.05",
    "VOICE_AGENT_PRICE_LLM_OUTPUT_PER_MTOK": "0.08",
    "VOICE_AGENT_PRICE_TTS_PER_1K_CHARS": "0.03",
    "VOICE_AGENT_CURRENCY": "GBP",
}


def test_prices_from_env_in_vendor_units():
    prices = Prices.from_env(ENV)
    assert prices.stt_per_minute == 0.0077
    assert prices.llm_input_per_token == pytest.approx(0.05e-6)
    assert prices.llm_output_per_token == pytest.approx(0.08e-6)
    assert prices.tts_per_character == pytest.approx(0.03e-3)
    assert prices.currency == "GBP"
    assert Prices.from_env({}) == Prices()  # unpriced: everything costs zero


def test_bad_prices_are_named():
    with pytest.raises(ConfigError, match="VOICE_AGENT_PRICE_STT_PER_MIN"):
        Prices.from_env({"VOICE_AGENT_PRICE_STT_PER_MIN": "-1"})
    with pytest.raises(ConfigError, match="VOICE_AGENT_PRICE_TTS_PER_1K_CHARS"):
        Prices.from_env({"VOICE_AGENT_PRICE_TTS_PER_1K_CHARS": "cheap"})
    with pytest.raises(ConfigError, match="negative"):
        Prices(tts_per_character=float("nan"))


def test_two_minute_call():
    usage = UsageMeter()
    usage.add_stt_audio(90.0)
    usage.add_stt_audio(30.0)
    usage.add_llm(1_500, 200)
    usage.add_llm(2_500, 300)
    usage.add_tts("x" * 1_200)
    usage.add_tts("y" * 800)
    cost = call_cost(usage, Prices.from_env(ENV))
    assert cost.stt == pytest.approx(2 * 0.0077)
    assert cost.llm == pytest.approx(4_000 * 0.05e-6 + 500 * 0.08e-6)
    assert cost.tts == pytest.approx(2 * 0.03)
    assert cost.total == pytest.approx(cost.stt + cost.llm + cost.tts)
    assert cost.per_minute(120.0) == pytest.approx(cost.total / 2)
    assert cost.currency == "GBP"
    assert cost.as_dict() == {"stt": cost.stt, "llm": cost.llm, "tts": cost.tts}


def test_edges():
    assert CostBreakdown(1.0, 0.0, 0.0).per_minute(0.0) == 0.0
    with pytest.raises(ValueError, match="negative"):
        CostBreakdown(1.0, 0.0, 0.0).per_minute(-1.0)
    usage = UsageMeter()
    with pytest.raises(ValueError, match="negative"):
        usage.add_stt_audio(-0.02)
    with pytest.raises(ValueError, match="negative"):
        usage.add_llm(-1, 0)
    assert call_cost(usage, Prices()).total == 0.0
