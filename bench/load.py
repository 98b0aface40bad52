"""N concurrent talking calls: pacing, latency, CPU and memory per call.

    python bench/load.py --calls 100 [--duration 30] [--json PATH]
    python bench/load.py --ramp [--start 25 --step 25 --max 400 | --steps 10,25,50] [--keep-going]
    python bench/load.py --calls 300 --workers 2
    --shared-llm-client: give the LLM one shared httpx client (probe server only)
    --harness-nice 19: run the callers and fakes at the lowest priority (default 5)
    --profile PATH: cProfile the agent (probe server), written to PATH.<N>.pstats

Processes: the fakes (``bench/fakes.py``) and the callers (``bench/callers.py``,
up to 50 calls each) run at lower priority (nice 5, ``--harness-nice``), the
agent at normal priority:

* ``--workers 1`` (default): ``bench/serve_probe.py``, the server exactly as
  ``serve --brain conversation`` wires the conversation, which also reports
  its own late frames, Trio tasks and fds;
* ``--workers N``: ``voice-agent serve --brain conversation --workers N``
  (the real service and its supervisor; figures from the callers and /proc).

Per N: outbound pacing error p50/p99/max as the callers measure it
(|inter-arrival - 20 ms|, the first frame of a speech burst excluded: playout
re-phases there on purpose), both when the callers read each frame and when it
reached their socket (the kernel's receive time: the agent's pacing without the
niced callers' own scheduling delays), late frames (> 2 ms behind, at the callers; and
the pacer's own count where the server reports it), agent-added latency p99
(mouth-to-ear - the injected 280 ms), server CPU per call (% of one core) and
RSS per call (growth over the idle server after a warm-up call). ``--ramp``
raises N until pacing p99 exceeds 2 ms and reports the largest N that held.

On a 2-core machine the callers and fakes compete with the agent for the CPU;
their own lateness shows up in the callers' figures (see the machine's idle
share printed per step).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rig import Budget, proc_cpu_s, summary, tree_usage

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
CALLS_PER_PROCESS = 50
PACING_TARGET_MS = 2.0
HARNESS_NICE = [5]  # the callers' and fakes' niceness (--harness-nice)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Fakes:
    def __init__(self, budget: Budget, extra: list[str] = ()) -> None:
        self.proc = subprocess.Popen(
            [
                PYTHON,
                str(BENCH / "fakes.py"),
                f"--stt-final-ms={budget.stt_final_ms}",
                f"--llm-first-token-ms={budget.llm_first_token_ms}",
                f"--llm-token-ms={budget.llm_token_ms}",
                f"--tts-first-audio-ms={budget.tts_first_audio_ms}",
                f"--nice={HARNESS_NICE[0]}",
                *extra,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fakes process did not start")
        self.env = json.loads(line)["env"]

    def stop(self) -> dict:
        self.proc.stdin.close()
        out = self.proc.stdout.read()
        self.proc.wait(10)
        try:
            return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        except ValueError:
            return {}


class Server:
    """The agent under test, in its own process (tree)."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int,
        shared_client: bool,
        tmp: Path,
        profile: Path | None = None,
    ) -> None:
        self.control: int | None = None
        env = {
            **os.environ,
            **env,
            "VOICE_AGENT_DB": str(tmp / "agent.sqlite3"),
            "VOICE_AGENT_METRICS_PORT": "0",
            "VOICE_AGENT_AGI_PORT": "0",
        }
        self.log = open(tmp / f"server-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
        if workers == 1:
            command = [PYTHON, str(BENCH / "serve_probe.py")]
            if shared_client:
                command.append("--shared-llm-client")
            if profile is not None:
                command.append(f"--profile={profile}")
            self.proc = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True
            )
            ready = json.loads(self.proc.stdout.readline())
            self.port, self.control = ready["port"], ready["control"]
        else:
            self.port = free_port()
            command = [PYTHON, "-m", "agent", "serve", "--brain", "conversation"]
            command += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
            self.proc = subprocess.Popen(
                command, env=env, stdin=subprocess.PIPE, stdout=self.log, stderr=self.log
            )
            self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.proc.returncode}); see {self.log.name}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                time.sleep(1.0)  # every worker up
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start listening")

    def usage(self) -> tuple[float, int]:
        return tree_usage(self.proc.pid)

    def stats(self) -> dict[str, Any] | None:
        if self.control is None:
            return None
        with socket.create_connection(("127.0.0.1", self.control), timeout=5) as s:
            s.sendall(b"stats\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        return json.loads(data)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_callers(port: int, calls: int, duration: float, stagger: float, tmp: Path, **extra):
    procs = []
    for index in range(math.ceil(calls / CALLS_PER_PROCESS)):
        share = min(CALLS_PER_PROCESS, calls - index * CALLS_PER_PROCESS)
        out = tmp / f"callers-{index}-{time.monotonic_ns()}.json"
        command = [
            PYTHON,
            str(BENCH / "callers.py"),
            f"--port={port}",
            f"--calls={share}",
            f"--duration={duration}",
            f"--stagger={stagger}",
            f"--seed={index + 1}",
            f"--nice={HARNESS_NICE[0]}",
            f"--out={out}",
            *(f"--{k.replace('_', '-')}={v}" for k, v in extra.items()),
        ]
        procs.append((subprocess.Popen(command), out))
    return procs


def collect(procs) -> dict:
    merged: dict[str, Any] = {}
    for proc, out in procs:
        proc.wait()
        data = json.loads(out.read_text())
        for key, value in data.items():
            merged[key] = merged.get(key, 0 if isinstance(value, int) else []) + value
    return merged


def one_step(args, fakes: Fakes, calls: int, tmp: Path, budget: Budget) -> dict:
    profile = args.profile.with_suffix(f".{calls}.pstats") if args.profile else None
    if profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
    server = Server(fakes.env, args.workers, args.shared_llm_client, tmp, profile)
    try:
        # Warm-up: one short call loads what a first call loads (imports, pools).
        collect(run_callers(server.port, 1, 4.0, 0.0, tmp))
        time.sleep(0.5)
        _, idle_rss = server.usage()
        before = server.stats()
        started = time.monotonic()
        procs = run_callers(server.port, calls, args.duration, args.stagger, tmp)
        callers_pids = [p.pid for p, _ in procs]
        # Measure while every call is up: after the stagger, before the end.
        time.sleep(args.stagger + 2.0)
        cpu0, _ = server.usage()
        busy0, total0 = machine_cpu()
        callers_cpu0 = sum(proc_cpu_s(pid) for pid in callers_pids)
        fakes_cpu0 = proc_cpu_s(fakes.proc.pid)
        t0 = time.monotonic()
        peak_rss = 0
        while time.monotonic() < started + args.stagger + args.duration - 3.0:
            time.sleep(1.0)
            peak_rss = max(peak_rss, server.usage()[1])
        cpu1, _ = server.usage()
        busy1, total1 = machine_cpu()
        callers_cpu1 = sum(proc_cpu_s(pid) for pid in callers_pids)
        fakes_cpu1 = proc_cpu_s(fakes.proc.pid)
        window = time.monotonic() - t0
        measured = collect(procs)
        time.sleep(1.0)
        after = server.stats()
    finally:
        server.stop()
    errors = measured["pacing_errors_ms"]
    mouth = measured["mouth_to_ear_ms"]
    pacing = summary(errors)
    at_socket = summary(measured["socket_pacing_errors_ms"])
    result: dict[str, Any] = {
        "calls": calls,
        "workers": args.workers,
        "pacing_error_ms": {k: pacing[k] for k in ("p50", "p99", "max")},
        "late_frames": measured["late_frames"],
        # The same frames timed by the callers' kernel on arrival: the agent's
        # pacing without the niced callers' own scheduling delays.
        "socket_pacing_error_ms": {k: at_socket[k] for k in ("p50", "p99", "max")},
        "socket_late_frames": measured["socket_late_frames"],
        "frames": measured["frames"],
        "gaps": measured["gaps"],
        "agent_added_ms": {"p99": round(summary(mouth)["p99"] - budget.injected_ms, 2)},
        "mouth_to_ear_ms": {k: summary(mouth)[k] for k in ("p50", "p99", "max")},
        "turns": len(mouth),
        "unanswered": measured["unanswered"],
        "calls_completed": measured["calls"],
        "connect_errors": len(measured["connect_errors"]),
        "cpu_per_call_pct": round((cpu1 - cpu0) / window / calls * 100, 3),
        "rss_per_call_mb": round((peak_rss - idle_rss) / calls / 2**20, 3),
        "server_cpu_pct": round((cpu1 - cpu0) / window * 100, 1),
        "callers_cpu_pct": round((callers_cpu1 - callers_cpu0) / window * 100, 1),
        "fakes_cpu_pct": round((fakes_cpu1 - fakes_cpu0) / window * 100, 1),
        "machine_busy_pct": round((busy1 - busy0) / max(1, total1 - total0) * 100, 1),
        "idle_rss_mb": round(idle_rss / 2**20, 1),
    }
    if before is not None and after is not None:
        frames = after["frames_sent"] - before["frames_sent"]
        late = after["late_frames"] - before["late_frames"]
        result["server_late_frames"] = late
        result["server_frames_sent"] = frames
        result["server_underruns"] = after["underruns"] - before["underruns"]
    return result


def print_step(r: dict) -> None:
    p, q = r["pacing_error_ms"], r["socket_pacing_error_ms"]
    server_late = (
        f"; pacer late {r['server_late_frames']}/{r['server_frames_sent']}"
        if "server_late_frames" in r
        else ""
    )
    print(
        f"N={r['calls']:4d}  pacing p50 {p['p50']:.3f} p99 {p['p99']:.3f} max {p['max']:.1f} ms"
        f"  late {r['late_frames']}/{r['frames']} gaps {r['gaps']}{server_late}\n"
        f"        at the callers' sockets: pacing p50 {q['p50']:.3f} p99 {q['p99']:.3f}"
        f" max {q['max']:.1f} ms  late {r['socket_late_frames']}/{r['frames']}\n"
        f"        agent-added p99 {r['agent_added_ms']['p99']:.1f} ms"
        f" (mouth-to-ear p50 {r['mouth_to_ear_ms']['p50']:.0f}, {r['turns']} turns,"
        f" {r['unanswered']} unanswered)  CPU/call {r['cpu_per_call_pct']:.2f} %"
        f"  RSS/call {r['rss_per_call_mb']:.2f} MB\n"
        f"        CPU % of one core: agent {r['server_cpu_pct']}, callers"
        f" {r['callers_cpu_pct']}, fakes {r['fakes_cpu_pct']}; machine busy"
        f" {r['machine_busy_pct']} %",
        flush=True,
    )


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
    parser.add_argument("--shared-llm-client", action="store_true")
    parser.add_argument(
        "--harness-nice", type=int, default=5, help="niceness of the callers and fakes"
    )
    parser.add_argument("--profile", type=Path, help="cProfile the agent: PATH.<N>.pstats")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if (args.shared_llm_client or args.profile) and args.workers != 1:
        parser.error("--shared-llm-client and --profile need the probe server (--workers 1)")
    budget = Budget()
    HARNESS_NICE[0] = args.harness_nice
    print(
        f"budget: {budget.describe()}; {os.cpu_count()} CPUs; callers and fakes at nice"
        f" {args.harness_nice}",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="voice-agent-load-"))
    fakes = Fakes(budget)
    steps: list[dict] = []
    try:
        if not args.ramp:
            steps.append(one_step(args, fakes, args.calls, tmp, budget))
            print_step(steps[-1])
        else:
            sizes = args.steps or list(range(args.start, args.max + 1, args.step))
            for calls in sizes:
                steps.append(one_step(args, fakes, calls, tmp, budget))
                print_step(steps[-1])
                if steps[-1]["pacing_error_ms"]["p99"] > PACING_TARGET_MS and not args.keep_going:
                    break
    finally:
        fakes.stop()
    held = [s["calls"] for s in steps if s["pacing_error_ms"]["p99"] <= PACING_TARGET_MS]
    held_at_socket = [
        s["calls"] for s in steps if s["socket_pacing_error_ms"]["p99"] <= PACING_TARGET_MS
    ]
    if args.ramp:
        print(
            f"largest N with pacing p99 <= {PACING_TARGET_MS} ms: {max(held) if held else 'none'}"
            f" (read by the callers); {max(held_at_socket) if held_at_socket else 'none'}"
            " (arrival at their sockets)"
        )
    out = (
        dict(steps[-1])
        if not args.ramp
        else {
            "steps": steps,
            "largest_ok": max(held, default=0),
            "largest_ok_at_socket": max(held_at_socket, default=0),
        }
    )
    if args.ramp and steps:
        best = next((s for s in steps if s["calls"] == max(held, default=-1)), steps[0])
        out = {**best, **out}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
