"""The agent's Trio task steps in a load run (``bench/load.py --count-steps``).

``serve_probe.py --count-steps`` counts every task step by task name (with the
time inside it, and those of 1 ms or more) and every trip round the run loop; the
load benchmark reads those counters before and after a step. ``per_call_second``
turns the two readings into the results' figures, per second of one call's talk;
``print_steps`` prints them under the step's other figures.
"""

from __future__ import annotations

from typing import Any


def per_call_second(before: dict, after: dict, call_seconds: float) -> dict[str, Any]:
    """The figures between two readings of the probe's counters (the whole run)."""
    out: dict[str, Any] = {}
    steps = {
        name: (n - before["task_steps"].get(name, 0)) / call_seconds
        for name, n in after["task_steps"].items()
    }
    out["task_steps_per_call_s"] = round(sum(steps.values()), 1)
    if "io_waits" in after:  # run-loop passes (each an epoll_wait), and those that slept
        passes, slept = (b - a for a, b in zip(before["io_waits"], after["io_waits"], strict=True))
        out["run_loop_passes_per_call_s"] = round(passes / call_seconds, 1)
        out["run_loop_sleeps_per_call_s"] = round(slept / call_seconds, 1)
    if "task_seconds" in after:  # microseconds inside each task's steps
        spent = {
            name: (t - before["task_seconds"].get(name, 0.0)) * 1e6 / call_seconds
            for name, t in after["task_seconds"].items()
        }
        out["task_us_per_call_s"] = {
            name: round(us, 1) for name, us in sorted(spent.items(), key=lambda kv: -kv[1])
        }
    out["task_steps_by_task"] = {
        name: round(n, 2) for name, n in sorted(steps.items(), key=lambda kv: -kv[1]) if n
    }
    # Steps of 1 ms or more by task, the whole run: [count, total s, max s].
    out["long_steps_by_task"] = dict(
        sorted(after.get("long_steps", {}).items(), key=lambda kv: -kv[1][1])
    )
    return out


def print_steps(r: dict) -> None:
    if "task_steps_per_call_s" in r:
        top = ", ".join(
            f"{k.rsplit('.', 1)[-1]} {v}" for k, v in list(r["task_steps_by_task"].items())[:8]
        )
        print(
            f"        task steps per call-second: {r['task_steps_per_call_s']} ({top})", flush=True
        )
    if "run_loop_passes_per_call_s" in r:
        print(
            f"        run-loop passes per call-second: {r['run_loop_passes_per_call_s']}"
            f" ({r['run_loop_sleeps_per_call_s']} of them could sleep)",
            flush=True,
        )
