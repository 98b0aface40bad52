"""Every timing and threshold of the turn-taking policy (see ``turntaking``)."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from agent.base.errors import ConfigError

__all__ = ["TurnTakingParams"]


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words that mean "I'm listening", not "my turn": they never interrupt the agent.
DEFAULT_BACKCHANNELS = _word_set(
    "mm mhm mm-hmm uh-huh uh-hum hmm aha yeah yep yes ok okay right sure"
)


def _to_word_set(value: str | Iterable[str]) -> frozenset[str]:
    words = value.split() if isinstance(value, str) else value
    return frozenset(word.strip().lower() for word in words)


def _non_negative(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value >= 0:
        raise ConfigError(f"{attribute.name}={value!r}: must be 0 or more")


def _fraction(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{attribute.name}={value!r}: must be between 0 and 1")


@attrs.frozen
class TurnTakingParams:
    """Every timing of the policy, in seconds (``_s``) or counts."""

    # End of turn.
    vad_confirm_timeout_s: float = attrs.field(default=1.0, validator=_non_negative)
    stt_eot_timeout_s: float = attrs.field(default=2.0, validator=_non_negative)
    incomplete_hold_s: float = attrs.field(default=1.0, validator=_non_negative)
    # Quiet the VAD must hear (from its first quiet frame) to confirm an STT end of turn.
    eot_min_quiet_s: float = attrs.field(default=0.06, validator=_non_negative)
    # VAD speech end this long ago, words heard, no STT end of turn: ask for the final
    # (an STT may hold it while an entity such as a phone number could go on).
    stt_finalize_after_s: float = attrs.field(default=0.4, validator=_non_negative)
    # Preemptive (speculative) generation.
    preemptive: bool = True
    max_speculative_per_turn: int = attrs.field(default=3, validator=_non_negative)
    # Barge-in.
    barge_in_min_speech_s: float = attrs.field(default=0.2, validator=_non_negative)
    barge_in_confirm_speech_s: float = attrs.field(default=0.8, validator=_non_negative)
    false_interruption_s: float = attrs.field(default=0.6, validator=_non_negative)
    greeting_settle_s: float = attrs.field(default=0.15, validator=_non_negative)
    echo_cooldown_s: float = attrs.field(default=0.3, validator=_non_negative)
    blip_max_s: float = attrs.field(default=0.4, validator=_non_negative)
    backchannels: frozenset[str] = attrs.field(default=DEFAULT_BACKCHANNELS, converter=_to_word_set)
    dtmf_barge_in: bool = True
    # False end of turn (``turntaking_continue``): the caller goes on this soon after the
    # reply was first heard (or before), with this much speech: the reply is taken back.
    continue_window_s: float = attrs.field(default=1.0, validator=_non_negative)
    continue_min_speech_s: float = attrs.field(default=0.5, validator=_non_negative)
    # Silence and recognition quality.
    reprompt_after_s: float = attrs.field(default=6.0, validator=_non_negative)
    # The caller spoke and the STT said so (``SpeechStarted``) but owes the words: no
    # "are you still there?" until this long after the speech ended. A batch STT
    # (Whisper) decodes only then, seconds late on a busy box (its own bound is 10 s).
    stt_owed_hold_s: float = attrs.field(default=12.0, validator=_non_negative)
    max_reprompts: int = attrs.field(default=3, validator=_non_negative)
    min_confidence: float = attrs.field(default=0.5, validator=_fraction)
    # A word the STT heard below this (where it gives word confidences) is named to the
    # policy, which reads back a name or an address holding one (``doubt.mark_check``).
    fair_word_confidence: float = attrs.field(default=0.7, validator=_fraction)
    max_ask_repeat: int = attrs.field(default=2, validator=_non_negative)
    # Low confidence: pass the words on marked unsure (the policy confirms them) rather
    # than ask the caller to repeat with nothing of what they said kept.
    confirm_unsure: bool = True

    def __attrs_post_init__(self) -> None:
        if self.barge_in_confirm_speech_s < self.barge_in_min_speech_s:
            raise ConfigError(
                f"barge_in_confirm_speech_s={self.barge_in_confirm_speech_s} must be at least "
                f"barge_in_min_speech_s={self.barge_in_min_speech_s}"
            )
