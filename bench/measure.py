"""Statistics, /proc readings and the machine's state for the benchmarks."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.observe.callreport import percentile


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    """The load average, the box's speed now (``yardstick_ms``), the commit and the
    Python that ran it (an optimised build runs the same agent faster), for every
    results file."""
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "yardstick_ms": round(yardstick_ms(), 1),
        "commit": commit + ("-dirty" if dirty else ""),
        "python": f"{platform.python_version()} {sys.base_prefix}",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def yardstick_ms(rounds: int = 5) -> float:
    """CPU ms that a fixed piece of Python work takes now (the median of ``rounds``).
    This VM's speed drifts by a quarter or more within an hour, and the agent's own
    milliseconds with it: a figure is read beside the yardstick taken with it."""
    payload = {"text": "x" * 200, "numbers": list(range(50))}
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        total = 0
        for i in range(20_000):
            total += len(json.dumps(payload)) + i % 13
        samples.append((time.process_time() - start) * 1000)
    return statistics.median(samples)


def loadavg_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3),
    }


def fmt(stats: Mapping[str, float], keys: Sequence[str] = ("p50", "p95", "p99", "max")) -> str:
    return "  ".join(f"{k} {stats[k]:7.2f}" for k in keys if k in stats)


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def proc_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (for a server with worker processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").iterdir():
            children = task / "children"
            if children.exists():
                todo += [int(c) for c in children.read_text().split()]
    return found


def tree_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) summed over ``pid`` and its descendants."""
    cpu, rss = 0.0, 0
    for member in process_tree(pid):
        try:
            cpu += proc_cpu_s(member)
            rss += proc_rss_bytes(member)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return cpu, rss
