"""OpenAI-compatible language models: the settings (pure).

The settings (``LLM_*``, ``LLM_FALLBACK_<NAME>_*``) are read through the schema
(``agent.base.settings``); unset fields come from the provider's preset
(``openai_presets``: URL, default model, key variable, request quirks and the
capability table of the models it knows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from agent.base.errors import ConfigError
from agent.base.settings import Env, default_of, setting
from agent.providers.llm.openai_presets import PRESETS, ModelCaps, Preset

__all__ = ["PRESETS", "LlmSettings", "ModelCaps", "Preset"]


DEFAULT_PROVIDER = default_of("LLM_PROVIDER")
OFFLINE_HINT = "or choose the offline stack explicitly: VOICE_AGENT_OFFLINE=1"


def _preset_default(field: str):
    def default(self: LlmSettings) -> str:
        preset = PRESETS.get(self.provider)
        return getattr(preset, field) if preset else ""

    return attrs.Factory(default, takes_self=True)


@attrs.frozen
class LlmSettings:
    """One OpenAI-compatible endpoint. Unset fields come from the provider's preset.

    ``timeout_s`` bounds each wait for bytes (so also the time to first token);
    ``reasoning_effort`` "auto" picks the fastest setting for the model family,
    "omit" sends nothing, anything else is sent as given.
    """

    provider: str = setting("LLM_PROVIDER")
    base_url: str = setting(
        "LLM_BASE_URL", default=_preset_default("base_url"), converter=lambda u: u.rstrip("/")
    )
    model: str = setting("LLM_MODEL", default=_preset_default("model"))
    api_key: str | None = attrs.field(default=None, repr=False)
    temperature: float = setting("LLM_TEMPERATURE")
    max_tokens: int = setting("LLM_MAX_TOKENS")
    timeout_s: float = setting("LLM_TIMEOUT_S")
    connect_timeout_s: float = setting("LLM_CONNECT_TIMEOUT_S")
    reasoning_effort: str = setting("LLM_REASONING_EFFORT")
    fallbacks: tuple[str, ...] = setting("LLM_FALLBACKS", converter=tuple)

    def __attrs_post_init__(self) -> None:
        preset = PRESETS[self.provider]
        if preset.requires_api_key and not self.api_key:
            raise ConfigError(
                f"{preset.api_key_env} is not set: the {self.provider} language model needs"
                f" an API key ({OFFLINE_HINT})"
            )

    @property
    def preset(self) -> Preset:
        return PRESETS[self.provider]

    @property
    def caps(self) -> ModelCaps:
        """What this model accepts, from the preset's capability table."""
        return self.preset.caps(self.model)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, provider: str | None = None
    ) -> LlmSettings:
        """The primary endpoint: ``provider`` (VOICE_AGENT_LLM, chosen by the registry)
        or LLM_PROVIDER; LLM_BASE_URL, LLM_MODEL, LLM_API_KEY or the preset's key..."""
        reader = Env.of(env)
        provider = provider or reader.get("LLM_PROVIDER")
        preset = PRESETS[provider]
        api_key = reader.get("LLM_API_KEY") or _preset_key(reader, preset)
        if preset.requires_api_key and not api_key:
            raise ConfigError(
                f"{preset.api_key_env} is not set: the {provider} language model needs an API"
                f" key (or set LLM_API_KEY; {OFFLINE_HINT})"
            )
        model = reader.get("LLM_MODEL") or preset.model
        if not model:
            raise ConfigError(f"LLM_MODEL is not set: the {provider} preset has no default model")
        return cls._with_shared(
            reader,
            provider=provider,
            base_url=reader.get("LLM_BASE_URL") or preset.base_url,
            model=model,
            api_key=api_key,
            reasoning_effort=reader.get("LLM_REASONING_EFFORT"),
            fallbacks=reader.get("LLM_FALLBACKS"),
        )

    def fallback_settings(self, env: Mapping[str, str] | None = None) -> tuple[LlmSettings, ...]:
        """Settings for each LLM_FALLBACKS provider: its preset's URL and model unless
        LLM_FALLBACK_<NAME>_BASE_URL / _MODEL say otherwise (a self-hosted vLLM, a
        different Groq model), and its own key variable."""
        reader = Env.of(env)
        chain = []
        for name in self.fallbacks:
            preset = PRESETS[name]
            model = reader.pattern("LLM_FALLBACK_{NAME}_MODEL", name) or preset.model
            if not model:
                raise ConfigError(
                    f"LLM_FALLBACKS: {name} has no default model;"
                    f" set LLM_FALLBACK_{name.upper()}_MODEL"
                )
            base_url = reader.pattern("LLM_FALLBACK_{NAME}_BASE_URL", name) or preset.base_url
            chain.append(
                self._with_shared(
                    reader,
                    provider=name,
                    base_url=base_url,
                    model=model,
                    api_key=_preset_key(reader, preset),
                )
            )
        return tuple(chain)

    @classmethod
    def _with_shared(cls, reader: Env, **fields: Any) -> LlmSettings:
        return cls(
            temperature=reader.get("LLM_TEMPERATURE"),
            max_tokens=reader.get("LLM_MAX_TOKENS"),
            timeout_s=reader.get("LLM_TIMEOUT_S"),
            connect_timeout_s=reader.get("LLM_CONNECT_TIMEOUT_S"),
            **fields,
        )


def _preset_key(reader: Env, preset: Preset) -> str | None:
    if preset.api_key_env is None:
        return None
    return reader.get(preset.api_key_env)
