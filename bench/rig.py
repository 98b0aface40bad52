"""Shared set-up for the call benchmarks (latency, load, soak).

The agent runs exactly as ``voice-agent serve --brain conversation`` wires it
(the real Deepgram, OpenAI-compatible and Cartesia clients, chosen and pointed
by environment variables through ``agent.providers.registry``), with the
shipped settings unless a flag changes one (``Budget.endpointing_ms``: the
shipped ``DEEPGRAM_ENDPOINTING_MS``), against the wire-faithful fakes of
``tests.fakes`` on loopback, over TLS (a CA made at run time, trusted through
``VOICE_AGENT_CA_FILE``; ``--plain`` for ws:// and http://), each set to a
latency budget:

* STT: the fake Deepgram decides the end of speech after ``endpointing`` ms of
  silent audio and sends the final ``stt_latency_ms`` after the message holding
  the audio that completed it arrived. The caller sends each 20 ms frame at the
  start of its 20 ms, so the decision can fall ``endpointing - 20`` ms after the
  caller's end of speech at the earliest: ``stt_final_ms`` after it in all, plus
  the agent's uplink (reader -> channel -> batcher -> WebSocket), which is the
  agent's time. The caller stamps its silent frames (``tests.fakes.framestamp``),
  so the fake can tell when the frame that ended an utterance left the caller.
* LLM: the first token ``llm_first_token_ms`` after the request, then one token
  every ``llm_token_ms``.
* TTS: the first audio ``tts_first_audio_ms`` after a context's first text.

The injected time on the path from the caller's end of speech to the first
agent audio is ``stt_final_ms + llm_first_token_ms + tts_first_audio_ms``;
everything else is the agent's (and loopback TCP's).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import trio

from agent.base.settings.catalog import SCHEMA
from agent.business.company import EXAMPLE_COMPANIES

# Appended: a PYTHONPATH given to the agent (load.py --agent-tree) comes first.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from agent.business.company import load_companies
from agent.conversation import conversation_brain_factory
from agent.demo.signals import speechlike
from agent.dialogue.tools import ToolResult
from agent.dialogue.turntaking import TurnTakingParams
from agent.media.call import BrainFactory
from tests.fakes.cartesia import FakeCartesia
from tests.fakes.deepgram import FakeDeepgram
from tests.fakes.openai import FakeOpenAIServer, ScriptedReply
from tests.fakes.tls import LoopbackTLS

FRAME_S = 0.02
SHIPPED_COMPANIES = EXAMPLE_COMPANIES


def always_open_companies() -> Path:
    """The shipped companies, open round the clock. The benchmarks measure the call
    path, not the opening hours: run out of hours, the closed-hours greeting and
    flow change what is measured (found when a load run after 13:00 on a Saturday
    answered the first turn of 3 calls in 10 after ~7 s)."""
    data = json.loads(SHIPPED_COMPANIES.read_text())
    for company in data["companies"]:
        company["hours"] = {
            day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        }
    # One file for every run (not one per process, left behind each time); written
    # aside and renamed, so a bench starting meanwhile never reads half of it.
    path = Path(tempfile.gettempdir()) / "voice-agent-bench-companies.json"
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(data))
    partial.replace(path)
    return path


COMPANIES = always_open_companies()
HEARD = "I need a plumber please."  # what the fake STT hears in every utterance
REPLY = "Sure, I can help with that."  # the fake LLM's answer
LONG_WORD = "story"  # a caller utterance heard with this word gets LONG_REPLY
LONG_REPLY = (
    "Let me tell you everything about our services, our prices, our engineers, "
    "our opening hours and the areas we cover, in some detail."
)
FAKE_KEY = "test-key"


SHIPPED_ENDPOINTING_MS = int(SCHEMA["DEEPGRAM_ENDPOINTING_MS"].default)
SHIPPED_BATCH_MS = int(SCHEMA["DEEPGRAM_BATCH_MS"].default)


@attrs.frozen
class Budget:
    """The providers' own latencies (milliseconds) and the endpointing they run."""

    stt_latency_ms: float = 100.0  # after the audio that completes endpointing arrives
    llm_first_token_ms: float = 40.0
    llm_token_ms: float = 8.0
    tts_first_audio_ms: float = 60.0
    endpointing_ms: int = SHIPPED_ENDPOINTING_MS

    @classmethod
    def from_args(cls, args: Any) -> Budget:
        return cls(
            args.stt_latency_ms,
            args.llm_first_token_ms,
            args.llm_token_ms,
            args.tts_first_audio_ms,
            args.endpointing_ms,
        )

    @property
    def stt_final_ms(self) -> float:
        """The final after the caller's end of speech, with no uplink delay."""
        return self.endpointing_ms - 1000 * FRAME_S + self.stt_latency_ms

    @property
    def injected_ms(self) -> float:
        return self.stt_final_ms + self.llm_first_token_ms + self.tts_first_audio_ms

    @property
    def stt_result_latency_s(self) -> float:
        return self.stt_latency_ms / 1000

    def describe(self) -> str:
        shipped = " (shipped)" if self.endpointing_ms == SHIPPED_ENDPOINTING_MS else ""
        return (
            f"endpointing {self.endpointing_ms} ms{shipped}; STT final"
            f" {self.stt_latency_ms:g} ms after the audio that ends the utterance reaches it"
            f" ({self.stt_final_ms:g} ms after the end of speech), LLM first token"
            f" {self.llm_first_token_ms:g} ms then {self.llm_token_ms:g} ms/token, TTS first"
            f" audio {self.tts_first_audio_ms:g} ms (injected on the path: {self.injected_ms:g} ms)"
        )


def add_budget_args(parser: Any) -> None:
    """The flags that change the budget or the endpointing (the shipped one by default)."""
    defaults = Budget()
    parser.add_argument("--stt-latency-ms", type=float, default=defaults.stt_latency_ms)
    parser.add_argument("--llm-first-token-ms", type=float, default=defaults.llm_first_token_ms)
    parser.add_argument("--llm-token-ms", type=float, default=defaults.llm_token_ms)
    parser.add_argument("--tts-first-audio-ms", type=float, default=defaults.tts_first_audio_ms)
    parser.add_argument(
        "--endpointing-ms",
        type=int,
        default=SHIPPED_ENDPOINTING_MS,
        help=f"DEEPGRAM_ENDPOINTING_MS (default: the shipped {SHIPPED_ENDPOINTING_MS})",
    )
    parser.add_argument(
        "--plain", action="store_true", help="fakes on ws:// and http:// (default: TLS)"
    )


def settings_label(budget: Budget, *, tls: bool, **more: Any) -> dict[str, Any]:
    """What a figure was measured with (every results file carries it)."""
    return {
        "budget_ms": attrs.asdict(budget),
        "injected_ms": budget.injected_ms,
        "DEEPGRAM_ENDPOINTING_MS": budget.endpointing_ms,
        "endpointing_shipped": budget.endpointing_ms == SHIPPED_ENDPOINTING_MS,
        "DEEPGRAM_BATCH_MS": SHIPPED_BATCH_MS,
        "fakes_tls": tls,
        **more,
    }


def last_user_text(body: Any) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


@attrs.define
class Fakes:
    deepgram: FakeDeepgram
    openai: FakeOpenAIServer
    cartesia: FakeCartesia
    tls: LoopbackTLS | None = None

    def env(self) -> dict[str, str]:
        env = fake_env(self.deepgram.url, self.openai.base_url, self.cartesia.url)
        return env if self.tls is None else {**env, **self.tls.env()}


def fake_env(deepgram_url: str, openai_url: str, cartesia_url: str) -> dict[str, str]:
    """The environment that points the agent's real clients at the fakes."""
    return {
        "VOICE_AGENT_STT": "deepgram",
        "DEEPGRAM_API_KEY": "fake-deepgram-key",
        "DEEPGRAM_URL": deepgram_url,
        "VOICE_AGENT_LLM": "groq",
        "GROQ_API_KEY": FAKE_KEY,
        "LLM_BASE_URL": openai_url,
        "VOICE_AGENT_TTS": "cartesia",
        "CARTESIA_API_KEY": FAKE_KEY,
        "CARTESIA_URL": cartesia_url,
        "CARTESIA_VOICE_ID": "a0e99841-438c-4a64-b679-ae501e7d6091",
        "VOICE_AGENT_COMPANIES": str(COMPANIES),
        # serve refuses a companies file whose booking API has no key (the bench's
        # model never books: the key is never sent).
        **{key: "fake-booking-key" for key in booking_key_names()},
    }


def booking_key_names() -> list[str]:
    companies = json.loads(COMPANIES.read_text())["companies"]
    return [c["booking_api"]["key_env"] for c in companies if c.get("booking_api")]


def budget_env(budget: Budget) -> dict[str, str]:
    if budget.endpointing_ms == SHIPPED_ENDPOINTING_MS:
        return {}  # the shipped default, as serve runs it
    return {"DEEPGRAM_ENDPOINTING_MS": str(budget.endpointing_ms)}


async def start_fakes(
    nursery: trio.Nursery,
    budget: Budget,
    *,
    heard: str = HEARD,
    reply: str = REPLY,
    tls: bool = True,
) -> Fakes:
    """Start the three fakes on loopback in ``nursery``, set to ``budget``, over TLS
    (a CA made now; ``Fakes.env()`` trusts it) unless ``tls`` is false."""
    loopback = LoopbackTLS() if tls else None
    context = None if loopback is None else loopback.server_context

    def scripted(text: str) -> ScriptedReply:
        return ScriptedReply(
            text=text,
            first_token_delay=budget.llm_first_token_ms / 1000,
            token_gap=budget.llm_token_ms / 1000,
        )

    short, long = scripted(reply), scripted(LONG_REPLY)
    deepgram = FakeDeepgram(
        default_text=heard,
        result_latency_s=budget.stt_result_latency_s,
        idle_timeout_s=3600.0,
        ssl_context=context,
    )
    openai = FakeOpenAIServer(
        api_key=FAKE_KEY,
        default_reply=short,
        reply_for=lambda body: long if LONG_WORD in last_user_text(body) else None,
    )
    cartesia = FakeCartesia(api_key=FAKE_KEY, first_audio_delay=budget.tts_first_audio_ms / 1000)
    openai.ssl_context = cartesia.ssl_context = context
    await nursery.start(deepgram.serve)
    await nursery.start(openai.serve)
    await nursery.start(cartesia.serve)
    return Fakes(deepgram, openai, cartesia, loopback)


class NoTools:
    """The benchmark's model never calls tools; if it did, the call would say so."""

    async def run(self, call: Any, now: float) -> ToolResult:
        return ToolResult(call.name, "refused", error="no tools in the benchmark")


def conversation_factory(
    env: Mapping[str, str],
    *,
    turn_taking: TurnTakingParams | None = None,
    shared: Any | None = None,
) -> BrainFactory:
    """The conversation brain as ``agent.service.wiring`` wires it, with the registry's providers.

    ``shared``: the LLM's pooled client, a running ``SharedClient``, as ``serve`` runs
    it; without it each turn makes its own client."""
    from agent.providers.registry import chosen, llm_factory, stt_factory, tts_factory

    companies = load_companies(str(COMPANIES))
    assert companies.default_id is not None
    default = companies.get(companies.default_id)
    stt, llm, tts = chosen(env)
    make_llm = llm_factory(llm, env, company_for=lambda call: default, shared=shared)

    return conversation_brain_factory(
        stt=stt_factory(stt, env),
        llm=make_llm,
        tts=tts_factory(tts, env),
        tools=lambda call, company: NoTools(),
        companies=companies,
        turn_taking=turn_taking,
    )


# --- the caller's speech ----------------------------------------------------------


def utterance_lengths(count: int, seed: int = 7) -> list[float]:
    """Utterance lengths (s) in whole frames, each ending inside a syllable of
    ``speechlike`` (so the last frame sent is voiced and the end is sharp)."""
    rng = np.random.default_rng(seed)
    lengths: list[float] = []
    while len(lengths) < count:
        frames = int(rng.integers(30, 61))  # 0.6 .. 1.2 s
        seconds = frames * FRAME_S
        if 0.02 <= seconds % 0.21 <= 0.17:
            lengths.append(round(seconds, 2))
    return lengths


def speech(seconds: float) -> bytes:
    return speechlike(seconds, dbfs=-14.0)


# --- statistics and processes (bench/measure.py) -----------------------------------

from measure import (  # noqa: E402  (re-exported: the benchmarks import them from here)
    fmt,
    loadavg_line,
    machine,
    proc_cpu_s,
    proc_fds,
    proc_rss_bytes,
    process_tree,
    summary,
    tree_usage,
)

__all__ = [
    "fmt",
    "loadavg_line",
    "machine",
    "proc_cpu_s",
    "proc_fds",
    "proc_rss_bytes",
    "process_tree",
    "summary",
    "tree_usage",
]
