"""The conversation's settings and the fixed texts it adds to the model's prompt."""

from __future__ import annotations

from typing import Literal

import attrs

from agent.base.errors import ConfigError
from agent.conversation.consent import CONSENT_MODES, ConsentMode

KEYPAD_PREFIX = "[typed on the keypad:"  # a key entry in the history, e.g. "... 0770]"

STRUCTURED_INSTRUCTIONS = (
    "\n\nAnswer every time with one JSON object and nothing else: "
    '{"response": "what you say to the caller", "action": null or one of get_quote, '
    "check_availability, book_appointment, transfer_to_human, request_callback, end_call, "
    '"variables": '
    "{the action's arguments}}. Results of actions come back as messages in square brackets."
)


@attrs.frozen
class ConversationParams:
    consent_gate: bool = True  # no caller audio to any STT before the greeting played
    consent: ConsentMode = "talk-over"  # how the gate opens (``consent``)
    output_mode: Literal["tools", "structured"] = "tools"
    ear: bool = True  # rewrite model text for the ear (prices, postcodes, phone numbers)
    tts_reads_brackets: bool = True
    text_buffer: int = 4  # text fragments queued for the TTS
    audio_buffer: int = 4  # audio chunks queued for playout
    llm_buffer: int = 8
    stt_buffer: int = 50  # caller frames queued for the STT (1 s) before dropping
    max_ahead_s: float = 1.0  # audio queued in playout beyond what was sent
    max_tool_rounds: int = 4
    filler_after_s: float = 0.7
    filler: str = "One moment, please."
    digit_timeout_s: float = 2.5  # a key entry without # ends after this pause
    apology: str = "Sorry, I'm having a bit of trouble. Could you say that again?"

    def __attrs_post_init__(self) -> None:
        if self.consent not in CONSENT_MODES:
            raise ConfigError(f"consent={self.consent!r}: use {' or '.join(CONSENT_MODES)}")
        if self.output_mode not in ("tools", "structured"):
            raise ConfigError(f"output_mode={self.output_mode!r}: use 'tools' or 'structured'")
        for name in ("text_buffer", "audio_buffer", "llm_buffer", "stt_buffer"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.max_ahead_s <= 0 or self.filler_after_s < 0:
            raise ConfigError("max_ahead_s must be > 0, filler_after_s >= 0")
