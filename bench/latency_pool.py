"""Pool several ``bench/latency.py --json`` runs of two agent trees into one table.

    python bench/latency_pool.py --before A1.json A2.json ... --after B1.json B2.json ...
        [--json bench/results/latency-1call-ab.json]

Each run holds every answered turn's stages (``timelines``); the turns of all the
runs of a side are pooled, and each figure (agent-added exactly, and every agent
stage of ``timeline.segments``) is given as p50 / p99 over the pooled turns, with
each run's own p50 / p99 and load average beside it, so alternated runs on a
shared box can be read together. Nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from measure import summary
from timeline import provider_time, segments


def side(paths: list[Path]) -> dict:
    runs = [json.loads(p.read_text()) for p in paths]
    turns = [tl for run in runs for tl in run["preemptive_on"].get("timelines", [])]
    pooled: dict[str, list[float]] = {
        "agent-added exactly (uplink counted)": [tl["heard"] - provider_time(tl) for tl in turns],
        "agent-added exactly (uplink booked as the STT's)": [
            tl["heard"] - provider_time(tl, uplink_counted=False) for tl in turns
        ],
        "mouth-to-ear": [tl["heard"] for tl in turns],
    }
    for tl in turns:
        for name, value in segments(tl).items():
            pooled.setdefault(name, []).append(value)
    return {
        "runs": [
            {
                "file": p.name,
                "bench_commit": run["machine"].get("commit"),
                "agent_tree": run.get("agent_tree"),
                "load_average": run["machine"].get("loadavg"),
                "when": run["machine"].get("when"),
                "agent_added_exact_ms": {
                    k: run["agent_added_exact_ms"][k] for k in ("p50", "p95", "p99")
                },
            }
            for p, run in zip(paths, runs, strict=True)
        ],
        "turns": len(turns),
        "pooled_ms": {name: summary(values) for name, values in pooled.items()},
        "settings": runs[0]["settings"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, nargs="+", required=True)
    parser.add_argument("--after", type=Path, nargs="+", required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    out = {"before": side(args.before), "after": side(args.after)}
    before, after = out["before"]["pooled_ms"], out["after"]["pooled_ms"]
    print(f"turns pooled: before {out['before']['turns']}, after {out['after']['turns']}")
    print(f"{'ms, p50 / p99':66s} {'before':>15s} {'after':>15s}")
    for name in before:
        if name in after and "injected" not in name and "endpointing" not in name:
            b, a = before[name], after[name]
            print(f"{name:66s} {b['p50']:6.2f} / {b['p99']:6.2f} {a['p50']:6.2f} / {a['p99']:6.2f}")
    for label in ("before", "after"):
        for run in out[label]["runs"]:
            exact = run["agent_added_exact_ms"]
            print(
                f"{label:6s} {run['file']:28s} exactly p50 {exact['p50']:6.2f} p99"
                f" {exact['p99']:6.2f}  load {run['load_average']}"
            )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
