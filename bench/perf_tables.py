"""Markdown tables for docs/performance.md from the committed results files.

    python bench/perf_tables.py bench/results/load-ramp.json [more.json ...]

Recognises load.py (``steps``) and latency.py (``preemptive_on``) results and
prints each one's table with its settings, commit and load average, so the docs
quote the files exactly.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from frame_budget import PARTS


def _f(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:.{digits}f}"  # NaN: no sample


def header(data: dict, path: Path) -> str:
    m, s = data["machine"], data["settings"]
    return (
        f"`{path}`: commit {m['commit']}, {m['when']}, load average"
        f" {' / '.join(str(x) for x in m['loadavg'])} at the end on {m['cpus']} CPUs;"
        f" endpointing {s['DEEPGRAM_ENDPOINTING_MS']} ms"
        f"{' (shipped)' if s['endpointing_shipped'] else ''}, fakes over"
        f" {'TLS' if s['fakes_tls'] else 'plain TCP'}, injected {s['injected_ms']:g} ms"
    )


def load_table(data: dict) -> list[str]:
    rows = [
        "| N | pacing p50 / p99 / max at the sockets | as read | pacer late | agent-added"
        " p50 / p99 | STT uplink p99 | frames delivered | CPU per call: agent / harness"
        " (ratio) | CPU % of a core: agent / callers / fakes | load average |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["steps"]:
        q, p, a = r["socket_pacing_error_ms"], r["pacing_error_ms"], r["agent_added_ms"]
        late = (
            f"{r['server_late_frames']} / {r['server_frames_sent']}"
            if "server_late_frames" in r
            else "–"
        )
        rows.append(
            f"| {r['calls']}{' (' + str(r['workers']) + ' workers)' if r['workers'] > 1 else ''}"
            f" | {_f(q['p50'], 2)} / **{_f(q['p99'], 1)}** / {_f(q['max'], 0)} ms"
            f" | {_f(p['p99'], 1)} ms | {late} | {_f(a['p50'])} / **{_f(a['p99'])}** ms"
            f" | {_f(r['uplink_ms']['p99'])} ms | {r['frames_delivered_pct']} %"
            f" | **{r['cpu_per_call_pct']:.2f} %** / {r['harness_cpu_per_call_pct']:.2f} %"
            f" ({r['harness_over_agent']:.2f}) | {r['server_cpu_pct']} / {r['callers_cpu_pct']}"
            f" / {r['fakes_cpu_pct']} | {r['loadavg_after'].split(' on ')[0][13:]} |"
        )
    return rows


def budget_table(named: list[tuple[str, dict]]) -> list[str]:
    rows = ["| µs per 20 ms frame per call | " + " | ".join(n for n, _ in named) + " |"]
    rows.append("|---|" + "---|" * len(named))
    for part in (*PARTS, "total"):
        cells = [str(b.get(part, "–")) for _, b in named]
        rows.append(f"| {part} | " + " | ".join(cells) + " |")
    return rows


def latency_table(data: dict) -> list[str]:
    rows = [
        "| | p50 | p95 | p99 |",
        "|---|---|---|---|",
    ]
    for mode in ("preemptive_on", "preemptive_off"):
        r = data.get(mode)
        if not r:
            continue
        label = "on" if r["preemptive"] else "off"
        for key, name in (
            ("mouth_to_ear_ms", "mouth-to-ear"),
            ("agent_added_ms", "agent-added vs the budget"),
            ("agent_added_exact_ms", "agent-added exactly, uplink counted"),
            ("agent_added_exact_uplink_as_provider_ms", "... uplink as the STT's (before)"),
        ):
            s = r[key]
            rows.append(
                f"| preemptive {label}: {name} | {_f(s['p50'])} | {_f(s['p95'])} | {_f(s['p99'])} |"
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+")
    args = parser.parse_args()
    budgets = []
    for path in args.results:
        data = json.loads(path.read_text())
        print(header(data, path) + "\n")
        if "steps" in data:
            print("\n".join(load_table(data)) + "\n")
            budgets += [
                (f"{path.stem} N={s['calls']}", s["frame_budget_us"])
                for s in data["steps"]
                if "frame_budget_us" in s
            ]
        else:
            print("\n".join(latency_table(data)) + "\n")
    if budgets:
        print("\n".join(budget_table(budgets)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
