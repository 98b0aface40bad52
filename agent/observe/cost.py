"""What a call costs: configurable prices times metered usage. Pure (no I/O, no clock).

Prices are in one currency (``VOICE_AGENT_CURRENCY``, USD by default) and
default to zero: vendors change prices and plans, so the operator states what
they pay rather than the agent guessing. Units follow how vendors quote:

- ``VOICE_AGENT_PRICE_STT_PER_MIN``            per minute of audio streamed to the STT
- ``VOICE_AGENT_PRICE_LLM_INPUT_PER_MTOK``     per million prompt tokens
- ``VOICE_AGENT_PRICE_LLM_OUTPUT_PER_MTOK``    per million completion tokens
- ``VOICE_AGENT_PRICE_TTS_PER_1K_CHARS``       per thousand characters synthesised
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from agent.base.errors import ConfigError
from agent.base.settings import Env


def _not_negative(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value >= 0:  # also rejects NaN
        raise ConfigError(f"{attribute.name}={value}: a price cannot be negative")


@attrs.frozen
class Prices:
    stt_per_minute: float = attrs.field(default=0.0, validator=_not_negative)
    llm_input_per_token: float = attrs.field(default=0.0, validator=_not_negative)
    llm_output_per_token: float = attrs.field(default=0.0, validator=_not_negative)
    tts_per_character: float = attrs.field(default=0.0, validator=_not_negative)
    currency: str = "USD"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Prices:
        reader = Env.of(env)
        price = reader.get

        return cls(
            stt_per_minute=price("VOICE_AGENT_PRICE_STT_PER_MIN"),
            llm_input_per_token=price("VOICE_AGENT_PRICE_LLM_INPUT_PER_MTOK") / 1e6,
            llm_output_per_token=price("VOICE_AGENT_PRICE_LLM_OUTPUT_PER_MTOK") / 1e6,
            tts_per_character=price("VOICE_AGENT_PRICE_TTS_PER_1K_CHARS") / 1e3,
            currency=reader.get("VOICE_AGENT_CURRENCY"),
        )


@attrs.define
class UsageMeter:
    """What one call used, added up as it happens."""

    stt_audio_s: float = 0.0
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    tts_characters: int = 0

    def add_stt_audio(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"STT audio of {seconds} s: cannot be negative")
        self.stt_audio_s += seconds

    def add_llm(self, input_tokens: int, output_tokens: int) -> None:
        """One LLM response's usage (``events.Usage.prompt_tokens/completion_tokens``)."""
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError(f"LLM tokens {input_tokens}/{output_tokens}: cannot be negative")
        self.llm_input_tokens += input_tokens
        self.llm_output_tokens += output_tokens

    def add_tts(self, text: str) -> None:
        """Text sent to the TTS (count what was sent, even if the caller cut it off)."""
        self.tts_characters += len(text)


@attrs.frozen
class CostBreakdown:
    stt: float
    llm: float
    tts: float
    currency: str = "USD"

    @property
    def total(self) -> float:
        return self.stt + self.llm + self.tts

    def per_minute(self, duration_s: float) -> float:
        """The cost per minute of a call lasting ``duration_s`` (0 for an empty call)."""
        if duration_s < 0:
            raise ValueError(f"call duration {duration_s} s: cannot be negative")
        return self.total / (duration_s / 60.0) if duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        """For ``RecordStore.end_call(cost_detail=...)`` and ``cost_total{provider}``."""
        return {"stt": self.stt, "llm": self.llm, "tts": self.tts}


def call_cost(usage: UsageMeter, prices: Prices) -> CostBreakdown:
    return CostBreakdown(
        stt=usage.stt_audio_s / 60.0 * prices.stt_per_minute,
        llm=usage.llm_input_tokens * prices.llm_input_per_token
        + usage.llm_output_tokens * prices.llm_output_per_token,
        tts=usage.tts_characters * prices.tts_per_character,
        currency=prices.currency,
    )
