"""What each OpenAI-compatible back-end refuses, for the fake server (pure).

The vendors' rules, not ours: each entry is what the provider answers (status,
its own message, its error code) to a request it does not accept. Sources, read
2026-12-02 (see also ``agent/providers/llm/openai_presets.py``):

- OpenAI: reasoning models (o-series, gpt-5*, gpt-6*) refuse ``temperature``
  unless ``reasoning_effort`` is "none" and refuse ``max_tokens``; the o-series
  refused ``parallel_tool_calls``; gpt-5.6-luna / gpt-6-luna take function tools
  on Chat Completions only with ``reasoning_effort: none`` (the error text of
  itzcrazykns/vane#1173). Shut-down models are unknown models (404).
- Groq: ``n`` must be 1; ``reasoning_format`` and ``include_reasoning`` are not
  both accepted; ``reasoning_effort`` is low/medium/high for gpt-oss and
  none/default for qwen3; unknown models: 404 ``model_not_found``.
- Cerebras: ``parallel_tool_calls`` reportedly refused (UNCONFIRMED).
- Ollama: ``tool_choice`` is not supported.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["KNOWN_MODELS", "Refusal", "refusal"]

KNOWN_MODELS = {
    "groq": {
        "openai/gpt-oss-20b", "openai/gpt-oss-120b", "qwen/qwen3-32b", "qwen/qwen3.6-27b",
        "meta-llama/llama-4-scout-17b-16e-instruct",
        "meta-llama/llama-4-maverick-17b-128e-instruct", "moonshotai/kimi-k2-instruct",
    },
    "cerebras": {"gpt-oss-120b", "zai-glm-4.7"},
    "openai": {
        "gpt-6-luna", "gpt-6-sol", "gpt-6.1-sol", "gpt-6.1-terra", "gpt-5.1", "gpt-4.1",
        "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "gpt-4o", "gpt-4o-mini", "gpt-7-nova",
    },
}  # fmt: skip
_GROQ_EFFORTS = {"gpt-oss": {"low", "medium", "high"}, "qwen3": {"none", "default"}}


@attrs.frozen
class Refusal:
    status: int
    message: str
    code: str | None = None
    param: str | None = None


def refusal(provider: str | None, body: dict[str, Any]) -> Refusal | None:
    """What ``provider`` answers to ``body`` if it refuses it, else None."""
    model = str(body.get("model"))
    known = KNOWN_MODELS.get(provider or "")
    if known is not None and model not in known:
        return Refusal(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "model_not_found",
        )
    if provider == "openai":
        return _openai(model, body)
    if provider == "groq":
        return _groq(model, body)
    if provider == "cerebras" and "parallel_tool_calls" in body:
        return _unsupported("parallel_tool_calls")
    if provider == "ollama" and "tool_choice" in body:
        return _unsupported("tool_choice")
    return None


def _unsupported(param: str) -> Refusal:
    return Refusal(
        400,
        f"Unsupported parameter: '{param}' is not supported with this model.",
        "unsupported_parameter",
        param,
    )


def _openai(model: str, body: dict[str, Any]) -> Refusal | None:
    reasoning = model.startswith(("o1", "o3", "o4", "gpt-5", "gpt-6", "gpt-7"))
    if not reasoning:
        return None
    effort = body.get("reasoning_effort")
    if "max_tokens" in body:
        return Refusal(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model."
            " Use 'max_completion_tokens' instead.",
            "unsupported_parameter",
            "max_tokens",
        )
    if "temperature" in body and effort != "none":
        return _unsupported("temperature")
    if model.startswith("o") and "parallel_tool_calls" in body:
        return _unsupported("parallel_tool_calls")
    if model.endswith("-luna") and body.get("tools") and effort != "none":
        return Refusal(
            400,
            f"Function tools with reasoning_effort are not supported for {model} in"
            " /v1/chat/completions. To use function tools, use /v1/responses or set"
            " reasoning_effort to 'none'.",
            None,
            "reasoning_effort",
        )
    return None


def _groq(model: str, body: dict[str, Any]) -> Refusal | None:
    if "reasoning_format" in body and "include_reasoning" in body:
        return Refusal(
            400,
            "reasoning_format and include_reasoning cannot both be set",
            None,
            "reasoning_format",
        )
    effort = body.get("reasoning_effort")
    if effort is not None:
        family = "gpt-oss" if "gpt-oss" in model else "qwen3" if "qwen3" in model else None
        if family is None or effort not in _GROQ_EFFORTS[family]:
            return Refusal(
                400,
                f"`reasoning_effort` value {effort!r} is not supported for model `{model}`",
                None,
                "reasoning_effort",
            )
    return None
