"""N concurrent talking calls: pacing, latency and CPU per call, for the agent and the harness.

    python bench/load.py --calls 100 [--duration 30] [--json PATH]
    python bench/load.py --ramp [--steps 25,50,75,100 | --start 25 --step 25 --max 400]
    python bench/load.py --calls 200 --workers 2
    --plain: the fakes on ws:// and http:// (default: TLS, trusted through VOICE_AGENT_CA_FILE)
    --endpointing-ms, --stt-latency-ms, ...: the budget (default: the shipped settings)
    --callers softphone: the real softphone per call (a Trio task tree each; ~4x the CPU)
    --llm-client-per-turn: no pooled LLM client (serve pools one; probe server only)
    --profile PATH: cProfile the agent (probe server) to PATH.<N>.pstats
    --agent-tree DIR: the agent from DIR/agent (an earlier commit: before/after)
    --py-spy PATH: sample the agent with py-spy over the measured window, PATH.<N>.txt
      (collapsed stacks; bench/frame_budget.py turns them into microseconds per frame)
    --count-steps: count the agent's Trio task steps by task (probe server; an
      instrument, so a little CPU of its own); per call-second of talk
    --no-gc-freeze: the probe server without serve's collector settings (gc.freeze(),
      the middle generation spaced out: agent.service.collector)
    --agent-cpus 0 --harness-cpus 1: pin the agent and the harness (callers, fakes) to
      their own cores (sched_setaffinity), so they do not compete with each other

Processes: the fakes (``bench/fakes.py``) and the callers run at lower priority
(nice 5, ``--harness-nice``), the agent at normal priority:

* the callers: ``bench/loadcallers.py``, one non-blocking loop driving every call
  from pre-encoded frames (``--callers softphone``: ``bench/callers.py``, the real
  softphone, 50 calls per process);
* ``--workers 1`` (default): ``bench/serve_probe.py``, the server exactly as
  ``serve --brain conversation`` wires the conversation (with the pooled LLM
  client, and serve's collector settings once listening), which also reports its
  own late frames, Trio tasks, fds and the collector's passes;
* ``--workers N``: ``voice-agent serve --brain conversation --workers N``
  (the real service and its supervisor; figures from the callers and /proc).

Per N: the agent's outbound pacing error p50/p99/max at the callers' sockets (the
kernel's arrival time of each frame, |inter-arrival - 20 ms|, the first frame of a
speech burst excluded: playout re-phases there on purpose) and as the callers'
loop read them; agent-added latency p99 (mouth-to-ear minus the injected
budget: the agent's STT uplink, its own scheduling and the fakes' overshoot
count as the agent's); the uplink itself as the fake STT timed it from the
caller's frame stamps; the agent's CPU per call (% of one core, from /proc of
the agent's process tree over the measured window), the harness's (callers) CPU
per call and its ratio to the agent's (goal: at most a quarter), RSS per call.
``--ramp`` reports the largest N with pacing p99 <= 2 ms at the sockets and
agent-added p99 <= 30 ms. Every step prints the load average; ``--json``
writes the steps with the settings, the commit and the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from frame_budget import budget as frame_budget
from frame_budget import parse as parse_profile
from frame_budget import print_budget
from measure import yardstick_ms
from procs import HARNESS_NICE, Fakes, Server, SplitFakes, collect, machine_cpu, run_callers
from rig import Budget, add_budget_args, loadavg_line, machine, proc_cpu_s, settings_label, summary
from task_steps import per_call_second, print_steps

PACING_TARGET_MS = 2.0
AGENT_ADDED_TARGET_MS = 30.0
HARNESS_GOAL = 0.25  # the callers' CPU per call over the agent's


def held(step: dict) -> bool:
    return (
        step["socket_pacing_error_ms"]["p99"] <= PACING_TARGET_MS
        and step["agent_added_ms"]["p99"] <= AGENT_ADDED_TARGET_MS
        and step["unanswered"] == 0
    )


def py_spy(pid: int, seconds: float, path: Path) -> subprocess.Popen:
    """py-spy sampling ``pid`` (and its children) for ``seconds``, collapsed stacks."""
    beside = Path(sys.executable).parent / "py-spy"  # pip install py-spy into the venv
    command = [str(beside) if beside.exists() else "py-spy", "record", "--pid", str(pid)]
    command += ["--duration", str(int(seconds)), "--rate", "250", "--format", "raw"]
    command += ["--nonblocking", "--subprocesses", "--output", str(path)]
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def cpu_list(text: str) -> set[int]:
    return {int(x) for x in text.split(",")}


def pin_tree(pid: int, cpus: set[int]) -> None:
    """``pid``, its threads and its descendants (``--workers``) onto ``cpus``."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {pid}, True
    while grew:
        found = {child for child, parent in parents.items() if parent in tree}
        grew = not found <= tree
        tree |= found
    for member in tree:
        for task in Path(f"/proc/{member}/task").glob("[0-9]*"):
            with contextlib.suppress(OSError):  # ended meanwhile
                os.sched_setaffinity(int(task.name), cpus)


def one_step(args, fakes: Fakes, calls: int, tmp: Path, budget: Budget) -> dict:
    profile = args.profile.with_suffix(f".{calls}.pstats") if args.profile else None
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
    server = Server(
        fakes.env,
        args.workers,
        not args.llm_client_per_turn,
        tmp,
        profile,
        args.agent_tree,
        args.agent_nice,
        ("--no-gc-freeze",) * args.no_gc_freeze + ("--count-steps",) * args.count_steps,
    )
    if args.agent_cpus:
        pin_tree(server.proc.pid, args.agent_cpus)
    load_before = loadavg_line()
    spy = None
    try:
        # Warm-up: one short call loads what a first call loads (imports, pools).
        collect(run_callers(server.port, 1, 4.0, 0.0, tmp, args.callers))
        time.sleep(0.5)
        _, idle_rss = server.usage()
        before = server.stats()
        fakes.timing()  # forget the warm-up's finals
        started = time.monotonic()
        procs = run_callers(server.port, calls, args.duration, args.stagger, tmp, args.callers)
        callers_pids = [p.pid for p, _ in procs]
        # Measure while every call is up: after the stagger, before the end.
        time.sleep(args.stagger + 2.0)
        window_s = args.duration - 5.0
        if args.py_spy is not None:
            args.py_spy.parent.mkdir(parents=True, exist_ok=True)
            spy = py_spy(server.proc.pid, window_s, args.py_spy.with_suffix(f".{calls}.txt"))
        cpu0, _ = server.usage()
        busy0, total0 = machine_cpu()
        callers_cpu0 = sum(proc_cpu_s(pid) for pid in callers_pids)
        fakes_cpu0 = sum(proc_cpu_s(pid) for pid in fakes.pids)
        t0 = time.monotonic()
        peak_rss = 0
        while time.monotonic() < started + args.stagger + args.duration - 3.0:
            time.sleep(1.0)
            peak_rss = max(peak_rss, server.usage()[1])
        cpu1, _ = server.usage()
        busy1, total1 = machine_cpu()
        callers_cpu1 = sum(proc_cpu_s(pid) for pid in callers_pids)
        fakes_cpu1 = sum(proc_cpu_s(pid) for pid in fakes.pids)
        window = time.monotonic() - t0
        measured = collect(procs)
        time.sleep(1.0)
        after = server.stats()
        uplink = fakes.timing()
    finally:
        if spy is not None:
            spy.wait(30)
        server.stop()
    mouth = summary(measured["mouth_to_ear_ms"])
    pacing = summary(measured["pacing_errors_ms"])
    at_socket = summary(measured["socket_pacing_errors_ms"])
    agent_pct = (cpu1 - cpu0) / window * 100
    # Frames the callers got over what 50 a second for each call's time would be: a
    # starved agent sends fewer, and its CPU per call then reads low.
    expected = sum(b - a for a, b in measured["call_windows"]) * 50
    delivered = round(measured["frames"] / max(expected, 1) * 100, 1)
    callers_pct = (callers_cpu1 - callers_cpu0) / window * 100
    result: dict[str, Any] = {
        "calls": calls,
        "workers": args.workers,
        "callers": args.callers,
        "socket_pacing_error_ms": {k: at_socket[k] for k in ("p50", "p99", "max")},
        "socket_late_frames": measured["socket_late_frames"],
        "pacing_error_ms": {k: pacing[k] for k in ("p50", "p99", "max")},
        "late_frames": measured["late_frames"],
        "frames": measured["frames"],
        "frames_delivered_pct": delivered,
        "gaps": measured["gaps"],
        "agent_added_ms": {
            k: round(mouth[k] - budget.injected_ms, 2) for k in ("p50", "p95", "p99", "max")
        },
        "mouth_to_ear_ms": {k: mouth[k] for k in ("p50", "p99", "max")},
        "uplink_ms": uplink["uplink_ms"],
        # Provider messages per call-second of talk (each costs the agent a wake-up,
        # a WebSocket frame and TLS), counted by the fakes.
        "provider_messages_per_call_s": {
            key: round(count / max(expected / 50, 1e-9), 2)
            for key, count in uplink.get("messages", {}).items()
        },
        "fakes_overshoot_ms": uplink["overshoot_ms"],
        "stt_message_frames": uplink.get("stt_message_frames", {}),
        "turns": mouth["n"],
        "unanswered": measured["unanswered"],
        "calls_completed": measured["calls"],
        "connect_errors": len(measured["connect_errors"]),
        "cpu_per_call_pct": round(agent_pct / calls, 3),
        "harness_cpu_per_call_pct": round(callers_pct / calls, 3),
        "harness_over_agent": round(callers_pct / max(agent_pct, 1e-9), 3),
        "rss_per_call_mb": round((peak_rss - idle_rss) / calls / 2**20, 3),
        "server_cpu_pct": round(agent_pct, 1),
        "callers_cpu_pct": round(callers_pct, 1),
        "fakes_cpu_pct": round((fakes_cpu1 - fakes_cpu0) / window * 100, 1),
        "machine_busy_pct": round((busy1 - busy0) / max(1, total1 - total0) * 100, 1),
        "loadavg_before": load_before,
        "loadavg_after": loadavg_line(),
        "idle_rss_mb": round(idle_rss / 2**20, 1),
        "agent": server.agent,
        "gc_freeze": not args.no_gc_freeze,
        # What one core would hold at this CPU per call, the agent alone (a projection).
        "projected_calls_per_core": round(100 / max(agent_pct / calls, 1e-9)),
    }
    for key in ("send_stalls", "skipped_frames"):
        if key in measured:
            result[f"callers_{key}"] = measured[key]
    if before is not None and after is not None:
        result["server_late_frames"] = after["late_frames"] - before["late_frames"]
        result["server_frames_sent"] = after["frames_sent"] - before["frames_sent"]
        result["server_underruns"] = after["underruns"] - before["underruns"]
        if "gc_seconds" in after:  # the collector's share of the agent's time, the whole run
            gc_before, gc_after = before["gc_seconds"], after["gc_seconds"]
            result["gc_seconds"] = [
                round(b - a, 4) for a, b in zip(gc_before, gc_after, strict=True)
            ]
            gc_before, gc_after = before["gc_collections"], after["gc_collections"]
            result["gc_collections"] = [b - a for a, b in zip(gc_before, gc_after, strict=True)]
        if after.get("task_steps"):  # --count-steps: per call-second of talk, the whole run
            result.update(per_call_second(before, after, max(expected / 50, 1e-9)))
    result["held"] = held(result)
    profile_txt = args.py_spy.with_suffix(f".{calls}.txt") if args.py_spy else None
    if profile_txt is not None and profile_txt.exists():
        result["py_spy"] = str(profile_txt)
        # CPU per second of the window: the agent's seconds over the calls' frames.
        result["frame_budget_us"] = frame_budget(
            parse_profile(profile_txt), agent_pct / 100, calls, 1
        )
    return result


def print_step(r: dict) -> None:
    p, q, a = r["pacing_error_ms"], r["socket_pacing_error_ms"], r["agent_added_ms"]
    server_late = (
        f"; pacer late {r['server_late_frames']}/{r['server_frames_sent']}"
        if "server_late_frames" in r
        else ""
    )
    u = r["uplink_ms"]
    overshoot = ", ".join(
        f"{name} {stats['p50']:.1f} ms" for name, stats in r["fakes_overshoot_ms"].items()
    )
    messages = ", ".join(
        f"{name} {count:g}" for name, count in r.get("provider_messages_per_call_s", {}).items()
    )
    print(
        f"N={r['calls']:4d}  at the callers' sockets: pacing p50 {q['p50']:.3f} p99 {q['p99']:.3f}"
        f" max {q['max']:.1f} ms  late {r['socket_late_frames']}/{r['frames']}"
        f" gaps {r['gaps']}{server_late}\n"
        f"        as the callers read them: p50 {p['p50']:.3f} p99 {p['p99']:.3f}"
        f" max {p['max']:.1f} ms\n"
        f"        agent-added p50 {a['p50']:.1f} p99 {a['p99']:.1f} ms (mouth-to-ear p50"
        f" {r['mouth_to_ear_ms']['p50']:.0f}, {r['turns']} turns, {r['unanswered']} unanswered);"
        f" STT uplink p50 {u['p50']:.1f} p99 {u['p99']:.1f} ms ({u['n']} finals)\n"
        f"        the fakes' lateness (counted in agent-added) p50: {overshoot}\n"
        f"        provider messages per call-second: {messages}\n"
        f"        frames delivered {r['frames_delivered_pct']} % of 50/s per call"
        f"{' (STARVED: CPU per call reads low)' if r['frames_delivered_pct'] < 97 else ''}\n"
        f"        CPU per call: agent {r['cpu_per_call_pct']:.3f} %, harness"
        f" {r['harness_cpu_per_call_pct']:.3f} % ({r['harness_over_agent']:.2f} of the agent's)"
        f"  RSS/call {r['rss_per_call_mb']:.2f} MB\n"
        f"        CPU % of one core: agent {r['server_cpu_pct']}, callers"
        f" {r['callers_cpu_pct']}, fakes {r['fakes_cpu_pct']}; machine busy"
        f" {r['machine_busy_pct']} %; {r['loadavg_before']} -> {r['loadavg_after']}\n"
        f"        {'HELD' if r['held'] else 'not held'} (pacing p99 <= {PACING_TARGET_MS:g} ms,"
        f" agent-added p99 <= {AGENT_ADDED_TARGET_MS:g} ms, every turn answered)",
        flush=True,
    )
    if "gc_seconds" in r:
        print(
            f"        the collector in the agent, by generation: {r['gc_collections']}"
            f" collections, {r['gc_seconds']} s (the whole run, wall clock)",
            flush=True,
        )
    print_steps(r)
    if "frame_budget_us" in r:
        print_budget(r["frame_budget_us"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--ramp", action="store_true", help="find the largest N within target")
    parser.add_argument("--start", type=int, default=25)
    parser.add_argument("--step", type=int, default=25)
    parser.add_argument("--max", type=int, default=400)
    parser.add_argument(
        "--steps", type=lambda s: [int(x) for x in s.split(",")], help="ramp sizes, e.g. 25,50,100"
    )
    parser.add_argument("--keep-going", action="store_true", help="ramp on past a failed step")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of talk per step")
    parser.add_argument("--stagger", type=float, default=5.0, help="call starts spread over")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--callers", choices=("light", "softphone"), default="light")
    parser.add_argument(
        "--fakes-one-process",
        action="store_true",
        help="the three fakes in one process (as before; default: a process per provider)",
    )
    parser.add_argument("--llm-client-per-turn", action="store_true")
    parser.add_argument("--shared-llm-client", action="store_true", help="(the default now)")
    parser.add_argument(
        "--harness-nice", type=int, default=5, help="niceness of the callers and fakes"
    )
    parser.add_argument(
        "--agent-nice",
        type=int,
        default=0,
        help="the agent's niceness (negative, as root: ahead of other jobs on a shared box)",
    )
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="the agent without serve's collector settings (agent.service.collector)",
    )
    parser.add_argument(
        "--count-steps",
        action="store_true",
        help="count the agent's Trio task steps by task (an instrument: costs a little CPU)",
    )
    parser.add_argument("--profile", type=Path, help="cProfile the agent: PATH.<N>.pstats")
    parser.add_argument("--py-spy", type=Path, help="py-spy the agent: PATH.<N>.txt")
    parser.add_argument(
        "--agent-tree",
        type=Path,
        help="run the agent from this folder's agent/ (e.g. git archive of an earlier commit)",
    )
    parser.add_argument("--agent-cpus", type=cpu_list, help="pin the agent's processes: 0")
    parser.add_argument(
        "--harness-cpus", type=cpu_list, help="pin the callers, the fakes and this script: 1"
    )
    parser.add_argument("--json", type=Path)
    add_budget_args(parser)
    args = parser.parse_args()
    if (args.llm_client_per_turn or args.profile) and args.workers != 1:
        parser.error("--llm-client-per-turn and --profile need the probe server (--workers 1)")
    budget = Budget.from_args(args)
    HARNESS_NICE[0] = args.harness_nice
    label = settings_label(
        budget,
        tls=not args.plain,
        workers=args.workers,
        callers=args.callers,
        fakes_processes=1 if args.fakes_one_process else 3,
        llm_client="per turn" if args.llm_client_per_turn else "pooled (as serve)",
        harness_nice=args.harness_nice,
        agent_nice=args.agent_nice,
        duration_s=args.duration,
        agent_tree=str(args.agent_tree) if args.agent_tree else None,
        agent_cpus=sorted(args.agent_cpus) if args.agent_cpus else None,
        harness_cpus=sorted(args.harness_cpus) if args.harness_cpus else None,
    )
    if args.harness_cpus:
        os.sched_setaffinity(0, args.harness_cpus)  # the fakes and callers inherit it
    print(f"budget: {budget.describe()}", flush=True)
    print(
        f"fakes over {'plain TCP' if args.plain else 'TLS'}"
        f" in {'one process' if args.fakes_one_process else 'a process per provider'};"
        f" callers: {args.callers} at nice"
        f" {args.harness_nice}; the agent at nice {args.agent_nice}, workers {args.workers};"
        f" {loadavg_line()}; yardstick {yardstick_ms():.0f} ms (the box's speed)",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="voice-agent-load-"))
    fakes = (Fakes if args.fakes_one_process else SplitFakes)(budget, plain=args.plain)
    steps: list[dict] = []
    try:
        sizes = [args.calls]
        if args.ramp:
            sizes = args.steps or list(range(args.start, args.max + 1, args.step))
        for calls in sizes:
            steps.append(one_step(args, fakes, calls, tmp, budget))
            print_step(steps[-1])
            if args.ramp and not steps[-1]["held"] and not args.keep_going:
                break
    finally:
        fakes.stop()
    largest = max((s["calls"] for s in steps if s["held"]), default=0)
    if args.ramp:
        print(
            f"largest N with pacing p99 <= {PACING_TARGET_MS:g} ms at the callers' sockets and"
            f" agent-added p99 <= {AGENT_ADDED_TARGET_MS:g} ms: {largest or 'none'}"
        )
    out = {"settings": label, "machine": machine(), "steps": steps, "largest_held": largest}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
