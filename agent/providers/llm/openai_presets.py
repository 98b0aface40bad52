"""OpenAI-compatible back-ends: one preset each, with a capability table per model.

A preset carries its back-end's URL, key variable and request quirks (which
output-cap field, ``stream_options``, ``tool_choice``, ``reasoning_effort``) and
a table of the models it knows: reasoning or not, which sampling and tool
parameters they take, the options that keep a reasoning model quick and its
thinking out of the reply, and an announced shutdown. A model is looked up by
its id (a dated snapshot ``-YYYY-MM-DD`` or an Ollama ``:tag`` falls back to its
base id), never guessed from its name: a model not in the table gets the
preset's ``unknown`` row, chosen to be accepted by that back-end's newer models.

Sources (read 2026-12-02):
- Groq: groq-python 2026-08-18 (model enum, ``reasoning_effort``,
  ``reasoning_format``, ``include_reasoning``), console.groq.com/docs/errors.
- Cerebras: cerebras-cloud-sdk-python 1.67.0; inference-docs.cerebras.ai
  deprecation page (gpt-oss-120b the recommended model); ``parallel_tool_calls``
  reportedly refused (third-party guides; UNCONFIRMED), so never sent.
- OpenAI: developers.openai.com/api/docs/deprecations (gpt-4o, gpt-4o-mini,
  gpt-4.1, gpt-4.1-mini shut down 2027-01-14, replacement gpt-6-luna; gpt-5.1
  2027-04-01); gpt-6-luna is a reasoning model whose Chat Completions take
  function tools only with ``reasoning_effort: none`` (model pages mirrored by
  docs.oxen.ai and an OpenAI error quoted in itzcrazykns/vane#1173 for
  gpt-5.6-luna); reasoning models refuse ``temperature`` unless the effort is
  none, and the o-series refused ``parallel_tool_calls``: neither is sent to a
  reasoning model.
- Ollama: docs/api/openai-compatibility (``max_tokens`` only, no ``tool_choice``).

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

__all__ = ["DEFAULTS_CHECKED", "PRESETS", "ModelCaps", "Preset"]

# When every preset's default model was last checked against its provider's docs.
DEFAULTS_CHECKED = "2026-12-02"

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # OpenAI dated snapshots


def _frozen(options: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(options))


@attrs.frozen
class ModelCaps:
    """What one model accepts (see the module doc for the sources)."""

    reasoning: bool = False  # a reasoning model (``reasoner``: the OpenAI kind)
    # Sent with LLM_REASONING_EFFORT=auto: the fastest setting that keeps thinking hidden.
    reasoning_options: Mapping[str, Any] = attrs.field(default=_frozen({}), converter=_frozen)
    temperature: bool = True
    parallel_tool_calls: bool = True
    shutdown: str | None = None  # the announced shutdown date, YYYY-MM-DD

    @classmethod
    def reasoner(cls, shutdown: str | None = None, **options: Any) -> ModelCaps:
        """An OpenAI reasoning model: no temperature, no parallel_tool_calls."""
        return cls(True, options, temperature=False, parallel_tool_calls=False, shutdown=shutdown)


@attrs.frozen
class Preset:
    name: str
    base_url: str
    model: str  # "" means the user must name the model (LLM_MODEL)
    api_key_env: str | None
    requires_api_key: bool
    token_limit_field: str  # "max_completion_tokens" or "max_tokens"
    stream_usage: bool  # send stream_options.include_usage
    tool_choice: bool  # accepts tool_choice
    reasoning_effort: bool  # accepts reasoning_effort (LLM_REASONING_EFFORT=<level>)
    models: Mapping[str, ModelCaps] = attrs.field(converter=_frozen)
    unknown: ModelCaps = ModelCaps()  # any model not in ``models``

    def caps(self, model: str) -> ModelCaps:
        """The row for ``model``: its id, else its base id, else ``unknown``."""
        for key in (model, _SNAPSHOT.sub("", model), model.partition(":")[0]):
            if key in self.models:
                return self.models[key]
        return self.unknown


_PLAIN = ModelCaps()
_GPT_OSS_GROQ = ModelCaps(True, {"reasoning_effort": "low", "include_reasoning": False})
_GPT_OSS = ModelCaps(True, {"reasoning_effort": "low"})
_OPENAI_CLASSIC = ModelCaps(shutdown="2027-01-14")

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        # gpt-oss-20b: Groq's fastest tool-calling model (the Llama 70B ids are retired);
        # reasoning kept at low effort, hidden. Usage comes in x_groq.usage; Groq's
        # handling of stream_options is unconfirmed, so it is not sent.
        Preset(
            "groq", "https://api.groq.com/openai/v1", "openai/gpt-oss-20b", "GROQ_API_KEY",
            True, "max_completion_tokens", False, True, True,
            {
                "openai/gpt-oss-20b": _GPT_OSS_GROQ,
                "openai/gpt-oss-120b": _GPT_OSS_GROQ,
                # qwen3 thinks in raw <think> tags inside content unless told not to.
                "qwen/qwen3-32b": ModelCaps(
                    True, {"reasoning_effort": "none", "reasoning_format": "hidden"}
                ),
                "meta-llama/llama-4-scout-17b-16e-instruct": _PLAIN,
                "meta-llama/llama-4-maverick-17b-128e-instruct": _PLAIN,
                "moonshotai/kimi-k2-instruct": _PLAIN,
            },
        ),
        Preset(
            "cerebras", "https://api.cerebras.ai/v1", "gpt-oss-120b", "CEREBRAS_API_KEY",
            True, "max_completion_tokens", True, True, True,
            {
                "gpt-oss-120b": attrs.evolve(_GPT_OSS, parallel_tool_calls=False),
                "zai-glm-4.7": ModelCaps(parallel_tool_calls=False),
            },
            unknown=ModelCaps(parallel_tool_calls=False),
        ),
        # gpt-6-luna: OpenAI's replacement for gpt-4.1-mini (shut down 2027-01-14).
        # Any newer OpenAI chat model is taken for a reasoning model.
        Preset(
            "openai", "https://api.openai.com/v1", "gpt-6-luna", "OPENAI_API_KEY",
            True, "max_completion_tokens", True, True, True,
            {
                "gpt-6-luna": ModelCaps.reasoner(reasoning_effort="none"),
                "gpt-5.1": ModelCaps.reasoner("2027-04-01", reasoning_effort="none"),
                "gpt-4.1-mini": _OPENAI_CLASSIC,
                "gpt-4.1": _OPENAI_CLASSIC,
                "gpt-4o-mini": _OPENAI_CLASSIC,
                "gpt-4o": _OPENAI_CLASSIC,
            },
            unknown=ModelCaps.reasoner(),
        ),
        # Ollama documents only max_tokens and rejects tool_choice.
        Preset(
            "ollama", "http://localhost:11434/v1", "llama3.2", None,
            False, "max_tokens", True, False, True,
            {"llama3.2": ModelCaps(parallel_tool_calls=False), "gpt-oss": _GPT_OSS},
            unknown=ModelCaps(parallel_tool_calls=False),
        ),
        Preset(
            "llamacpp", "http://127.0.0.1:8080/v1", "local", None,
            False, "max_tokens", False, True, False,
            {},
            unknown=ModelCaps(parallel_tool_calls=False),
        ),
        # vLLM serves whatever model it was started with; tool_choice "auto" needs
        # --enable-auto-tool-choice on the server.
        Preset(
            "vllm", "http://localhost:8000/v1", "", None,
            False, "max_tokens", True, True, True,
            {"openai/gpt-oss-20b": _GPT_OSS, "openai/gpt-oss-120b": _GPT_OSS},
            unknown=ModelCaps(parallel_tool_calls=False),
        ),
    )
}  # fmt: skip
