"""Inputs, actions and settings of the booking workflow (frozen values)."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from agent.business.company import TransferTarget
from agent.dialogue.slots import Intent, Slots
from agent.dialogue.tools import ToolRequest

# --- inputs -------------------------------------------------------------------


@attrs.frozen
class Start:
    """The call is up: greet (or say we're closed)."""


@attrs.frozen
class Utterance:
    """What the caller said, with the intent and slots a recogniser found in it."""

    text: str
    confidence: float = 1.0
    intent: Intent | None = None
    slots: Slots = attrs.field(factory=Slots)
    doubted: frozenset[str] = frozenset()  # words the recogniser was unsure of (lower case)
    # The recogniser's other readings of the line (``doubt.split_also_heard``), best first.
    alternatives: tuple[str, ...] = ()


@attrs.frozen
class Silence:
    """Turn-taking heard nothing for ``WorkflowConfig.silence_timeout`` seconds."""


@attrs.frozen
class Dtmf:
    digit: str  # "0".."9", "*", "#"

    def __attrs_post_init__(self) -> None:
        if len(self.digit) != 1 or self.digit not in "0123456789*#ABCD":
            raise ValueError(f"not a DTMF digit: {self.digit!r}")


# --- actions ------------------------------------------------------------------


@attrs.frozen
class Say:
    """Speak ``text`` (already written for the ear); ``key`` names the template."""

    text: str
    key: str


@attrs.frozen
class CallTool:
    """Run a tool and feed its ``ToolResult`` back to ``handle``."""

    name: str
    request: ToolRequest
    idempotency_key: str | None = None  # set for book_appointment


@attrs.frozen
class Transfer:
    target: TransferTarget
    reason: str = ""


@attrs.frozen
class EndCall:
    reason: str


@attrs.frozen
class KeepPending:
    """Put something in the outbox for later: a booking the API did not confirm
    (retry with the same idempotency key), a callback request or a correction."""

    kind: Literal["booking", "callback", "correction"]
    data: dict[str, Any] = attrs.field(factory=dict, hash=False)
    idempotency_key: str | None = None


Action = Say | CallTool | Transfer | EndCall | KeepPending


@attrs.frozen
class WorkflowConfig:
    silence_timeout: float = 6.0  # seconds without speech before a reprompt
    max_reprompts: int = 3  # then end politely
    min_confidence: float = 0.5  # below: ask to repeat
    max_repeats: int = 3  # consecutive "say again"s before offering a person
    max_misses: int = 4  # failed tries at one detail before a person takes over
    # Lines without a service before an engineer is offered to look (``workflow_problem``).
    assess_after: int = 2
    human_digit: str | None = "0"  # DTMF outside digit entry that asks for a person
    max_offers: int = 3  # slots offered one after the other before asking for another time
    priority_window: float = 24 * 3600.0  # emergency bookings look this far ahead

    def __attrs_post_init__(self) -> None:
        if not self.silence_timeout > 0:
            raise ValueError(f"silence_timeout must be positive, got {self.silence_timeout}")
        if self.max_reprompts < 0 or self.max_repeats < 0 or self.max_offers < 1:
            raise ValueError("max_reprompts/max_repeats must be >= 0, max_offers >= 1")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in 0..1, got {self.min_confidence}")
        if self.human_digit is not None and (
            len(self.human_digit) != 1 or self.human_digit not in "0123456789*#"
        ):
            raise ValueError(f"human_digit must be one DTMF key, got {self.human_digit!r}")
