"""The offline stack end to end: demo calls in a row, with their answer times.

Each run is a whole ``voice-agent demo`` call (the real server on loopback,
the real caller over TCP, Whisper tiny.en, the booking policy, espeak-ng). It
prints, per run, whether the call ended as its scenario expects and the
answer times (end of the caller's speech -> first agent audio at the caller),
then the percentiles over all runs.

    python bench/offline.py                       # 10 booking calls in a row
    python bench/offline.py --runs 3 --scenario dtmf --json offline.json

``--json PATH`` writes ``{"runs", "ok", "first_audio_ms": {"p50", "p95", "max"}}``.
Exit status 0 only if every run ended as expected.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import trio

from agent.demo.offline import run_demo
from agent.demo.scenarios import SCENARIOS, scenario
from agent.observe.callreport import percentile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scenario", default="booking", choices=list(SCENARIOS))
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    parser.add_argument("--keep", metavar="DIR", help="keep each run's WAVs under DIR")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)

    s = scenario(args.scenario)
    answers: list[float] = []
    ok = 0
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-offline-"))
    for run in range(1, args.runs + 1):
        started = time.perf_counter()
        transcript = io.StringIO()
        result = trio.run(functools.partial(run_demo, s, base / f"run-{run}", out=transcript))
        ok += result.ok
        answers.extend(result.answers_ms)
        times = ", ".join(f"{ms:.0f}" for ms in result.answers_ms)
        print(
            f"run {run:2d}: {'OK    ' if result.ok else 'FAILED'} {result.verdict}"
            f" ({time.perf_counter() - started:.0f} s); answers ms: {times}",
            flush=True,
        )
        if not result.ok:
            print(transcript.getvalue(), file=sys.stderr)
    figures = {
        "runs": args.runs,
        "ok": ok,
        "scenario": s.name,
        "first_audio_ms": {
            "p50": round(percentile(answers, 50), 1),
            "p95": round(percentile(answers, 95), 1),
            "max": round(max(answers), 1) if answers else None,
            "count": len(answers),
        },
    }
    fa = figures["first_audio_ms"]
    print(
        f"\n{ok}/{args.runs} runs ended as expected; end of speech -> first agent audio over"
        f" {fa['count']} answers: p50 {fa['p50']} ms, p95 {fa['p95']} ms, max {fa['max']} ms"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if ok == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
