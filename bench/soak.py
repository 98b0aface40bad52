"""Soak: many calls for a long time, with barge-ins and faults; does anything grow?

    python bench/soak.py [--calls 50] [--minutes 10] [--json PATH]
    python bench/soak.py --calls 10 --minutes 1          # a short run

Not part of the test suite. The agent (``bench/serve_probe.py``) serves
``--calls`` call slots; each slot dials calls of ``--call-seconds`` (random)
one after another, talks, talks over the agent now and then (``--barge-in``
share of utterances) and hangs up. The fakes inject a fault every
``--chaos`` seconds on average (STT socket drops, LLM 429/500/garbage/stall,
TTS socket drops and context errors).

A warm-up (``--warmup-minutes`` of the same load) comes first, so the
interpreter's and allocator's high-water marks are reached; then with no call
up the agent's RSS, open fds and live Trio tasks are taken ("start"), the soak
runs, and once the last call has ended they are taken again ("end"). RSS is
also sampled every 30 s under load. Growth is reported, not judged.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from procs import Fakes, Server, collect, run_callers
from rig import Budget, summary


def idle_snapshot(server: Server) -> dict:
    deadline = time.monotonic() + 30
    while True:
        stats = server.stats()
        if stats["active_calls"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(1.0)  # let closing sockets finish
    stats = server.stats()
    return {key: stats[key] for key in ("rss", "fds", "trio_tasks", "active_calls", "total_calls")}


def soak_phase(server: Server, args, minutes: float, tmp: Path) -> tuple[dict, list[int]]:
    procs = run_callers(
        server.port,
        args.calls,
        minutes * 60,
        args.stagger,
        tmp,
        call_seconds=args.call_seconds,
        barge_in=args.barge_in,
    )
    samples = []
    started = time.monotonic()
    while any(p.poll() is None for p, _ in procs):
        time.sleep(1.0)
        if time.monotonic() - started >= 30 * (len(samples) + 1):
            samples.append(server.stats()["rss"])
    return collect(procs), samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50, help="concurrent call slots")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup-minutes", type=float, default=1.0)
    parser.add_argument("--call-seconds", default="20,90", help="A,B: each call lasts A..B s")
    parser.add_argument("--barge-in", type=float, default=0.2, help="share of utterances")
    parser.add_argument("--chaos", type=float, default=5.0, help="mean seconds between faults")
    parser.add_argument("--stagger", type=float, default=5.0)
    parser.add_argument("--shared-llm-client", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.workers = 1
    budget = Budget()
    tmp = Path(tempfile.mkdtemp(prefix="voice-agent-soak-"))
    fakes = Fakes(budget, [f"--chaos={args.chaos}", "--long-share=0.3"])
    server = Server(fakes.env, 1, args.shared_llm_client, tmp)
    try:
        print(f"warm-up: {args.calls} slots for {args.warmup_minutes:g} min", flush=True)
        soak_phase(server, args, args.warmup_minutes, tmp)
        start = idle_snapshot(server)
        print(f"start (idle): {start}", flush=True)
        began = time.monotonic()
        measured, samples = soak_phase(server, args, args.minutes, tmp)
        end = idle_snapshot(server)
        print(f"end   (idle): {end}", flush=True)
        final = server.stats()
    finally:
        server.stop()
        injected = fakes.stop()
    mouth = measured["mouth_to_ear_ms"]
    result = {
        "calls": args.calls,
        "minutes": args.minutes,
        "seconds": round(time.monotonic() - began),
        "calls_completed": measured["calls"],
        "turns": len(mouth),
        "unanswered": measured["unanswered"],
        "barge_ins": measured["barge_ins"],
        "faults_injected": injected.get("faults_injected", {}),
        "ended_by_reason": final["ended_by_reason"],
        "start": start,
        "end": end,
        "growth": {
            "rss_mb": round((end["rss"] - start["rss"]) / 2**20, 2),
            "fds": end["fds"] - start["fds"],
            "trio_tasks": end["trio_tasks"] - start["trio_tasks"],
        },
        "rss_under_load_mb": [round(s / 2**20, 1) for s in samples],
        "mouth_to_ear_ms": summary(mouth),
        "pacing_error_ms": summary(measured["pacing_errors_ms"]),
        "server_late_frames": final["late_frames"],
        "server_frames_sent": final["frames_sent"],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
