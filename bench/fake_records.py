"""The fakes' stage stamps, carried out of a fakes process (latency.py's timeline).

latency.py runs the fakes in a process of their own (``bench/fakes.py
--monotonic-clock``), so their TLS, HTTP and JSON work and their timers are not on
the agent's Trio loop (a real provider's work is on its own machine). Both
processes run Trio on ``MonotonicClock`` (CLOCK_MONOTONIC is one clock for the
whole host), so a stamp taken in the fakes' process lines up exactly with the
agent's and the caller's. ``records`` is what the fakes' process sends (only the
stamps the timeline reads), ``view`` gives it back the shape of the fake objects
(``fakes.deepgram.connections``, ``fakes.openai.requests``,
``fakes.cartesia.contexts``) so ``bench/timeline.py`` reads either.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import trio


class MonotonicClock(trio.abc.Clock):
    """Trio's system clock without its random offset: ``time.monotonic()``, the
    same in every process of the host."""

    def start_clock(self) -> None:
        pass

    def current_time(self) -> float:
        return time.monotonic()

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return deadline - time.monotonic()


def records(fakes: Any) -> dict[str, Any]:
    """The stamps ``timeline.turn_timeline`` uses, as JSON-able data."""
    return {
        "deepgram": [
            {
                # Only the finals: the timeline looks for nothing else.
                "sent": [
                    (at, {"type": m.get("type"), "speech_final": True})
                    for at, m in zip(c.sent_at, c.sent, strict=False)
                    if m.get("type") == "Results" and m.get("speech_final")
                ],
                "final_timing": c.final_timing,
            }
            for c in fakes.deepgram.connections
        ],
        "openai": [
            (r.received_at, r.first_token_at, r.connected_at) for r in fakes.openai.requests
        ],
        "cartesia": [
            (c.fragments[0][0], c.first_chunk_at)
            for c in fakes.cartesia.contexts.values()
            if c.fragments
        ],
    }


def view(data: dict[str, Any]) -> SimpleNamespace:
    """``records`` back in the shape of the fake objects (what the timeline reads)."""
    connections = [
        SimpleNamespace(
            sent_at=[at for at, _ in c["sent"]],
            sent=[message for _, message in c["sent"]],
            final_timing=[tuple(t) for t in c["final_timing"]],
        )
        for c in data["deepgram"]
    ]
    requests = [
        SimpleNamespace(received_at=received, first_token_at=first, connected_at=connected)
        for received, first, connected in data["openai"]
    ]
    contexts = {
        index: SimpleNamespace(fragments=[(first_text, "", None)], first_chunk_at=first_audio)
        for index, (first_text, first_audio) in enumerate(data["cartesia"])
    }
    return SimpleNamespace(
        deepgram=SimpleNamespace(connections=connections),
        openai=SimpleNamespace(requests=requests),
        cartesia=SimpleNamespace(contexts=contexts),
    )
