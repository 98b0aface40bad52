"""The OpenAI-compatible client's settings: the provider presets, every variable read
from the environment, the fallbacks' own servers and keys, and bad values named."""

from __future__ import annotations

import pytest

from agent.base.errors import ConfigError
from agent.providers.llm.openai_settings import PRESETS, LlmSettings
from agent.providers.llm.openai_wire import chat_url, request_headers

KEYS = {"GROQ_API_KEY": "gsk_test", "CEREBRAS_API_KEY": "csk_test", "OPENAI_API_KEY": "sk_test"}


def test_groq_is_the_default_with_a_current_model():
    settings = LlmSettings.from_env({"GROQ_API_KEY": "gsk_test"})
    assert settings.provider == "groq"
    assert settings.base_url == "https://api.groq.com/openai/v1"
    assert settings.model == "openai/gpt-oss-20b"
    retired = {"llama-3.3-70b-specdec", "llama-3.3-70b-versatile", "llama-3.1-8b-instant"}
    assert not retired & {preset.model for preset in PRESETS.values()}
    assert chat_url(settings) == "https://api.groq.com/openai/v1/chat/completions"


def test_from_env_reads_every_variable():
    env = {
        "LLM_PROVIDER": "OpenAI",
        "LLM_BASE_URL": "http://127.0.0.1:9/v1/",
        "LLM_MODEL": "gpt-4o-mini",
        "LLM_API_KEY": "sk-explicit",
        "OPENAI_API_KEY": "sk-ignored",
        "LLM_TEMPERATURE": "0.7",
        "LLM_MAX_TOKENS": "99",
        "LLM_TIMEOUT_S": "4.5",
        "LLM_CONNECT_TIMEOUT_S": "1.5",
        "LLM_REASONING_EFFORT": "medium",
        "LLM_FALLBACKS": "groq, cerebras",
        **KEYS,
    }
    settings = LlmSettings.from_env(env)
    assert (settings.provider, settings.base_url, settings.model) == (
        "openai",
        "http://127.0.0.1:9/v1",
        "gpt-4o-mini",
    )
    assert settings.api_key == "sk-explicit"
    assert (settings.temperature, settings.max_tokens) == (0.7, 99)
    assert (settings.timeout_s, settings.connect_timeout_s) == (4.5, 1.5)
    assert settings.reasoning_effort == "medium"
    assert "sk-explicit" not in repr(settings)
    groq, cerebras = settings.fallback_settings(env)
    assert (groq.provider, groq.api_key, groq.model) == ("groq", "gsk_test", "openai/gpt-oss-20b")
    assert (cerebras.base_url, cerebras.api_key) == ("https://api.cerebras.ai/v1", "csk_test")
    assert cerebras.temperature == 0.7


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({}, "GROQ_API_KEY"),
        ({"LLM_PROVIDER": "bard"}, "LLM_PROVIDER='bard'"),
        ({**KEYS, "LLM_TEMPERATURE": "3"}, "LLM_TEMPERATURE"),
        ({**KEYS, "LLM_MAX_TOKENS": "many"}, "LLM_MAX_TOKENS"),
        ({**KEYS, "LLM_BASE_URL": "api.groq.com"}, "LLM_BASE_URL='api.groq.com'"),
        ({"LLM_PROVIDER": "vllm"}, "LLM_MODEL"),
        ({**KEYS, "LLM_FALLBACKS": "cerebras,nope"}, "nope"),
    ],
)
def test_bad_settings_name_the_problem(env, match):
    with pytest.raises(ConfigError, match=match):
        LlmSettings.from_env(env)


def test_a_fallback_without_its_key_names_the_variable():
    settings = LlmSettings.from_env({"GROQ_API_KEY": "k", "LLM_FALLBACKS": "cerebras"})
    with pytest.raises(ConfigError, match="CEREBRAS_API_KEY"):
        settings.fallback_settings({"GROQ_API_KEY": "k"})


def test_a_fallback_can_point_at_its_own_server_and_model():
    env = {
        "GROQ_API_KEY": "k",
        "LLM_FALLBACKS": "vllm, groq",
        "LLM_FALLBACK_VLLM_BASE_URL": "http://10.0.0.5:8000/v1/",
        "LLM_FALLBACK_VLLM_MODEL": "llama-3.1-8b",
        "LLM_FALLBACK_GROQ_MODEL": "llama-3.1-8b-instant",
    }
    vllm, groq = LlmSettings.from_env(env).fallback_settings(env)
    assert (vllm.base_url, vllm.model) == ("http://10.0.0.5:8000/v1", "llama-3.1-8b")
    assert (groq.base_url, groq.model) == ("https://api.groq.com/openai/v1", "llama-3.1-8b-instant")


def test_a_fallback_without_a_model_names_the_variable():
    env = {"GROQ_API_KEY": "k", "LLM_FALLBACKS": "vllm"}
    with pytest.raises(ConfigError, match="LLM_FALLBACK_VLLM_MODEL"):
        LlmSettings.from_env(env).fallback_settings(env)


def test_local_servers_need_no_key():
    settings = LlmSettings.from_env({"LLM_PROVIDER": "ollama"})
    assert (settings.base_url, settings.api_key) == ("http://localhost:11434/v1", None)
    assert "Authorization" not in request_headers(settings)


def test_request_headers_carry_the_bearer_key():
    headers = request_headers(LlmSettings(api_key="gsk_x"))
    assert headers["Authorization"] == "Bearer gsk_x"
    assert headers["Accept"] == "text/event-stream"
