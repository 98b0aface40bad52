"""Mouth-to-ear latency, agent-added time and barge-in reaction of whole calls.

    python bench/latency.py [--turns 100] [--json PATH]
        [--stt-final-ms 180] [--llm-first-token-ms 40] [--llm-token-ms 8] [--tts-first-audio-ms 60]

One process, one call at a time: the real AudioSocket server with the
conversation brain as ``serve`` wires it (real Deepgram / OpenAI-compatible /
Cartesia clients) against the loopback fakes set to a latency budget (see
``bench/rig.py``), and the real softphone (``agent.demo.softphone``) over TCP.

* mouth-to-ear: the caller's end of speech -> the first agent audio frame at
  the caller (as ``voice-agent call`` reports it);
* agent-added: mouth-to-ear minus the injected provider latencies;
* a timeline per turn (every stage relative to the caller's end of speech),
  so the agent-added time can be attributed;
* barge-in: the agent's decision to stop (the turn-taker's pause, taken on the
  VAD's speech) -> the last agent speech frame at the caller.

Each figure is run with preemptive generation on and off. Nothing asserts.
The server, fakes and caller share one Trio clock, so stages line up exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
from rig import (
    LONG_WORD,
    Budget,
    Fakes,
    budget_env,
    conversation_factory,
    fmt,
    speech,
    start_fakes,
    summary,
    utterance_lengths,
)

from agent.base.config import ServerSettings
from agent.base.events import Transcript
from agent.demo.softphone import Caller, CallerParams, HangUp, Say, WaitAgent
from agent.dialogue.turntaking import (
    BargeIn,
    ConfirmResponse,
    PausePlayout,
    StartResponse,
    TurnTakingParams,
)
from agent.media.server import serve_audiosocket
from dsp import VadParams, VadTransition
from tests.fakes.deepgram_asr import Script

TURNS_PER_CALL = 10
STAGES = (
    ("stt_final_sent", "STT final leaves the fake"),
    ("stt_final_in", "turn-taker gets the final"),
    ("vad_end", "VAD speech end (server)"),
    ("reply_start", "reply starts (Start/Confirm)"),
    ("llm_request", "LLM request at the fake"),
    ("llm_first_token", "first token leaves the fake"),
    ("tts_first_text", "first text at the TTS fake"),
    ("tts_first_audio", "first audio leaves the fake"),
    ("frame_sent", "playout sends the first frame"),
    ("heard", "caller hears it (mouth-to-ear)"),
)


@attrs.define
class Trace:
    """What one call's brain saw and did, with the server's clock."""

    brain: Any
    vad: list[tuple[float, VadTransition]] = attrs.Factory(list)
    stt: list[tuple[float, Any]] = attrs.Factory(list)
    actions: list[tuple[float, Any]] = attrs.Factory(list)


def traced(factory):
    """Wrap a brain factory so each brain's hooks log what they see (no extra hops)."""
    traces: list[Trace] = []

    def make(call):
        brain = factory(call)
        trace = Trace(brain)
        traces.append(trace)
        on_vad, stt_event, execute = brain.on_vad, brain.taker.stt_event, brain._execute

        def on_vad_traced(transition, level, now):
            trace.vad.append((now, transition))
            on_vad(transition, level, now)

        def stt_event_traced(event, now):
            trace.stt.append((now, event))
            return stt_event(event, now)

        def execute_traced(actions, now):
            trace.actions.extend((now, action) for action in actions)
            execute(actions, now)

        brain.on_vad, brain.taker.stt_event, brain._execute = (
            on_vad_traced,
            stt_event_traced,
            execute_traced,
        )
        return brain

    return make, traces


def first(items, predicate, lo: float, hi: float = math.inf):
    return next((t for t, x in items if lo <= t <= hi and predicate(x)), None)


def turn_timeline(u, response_ms: float, trace: Trace, fakes: Fakes) -> dict[str, float] | None:
    """Every stage of one answered turn, in ms after the caller's end of speech."""
    end, heard = u.end_at, u.end_at + response_ms / 1000
    lo = u.start_at
    sent = [
        (t, m) for c in fakes.deepgram.connections for t, m in zip(c.sent_at, c.sent, strict=False)
    ]
    at: dict[str, float | None] = {
        "stt_final_sent": first(
            sent, lambda m: m.get("type") == "Results" and m.get("speech_final"), lo, heard
        ),
        "stt_final_in": first(
            trace.stt, lambda e: isinstance(e, Transcript) and e.is_final and e.text, lo, heard
        ),
        "vad_end": first(trace.vad, lambda v: v == VadTransition.SPEECH_END, end - 0.1, heard),
        "reply_start": first(
            trace.actions,
            lambda a: (
                isinstance(a, ConfirmResponse)
                or (isinstance(a, StartResponse) and not a.speculative)
            ),
            lo,
            heard,
        ),
        "speculative_start": first(
            trace.actions, lambda a: isinstance(a, StartResponse) and a.speculative, lo, heard
        ),
    }
    requests = [r for r in fakes.openai.requests if r.received_at and lo <= r.received_at <= heard]
    contexts = [
        c for c in fakes.cartesia.contexts.values() if c.fragments and lo <= c.fragments[0][0]
    ]
    contexts = [c for c in contexts if c.fragments[0][0] <= heard]
    frames = [
        t.utterance.first_frame_at
        for t in trace.brain.turns
        if t.utterance is not None and t.utterance.first_frame_at is not None
    ]
    at["llm_request"] = requests[-1].received_at if requests else None
    at["llm_first_token"] = requests[-1].first_token_at if requests else None
    at["tts_first_text"] = contexts[-1].fragments[0][0] if contexts else None
    at["tts_first_audio"] = contexts[-1].first_chunk_at if contexts else None
    at["frame_sent"] = next((t for t in frames if end <= t <= heard), None)
    at["heard"] = heard
    if any(at[key] is None for key, _ in STAGES):
        return None
    return {key: (value - end) * 1000 for key, value in at.items() if value is not None}


def provider_time(tl: dict[str, float]) -> float:
    """The three provider stages as the fakes actually timed them (ms)."""
    return (
        tl["stt_final_sent"]
        + (tl["llm_first_token"] - tl["llm_request"])
        + (tl["tts_first_audio"] - tl["tts_first_text"])
    )


def segments(tl: dict[str, float]) -> dict[str, float]:
    """The agent's own pieces of one turn (ms)."""
    start = tl.get("speculative_start", tl["reply_start"])
    start = min(start, tl["reply_start"])
    return {
        "speech end -> STT final leaves the fake (injected)": tl["stt_final_sent"],
        "LLM request -> first token leaves (injected)": tl["llm_first_token"] - tl["llm_request"],
        "TTS first text -> first audio leaves (injected)": tl["tts_first_audio"]
        - tl["tts_first_text"],
        "stt client (final leaves fake -> turn-taker)": tl["stt_final_in"] - tl["stt_final_sent"],
        "turn-taking wait (final in -> reply starts)": tl["reply_start"] - tl["stt_final_in"],
        "reply start -> LLM request at the fake": tl["llm_request"] - start,
        "first token -> first text at the TTS": tl["tts_first_text"] - tl["llm_first_token"],
        "TTS first audio -> playout first frame": tl["frame_sent"]
        - max(tl["tts_first_audio"], tl["reply_start"]),
        "playout frame -> caller": tl["heard"] - tl["frame_sent"],
    }


def barge_in(u, caller, trace: Trace) -> dict[str, float] | None:
    onset = u.start_at
    vad_start = first(trace.vad, lambda v: v == VadTransition.SPEECH_START, onset)
    decision = first(trace.actions, lambda a: isinstance(a, (PausePlayout, BargeIn)), onset)
    if vad_start is None or decision is None:
        return None
    voiced = [r.at for r in caller.received if r.voiced and r.at >= onset - 0.1]
    last = None
    for t in voiced:  # the agent's speech run we talked over
        if last is not None and t - last > 0.06:
            break
        last = t
    if last is None:
        return None
    return {
        "onset_to_vad_start_ms": (vad_start - onset) * 1000,
        "vad_start_to_decision_ms": (decision - vad_start) * 1000,
        "decision_to_last_frame_ms": (last - decision) * 1000,
        "frames_after_decision": float(sum(1 for t in voiced if decision < t <= last)),
        "onset_to_last_frame_ms": (last - onset) * 1000,
    }


async def run_mode(
    budget: Budget,
    *,
    preemptive: bool,
    turns: int,
    barge_ins: int,
    shared_client: bool,
    vad_stop_ms: float | None,
) -> dict:
    params = CallerParams(agent_quiet_ms=300, agent_timeout_s=10.0, linger_s=2.0)
    timelines: list[dict[str, float]] = []
    mouth_to_ear: list[float] = []
    stops: list[dict[str, float]] = []
    unanswered = 0
    async with contextlib.AsyncExitStack() as stack:
        nursery = await stack.enter_async_context(trio.open_nursery())
        client = await stack.enter_async_context(httpx.AsyncClient()) if shared_client else None
        fakes = await start_fakes(nursery, budget)
        env = {**fakes.env(), **budget_env(budget)}
        turn_taking = TurnTakingParams(preemptive=preemptive)
        factory, traces = traced(
            conversation_factory(env, turn_taking=turn_taking, llm_client=client)
        )
        settings = ServerSettings(port=0, brain="conversation")
        vad = None if vad_stop_ms is None else VadParams(stop_ms=vad_stop_ms)
        listeners = await nursery.start(
            functools.partial(serve_audiosocket, settings, factory, vad_params=vad)
        )
        port = listeners[0].socket.getsockname()[1]

        async def call(script: Sequence[Any], heard: Sequence[str] = ()) -> tuple[Caller, Trace]:
            fakes.deepgram.script = Script(heard, fakes.deepgram.script.default)
            caller = Caller([*script, WaitAgent(timeout_s=10.0), HangUp()], params=params)
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await caller.run(stream)
            await trio.sleep(0.3)  # let the server finish the call
            return caller, traces[-1]

        lengths = utterance_lengths(turns)
        for start in range(0, turns, TURNS_PER_CALL):
            chunk = lengths[start : start + TURNS_PER_CALL]
            caller, trace = await call([Say(speech(s)) for s in chunk])
            report = caller.report()
            for u, result in zip(caller.utterances, report.utterances, strict=True):
                if result.response_ms is None:
                    unanswered += 1
                    continue
                mouth_to_ear.append(result.response_ms)
                tl = turn_timeline(u, result.response_ms, trace, fakes)
                if tl is not None:
                    timelines.append(tl)
        for _ in range(barge_ins):
            script = [Say(speech(0.8)), Say(speech(1.2), interrupt_after_ms=400)]
            caller, trace = await call(script, heard=[f"tell me a {LONG_WORD}", "stop there"])
            measured = barge_in(caller.utterances[1], caller, trace)
            if measured is not None:
                stops.append(measured)
        for fake in (fakes.deepgram,):
            fake.check()
        fakes.openai.assert_clean()
        if fakes.cartesia.violations:
            raise AssertionError(fakes.cartesia.violations)
        nursery.cancel_scope.cancel()
    pacer = [t.brain.call.playout.statistics() for t in traces]
    agent_added = [m - budget.injected_ms for m in mouth_to_ear]
    return {
        "preemptive": preemptive,
        "mouth_to_ear_ms": summary(mouth_to_ear),
        "agent_added_ms": summary(agent_added),
        "agent_added_exact_ms": summary([tl["heard"] - provider_time(tl) for tl in timelines]),
        "unanswered": unanswered,
        "timeline_ms": {
            key: summary([tl[key] for tl in timelines if key in tl])
            for key in ("speculative_start", *(k for k, _ in STAGES))
        },
        "segments_ms": {
            name: summary([segments(tl)[name] for tl in timelines])
            for name in (segments(timelines[0]) if timelines else {})
        },
        "barge_in": {key: summary([s[key] for s in stops]) for key in (stops[0] if stops else {})},
        "barge_in_stop_ms": summary([max(0.0, s["decision_to_last_frame_ms"]) for s in stops]),
        "frames_sent": sum(p["frames_sent"] for p in pacer),
        "late_frames": sum(p["late_frames"] for p in pacer),
    }


def print_mode(result: dict, budget: Budget) -> None:
    mode = "on" if result["preemptive"] else "off"
    print(f"\n== preemptive generation {mode} ==")
    print(
        f"mouth-to-ear  ms  {fmt(result['mouth_to_ear_ms'])}  (n={result['mouth_to_ear_ms']['n']})"
    )
    injected = f"(= mouth-to-ear - {budget.injected_ms:g})"
    print(f"agent-added   ms  {fmt(result['agent_added_ms'])}  {injected}")
    exact = "(= mouth-to-ear - the providers' stages as the fakes timed them)"
    print(f"  exactly     ms  {fmt(result['agent_added_exact_ms'])}  {exact}")
    print(f"frames sent late (the pacer's count): {result['late_frames']}/{result['frames_sent']}")
    if result["unanswered"]:
        print(f"turns the agent never answered: {result['unanswered']}")
    print("timeline, ms after the caller's end of speech:")
    labels = dict(STAGES) | {"speculative_start": "speculative reply starts"}
    for key, stats in result["timeline_ms"].items():
        if stats["n"]:
            print(f"  {labels[key]:34s} {fmt(stats, ('p50', 'p99', 'max'))}")
    print("agent's own pieces, ms:")
    for name, stats in result["segments_ms"].items():
        print(f"  {name:46s} {fmt(stats, ('p50', 'p99', 'max'))}")
    if result["barge_in"]:
        print(f"barge-in ({result['barge_in_stop_ms']['n']} interruptions), ms:")
        for key, stats in result["barge_in"].items():
            print(f"  {key:28s} {fmt(stats, ('p50', 'p99', 'max'))}")


async def main_async(args: argparse.Namespace) -> dict:
    budget = Budget(
        args.stt_final_ms, args.llm_first_token_ms, args.llm_token_ms, args.tts_first_audio_ms
    )
    print(f"budget: {budget.describe()}")
    if args.shared_llm_client:
        print("the LLM gets one shared httpx client (--shared-llm-client)")
    if args.vad_stop_ms is not None:
        print(f"VAD stop hangover {args.vad_stop_ms:g} ms (--vad-stop-ms)")
    results = {}
    for preemptive in (True, False):
        started = time.monotonic()
        results[preemptive] = await run_mode(
            budget,
            preemptive=preemptive,
            turns=args.turns,
            barge_ins=args.barge_ins,
            shared_client=args.shared_llm_client,
            vad_stop_ms=args.vad_stop_ms,
        )
        print_mode(results[preemptive], budget)
        print(f"({time.monotonic() - started:.0f} s)")
    on = results[True]
    return {
        "agent_added_ms": {k: on["agent_added_ms"][k] for k in ("p50", "p95", "p99")},
        "mouth_to_ear_ms": {k: on["mouth_to_ear_ms"][k] for k in ("p50", "p95", "p99")},
        "barge_in_stop_ms": {k: on["barge_in_stop_ms"][k] for k in ("p50", "p95", "p99")},
        "budget": attrs.asdict(budget),
        "shared_llm_client": args.shared_llm_client,
        "vad_stop_ms": args.vad_stop_ms,
        "preemptive_on": on,
        "preemptive_off": results[False],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=100, help="answered turns per mode")
    parser.add_argument("--barge-ins", type=int, default=20, help="interruptions per mode")
    parser.add_argument("--stt-final-ms", type=float, default=180.0)
    parser.add_argument("--llm-first-token-ms", type=float, default=40.0)
    parser.add_argument("--llm-token-ms", type=float, default=8.0)
    parser.add_argument("--tts-first-audio-ms", type=float, default=60.0)
    parser.add_argument(
        "--shared-llm-client",
        action="store_true",
        help="one pooled httpx client for the LLM, as serve runs it (SharedClient)",
    )
    parser.add_argument(
        "--vad-stop-ms", type=float, help="the VAD's stop hangover (default: VadParams' 240)"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    out = trio.run(main_async, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
