"""What the fake Cartesia (``tests.fakes.cartesia``) records of each socket and context.

A test reads them to see what a client sent and got; the fake reads the
context's own rules from them: how much of its text may be spoken yet
(``speakable``: whole words until the input is closed) and when it expires
(``expires_at``: see the fake's docstring).
"""

from __future__ import annotations

from typing import Any

import attrs
import trio


@attrs.define(eq=False)
class ContextRecord:
    context_id: str
    # (arrival time, transcript, continue) for every generation request.
    fragments: list[tuple[float, str, bool]] = attrs.field(factory=list)
    settings: dict[str, Any] | None = None
    closed: bool = False  # ``continue: false`` received
    cancelled_at: float | None = None
    chunks_sent: int = 0
    first_chunk_at: float | None = None
    last_chunk_at: float | None = None
    last_input_at: float = 0.0
    spoken_chars: int = 0  # how much of ``text`` the chunks sent so far have said
    expired_at: float | None = None  # set when input arrived after the context expired
    chunks_after_cancel: int = 0
    done_sent: bool = False
    error_sent: bool = False
    changed: trio.Event = attrs.field(factory=trio.Event, repr=False)

    @property
    def text(self) -> str:
        return "".join(piece for _, piece, _ in self.fragments)

    @property
    def sample_rate(self) -> int:
        return (self.settings or {}).get("output_format", {}).get("sample_rate", 8000)

    @property
    def speakable(self) -> int:
        """How much of ``text`` may be spoken now: like a real model, only whole
        words until the input is closed."""
        text = self.text
        return len(text) if self.closed else max(text.rfind(" "), text.rfind("\n")) + 1

    def expires_at(self, expiry_s: float) -> float | None:
        """When this context expires if nothing more happens, or None if it cannot:
        it is closed or cancelled, has streamed no audio yet, or still has audio to
        stream for the text it has."""
        if self.closed or self.cancelled_at is not None or self.last_chunk_at is None:
            return None
        if self.spoken_chars < self.speakable:
            return None
        return max(self.last_chunk_at, self.last_input_at) + expiry_s


@attrs.define(eq=False)
class ConnectionRecord:
    path: str
    headers: dict[str, str]
    version: str = ""  # the Cartesia-Version the handshake named
    accepted: bool = False
    contexts: dict[str, ContextRecord] = attrs.field(factory=dict)
    chunks_sent: int = 0
    closed_at: float | None = None  # when the socket ended, whoever closed it
    wire: Any = None  # its socket's stamps (``wiretime.StampedStream``)
