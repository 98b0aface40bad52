"""Mouth-to-ear latency, agent-added time and barge-in reaction of whole calls.

    python bench/latency.py [--turns 100] [--json PATH] [--plain] [--endpointing-ms 400]
        [--stt-latency-ms 100] [--llm-first-token-ms 40] [--llm-token-ms 8]
        [--tts-first-audio-ms 60]

One process, one call at a time: the real AudioSocket server with the
conversation brain as ``serve`` wires it (real Deepgram / OpenAI-compatible /
Cartesia clients) against the loopback fakes set to a latency budget (see
``bench/rig.py``), and the real softphone (``agent.demo.softphone``) over TCP.

* mouth-to-ear: the caller's end of speech -> the first agent audio frame at
  the caller (as ``voice-agent call`` reports it);
* agent-added: mouth-to-ear minus the injected provider latencies (the budget);
  *exactly*, minus the providers' stages as the fakes timed them, two ways: the
  STT's stage from the caller's end of speech to the final leaving the fake
  (the agent's uplink booked as the provider's: the figure before frame stamps),
  and with the uplink counted as the agent's (the STT's stage is the endpointing
  silence up to the caller's stamped frame that completed it, plus the fake's
  time from that audio's arrival to the final);
* a timeline per turn (every stage relative to the caller's end of speech),
  so the agent-added time can be attributed;
* barge-in: the agent's decision to stop (the turn-taker's pause, taken on the
  VAD's speech) -> the last agent speech frame at the caller.

Each figure is run with preemptive generation on and off. Nothing asserts.
The server and the caller share one Trio clock; the fakes run in a process of
their own (``bench/fakes.py``: their TLS, HTTP, JSON and timers are a real
provider's work, done on its own machine, not on the agent's loop) on the same
CLOCK_MONOTONIC (``bench/fake_records.py``), so stages still line up exactly.
``--fakes-in-process`` puts them back on the agent's loop (as before lat17).
Shipped settings (endpointing 400 ms, the pooled LLM client as ``serve`` runs
it) and TLS fakes unless a flag says otherwise; the output says which.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio
from fake_records import MonotonicClock, view
from gc_pauses import GcPauses
from measure import yardstick_ms
from procs import Fakes as FakesProcess
from rig import (
    LONG_WORD,
    Budget,
    add_budget_args,
    budget_env,
    conversation_factory,
    fmt,
    loadavg_line,
    machine,
    settings_label,
    speech,
    start_fakes,
    summary,
    utterance_lengths,
)
from stamping import StampingStream
from timeline import (
    STAGES,
    TURN_STAGES,
    Trace,
    barge_in,
    provider_time,
    segments,
    traced,
    turn_timeline,
)

import agent
from agent.base.config import ServerSettings
from agent.demo.softphone import Caller, CallerParams, HangUp, Say, WaitAgent
from agent.dialogue.turntaking import (
    TurnTakingParams,
)
from agent.media.server import serve_audiosocket
from agent.providers.llm.openai_compat import SharedClient
from dsp import VadParams
from tests.fakes.deepgram_asr import Script

TURNS_PER_CALL = 10


async def run_mode(
    budget: Budget,
    *,
    preemptive: bool,
    turns: int,
    barge_ins: int,
    shared_client: bool,
    vad_stop_ms: float | None,
    tls: bool,
    fakes_in_process: bool,
) -> dict:
    params = CallerParams(agent_quiet_ms=300, agent_timeout_s=10.0, linger_s=2.0)
    timelines: list[dict[str, float]] = []
    mouth_to_ear: list[float] = []
    stops: list[dict[str, float]] = []
    unanswered = 0
    # (utterance, its mouth-to-ear, the call's trace, the wall clock's offset from ours
    # then): timed once the run is over. The offset is read after each call: the
    # fake STT's frame stamps are wall-clock, and a step of the wall clock (seen
    # once here: ~70 ms) would shift every later turn's if read once.
    answered: list[tuple[Any, float, Trace, float]] = []
    async with contextlib.AsyncExitStack() as stack:
        nursery = await stack.enter_async_context(trio.open_nursery())
        if fakes_in_process:
            fakes = await start_fakes(nursery, budget, tls=tls)
            env = {**fakes.env(), **budget_env(budget)}
        else:
            # At the agent's niceness: neither ahead of it nor behind it.
            process = FakesProcess(budget, ["--monotonic-clock"], plain=not tls, nice=0)
            stack.callback(process.stop)
            env = process.env
        # In this process the clients' TLS context reads the CA from the environment.
        os.environ.update({k: v for k, v in env.items() if k == "VOICE_AGENT_CA_FILE"})
        shared = None
        if shared_client:  # serve's pooled client (its limits and TLS context)
            shared = SharedClient()
            await nursery.start(shared.run)
        turn_taking = TurnTakingParams(preemptive=preemptive)
        factory, traces = traced(conversation_factory(env, turn_taking=turn_taking, shared=shared))
        settings = ServerSettings(port=0, brain="conversation")
        vad = None if vad_stop_ms is None else VadParams(stop_ms=vad_stop_ms)
        listeners = await nursery.start(
            functools.partial(serve_audiosocket, settings, factory, vad_params=vad)
        )
        port = listeners[0].socket.getsockname()[1]
        gc.freeze()  # as serve does once started (Service._run): start-up's objects live on
        pauses = stack.enter_context(GcPauses())

        async def call(script: Sequence[Any], heard: Sequence[str] = ()) -> tuple[Caller, Trace]:
            if fakes_in_process:
                fakes.deepgram.script = Script(heard, fakes.deepgram.script.default)
            else:  # (a blocking request, between calls: nothing else is running)
                process.ask(f"script {json.dumps(list(heard))}", "script")
            caller = Caller([*script, WaitAgent(timeout_s=10.0), HangUp()], params=params)
            stream = StampingStream(await trio.open_tcp_stream("127.0.0.1", port))
            await caller.run(stream)
            await trio.sleep(0.3)  # let the server finish the call
            return caller, traces[-1]

        lengths = utterance_lengths(turns)
        for start in range(0, turns, TURNS_PER_CALL):
            chunk = lengths[start : start + TURNS_PER_CALL]
            caller, trace = await call([Say(speech(s)) for s in chunk])
            report = caller.report()
            wall = time.time() - trio.current_time()
            for u, result in zip(caller.utterances, report.utterances, strict=True):
                if result.response_ms is None:
                    unanswered += 1
                    continue
                mouth_to_ear.append(result.response_ms)
                answered.append((u, result.response_ms, trace, wall))
            if fakes_in_process:  # timed after each call, as before lat17
                timelines += timed(answered, fakes, pauses)
                answered.clear()
        for _ in range(barge_ins):
            script = [Say(speech(0.8)), Say(speech(1.2), interrupt_after_ms=400)]
            caller, trace = await call(script, heard=[f"tell me a {LONG_WORD}", "stop there"])
            measured = barge_in(caller.utterances[1], caller, trace)
            if measured is not None:
                stops.append(measured)
        if fakes_in_process:
            fakes.deepgram.check()
            fakes.openai.assert_clean()
            if fakes.cartesia.violations:
                raise AssertionError(fakes.cartesia.violations)
            stamps = fakes
        else:
            if violations := process.ask("violations", "violations"):
                raise AssertionError("the fakes saw protocol violations:\n" + "\n".join(violations))
            stamps = view(process.ask("records", "records"))
        timelines += timed(answered, stamps, pauses)
        collections = pauses.summary()
        nursery.cancel_scope.cancel()
    pacer = [t.call.playout.statistics() for t in traces]
    agent_added = [m - budget.injected_ms for m in mouth_to_ear]
    return {
        "preemptive": preemptive,
        "mouth_to_ear_ms": summary(mouth_to_ear),
        "agent_added_ms": summary(agent_added),
        "agent_added_exact_ms": summary([tl["heard"] - provider_time(tl) for tl in timelines]),
        "agent_added_exact_uplink_as_provider_ms": summary(
            [tl["heard"] - provider_time(tl, uplink_counted=False) for tl in timelines]
        ),
        "unanswered": unanswered,
        "timeline_ms": {
            key: summary([tl[key] for tl in timelines if key in tl])
            for key in ("speculative_start", *(k for k, _ in (*STAGES, *TURN_STAGES)))
        },
        "segments_ms": {
            name: summary([seg[name] for seg in map(segments, timelines) if name in seg])
            for name in {name: None for tl in timelines for name in segments(tl)}
        },
        "barge_in": {key: summary([s[key] for s in stops]) for key in (stops[0] if stops else {})},
        "barge_in_stop_ms": summary([max(0.0, s["decision_to_last_frame_ms"]) for s in stops]),
        # Every answered turn's stages (ms after the caller's end of speech), so runs
        # can be pooled (bench/latency_pool.py).
        "timelines": [{k: round(v, 3) for k, v in tl.items()} for tl in timelines],
        "gc_pauses": collections,
        "frames_sent": sum(p["frames_sent"] for p in pacer),
        "late_frames": sum(p["late_frames"] for p in pacer),
    }


def timed(answered: list, stamps: Any, pauses: GcPauses) -> list[dict[str, float]]:
    """The answered turns' timelines, each with the collector's pauses inside it
    (between the end of speech and the answer heard)."""
    timelines = []
    for u, response_ms, trace, wall in answered:
        tl = turn_timeline(u, response_ms, trace, stamps, wall)
        if tl is not None:
            tl["gc_ms"] = 1000 * pauses.during(u.end_at, u.end_at + response_ms / 1000)
            timelines.append(tl)
    return timelines


def print_mode(result: dict, budget: Budget) -> None:
    mode = "on" if result["preemptive"] else "off"
    print(f"\n== preemptive generation {mode} ==")
    print(
        f"mouth-to-ear  ms  {fmt(result['mouth_to_ear_ms'])}  (n={result['mouth_to_ear_ms']['n']})"
    )
    injected = f"(= mouth-to-ear - {budget.injected_ms:g})"
    print(f"agent-added   ms  {fmt(result['agent_added_ms'])}  {injected}")
    exact = "(= mouth-to-ear - the providers' stages as the fakes timed them, uplink counted)"
    print(f"  exactly     ms  {fmt(result['agent_added_exact_ms'])}  {exact}")
    before = "(the uplink booked as the STT's, as before frame stamps)"
    print(f"  exactly     ms  {fmt(result['agent_added_exact_uplink_as_provider_ms'])}  {before}")
    print(f"frames sent late (the pacer's count): {result['late_frames']}/{result['frames_sent']}")
    if result["unanswered"]:
        print(f"turns the agent never answered: {result['unanswered']}")
    print("timeline, ms after the caller's end of speech:")
    labels = dict(STAGES) | dict(TURN_STAGES) | {"speculative_start": "speculative reply starts"}
    for key, stats in result["timeline_ms"].items():
        if stats["n"]:
            print(f"  {labels[key]:34s} {fmt(stats, ('p50', 'p99', 'max'))}")
    print("agent's own pieces, ms:")
    for name, stats in result["segments_ms"].items():
        print(f"  {name:46s} {fmt(stats, ('p50', 'p99', 'max'))}")
    print_slow_turns(result["timelines"])
    gcs = ", ".join(
        f"{g} {c['n']} ({c['total_ms']:.1f} ms, max {c['max_ms']:.1f})"
        for g, c in result["gc_pauses"].items()
    )
    print(f"garbage collections during the calls: {gcs}")
    if result["barge_in"]:
        print(f"barge-in ({result['barge_in_stop_ms']['n']} interruptions), ms:")
        for key, stats in result["barge_in"].items():
            print(f"  {key:28s} {fmt(stats, ('p50', 'p99', 'max'))}")


def print_slow_turns(timelines: list[dict[str, float]]) -> None:
    """The slowest tenth of the turns (agent-added exactly), each with its largest
    agent pieces and the collector's pauses inside it."""
    added = sorted(((tl["heard"] - provider_time(tl), tl) for tl in timelines), key=lambda x: -x[0])
    slow = added[: max(1, len(added) // 10)] if added else []
    print(f"slowest {len(slow)} turns (agent-added exactly; the largest of the agent's pieces):")
    for total, tl in slow:
        own = {
            name: ms
            for name, ms in segments(tl).items()
            if "(injected)" not in name and "(endpointing)" not in name and not name.startswith(" ")
        }
        top = sorted(own.items(), key=lambda x: -x[1])[:2]
        pieces = "; ".join(f"{name} {ms:.1f}" for name, ms in top)
        opened = tl.get("llm_fresh_connection")
        fresh = " (its LLM connection opened after the reply started)" if opened else ""
        print(f"  {total:6.1f} ms  gc {tl.get('gc_ms', 0.0):5.1f} ms  {pieces}{fresh}")
    fresh = sum(1 for tl in timelines if tl.get("llm_fresh_connection"))
    print(
        "LLM requests on a connection opened after the reply started (a handshake on"
        f" the reply's path): {fresh}/{len(timelines)}"
    )


async def main_async(args: argparse.Namespace) -> dict:
    budget = Budget.from_args(args)
    shared_client = not args.llm_client_per_turn
    print(f"budget: {budget.describe()}")
    print(
        f"fakes over {'plain TCP' if args.plain else 'TLS'},"
        f" {'in the agent' if args.fakes_in_process else 'in their own'} process; LLM client"
        f" {'pooled (as serve)' if shared_client else 'per turn'}; {loadavg_line()}"
    )
    yardstick_before = yardstick_ms()
    print(f"yardstick: {yardstick_before:.0f} ms of CPU for a fixed workload (the box's speed)")
    if args.vad_stop_ms is not None:
        print(f"VAD stop hangover {args.vad_stop_ms:g} ms (--vad-stop-ms)")
    results = {}
    for preemptive in (mode == "on" for mode in args.modes):
        started = time.monotonic()
        results[preemptive] = await run_mode(
            budget,
            preemptive=preemptive,
            turns=args.turns,
            barge_ins=args.barge_ins,
            shared_client=shared_client,
            vad_stop_ms=args.vad_stop_ms,
            tls=not args.plain,
            fakes_in_process=args.fakes_in_process,
        )
        print_mode(results[preemptive], budget)
        print(f"({time.monotonic() - started:.0f} s)")
    on = results[True] if True in results else results[False]
    print(loadavg_line())
    return {
        "yardstick_before_ms": round(yardstick_before, 1),
        "settings": settings_label(
            budget,
            tls=not args.plain,
            llm_client="pooled (as serve)" if shared_client else "per turn",
            vad_stop_ms=args.vad_stop_ms,
            fakes="in the agent's process" if args.fakes_in_process else "own process",
            turns=args.turns,
            preemptive=args.modes,
        ),
        "machine": machine(),
        "agent_tree": str(Path(agent.__file__).parent),  # PYTHONPATH may give another
        "agent_added_ms": {k: on["agent_added_ms"][k] for k in ("p50", "p95", "p99")},
        "agent_added_exact_ms": {k: on["agent_added_exact_ms"][k] for k in ("p50", "p95", "p99")},
        "mouth_to_ear_ms": {k: on["mouth_to_ear_ms"][k] for k in ("p50", "p95", "p99")},
        "barge_in_stop_ms": {k: on["barge_in_stop_ms"][k] for k in ("p50", "p95", "p99")},
        "preemptive_on": results.get(True),
        "preemptive_off": results.get(False),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=100, help="answered turns per mode")
    parser.add_argument("--barge-ins", type=int, default=20, help="interruptions per mode")
    add_budget_args(parser)
    parser.add_argument(
        "--modes",
        type=lambda text: text.split(","),
        default=["on", "off"],
        help="preemptive generation on, off or on,off (shipped: on)",
    )
    parser.add_argument(
        "--llm-client-per-turn",
        action="store_true",
        help="no pooled LLM client (serve pools one: SharedClient)",
    )
    parser.add_argument("--shared-llm-client", action="store_true", help="(the default now)")
    parser.add_argument(
        "--vad-stop-ms", type=float, help="the VAD's stop hangover (default: VadParams' 240)"
    )
    parser.add_argument(
        "--fakes-in-process",
        action="store_true",
        help="run the fakes on the agent's Trio loop (as before lat17)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    # CLOCK_MONOTONIC, as the fakes' process: their stamps line up with ours.
    out = trio.run(main_async, args, clock=MonotonicClock())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
