"""The agent's server with a window into it, for load.py and soak.py.

    python bench/serve_probe.py [--shared-llm-client]   (environment as for serve)

Serves AudioSocket exactly as ``voice-agent serve --brain conversation`` does
(``serve_audiosocket``, the registry's providers chosen by the environment, and
the call records and per-call metrics of ``agent.observe``; ``--no-observe``
leaves them out), on a free loopback port, and answers ``stats`` on a control
port with what only the server knows: each ended call's playout statistics
(frames sent, late frames, underruns) and end reason, live Trio tasks, open
file descriptors, RSS, the collector's passes and their time by generation, and
with ``--count-steps`` the task steps by task name. Once listening it freezes the
collector as serve does (``agent.service.collector``; ``--no-gc-freeze``: not), and prints
``{"port": P, "control": C}``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import functools
import gc
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import attrs
import trio
from rig import conversation_factory, proc_fds, proc_rss_bytes

import agent
from agent.base.config import ServerSettings
from agent.media.server import CallRegistry, serve_audiosocket
from agent.observe.process import run_observability
from agent.providers.llm.openai_compat import SharedClient

try:
    from agent.service.collector import settle_collector
except ImportError:  # an agent tree from before it (--agent-tree): serve froze only
    settle_collector = gc.freeze

# A task step this long or longer is counted by name (--count-steps): it holds every
# other task, the media clock's among them, for that long.
LONG_STEP_S = 0.001


def count_tasks() -> int:
    """Live Trio tasks in this process (walks the task tree from the root)."""
    count, todo = 0, [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        count += 1
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return count


class Probe:
    def __init__(self) -> None:
        # The collector's passes and their time (wall clock) by generation.
        self.gc_seconds = [0.0, 0.0, 0.0]
        self.gc_collections = [0, 0, 0]
        self._gc_started = 0.0
        gc.callbacks.append(self._gc_callback)
        # Task steps by task name (--count-steps): each is a trip round the run loop.
        self.task_steps: collections.Counter[str] = collections.Counter()
        self.task_seconds: collections.Counter[str] = collections.Counter()
        # Trips round the run loop (each an epoll_wait), and those that slept (--count-steps).
        self.io_waits = [0, 0]
        self.long_steps: dict[str, list[float]] = {}
        self.frames_sent = 0
        self.late_frames = 0
        self.underruns = 0
        self.calls_ended = 0
        self.late_by_call: list[int] = []

    def _gc_callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_seconds[info["generation"]] += time.perf_counter() - self._gc_started
            self.gc_collections[info["generation"]] += 1

    def wrap(self, factory):
        def make(call):
            brain = factory(call)
            run = brain.run

            async def run_and_count(c):
                try:
                    await run(c)
                finally:
                    stats = call.playout.statistics()
                    self.frames_sent += stats["frames_sent"]
                    self.late_frames += stats["late_frames"]
                    self.underruns += stats["underruns"]
                    self.late_by_call.append(stats["late_frames"])
                    self.calls_ended += 1

            brain.run = run_and_count
            return brain

        return make


async def control(stream: trio.SocketStream, probe: Probe, registry: CallRegistry) -> None:
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        async with stream:
            buffer = b""
            while True:
                data = await stream.receive_some(1024)
                if not data:
                    return
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip() != b"stats":
                        continue
                    pid = os.getpid()
                    reply = {
                        "rss": proc_rss_bytes(pid),
                        "fds": proc_fds(pid),
                        "trio_tasks": count_tasks(),
                        "frames_sent": probe.frames_sent,
                        "late_frames": probe.late_frames,
                        "underruns": probe.underruns,
                        "calls_ended": probe.calls_ended,
                        "late_by_call": probe.late_by_call,
                        "gc_seconds": probe.gc_seconds,
                        "gc_collections": probe.gc_collections,
                        "task_steps": dict(probe.task_steps),
                        "io_waits": probe.io_waits,
                        "task_seconds": dict(probe.task_seconds),
                        "long_steps": probe.long_steps,
                        **registry.statistics(),
                    }
                    await stream.send_all(json.dumps(reply).encode() + b"\n")


class StepCounter(trio.abc.Instrument):
    """Counts task steps by task name, and the steps of 1 ms or more with their time
    (what holds the media clock's task back): an instrument, a little cost on every
    step."""

    def __init__(
        self,
        steps: collections.Counter[str],
        seconds: collections.Counter[str],
        long: dict[str, list[float]],
        io_waits: list[int],
    ) -> None:
        self.steps = steps
        self.seconds = seconds  # wall time inside steps, by task name
        self.long = long  # name -> [count, total s, max s] of steps >= LONG_STEP_S
        self.io_waits = io_waits  # [run-loop passes, passes that could sleep]
        self._started = 0.0

    def before_io_wait(self, timeout: float) -> None:
        self.io_waits[0] += 1
        if timeout > 0:
            self.io_waits[1] += 1

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task.name] += 1
        self._started = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        took = time.perf_counter() - self._started
        self.seconds[task.name] += took
        if took >= LONG_STEP_S:
            entry = self.long.setdefault(task.name, [0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += took
            entry[2] = max(entry[2], took)


async def main_async(args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        nursery = await stack.enter_async_context(trio.open_nursery())
        shared = None
        if args.shared_llm_client:  # serve's pooled client (its limits and TLS context)
            shared = SharedClient()
            await nursery.start(shared.run)
        probe = Probe()
        if args.count_steps:
            trio.lowlevel.add_instrument(
                StepCounter(probe.task_steps, probe.task_seconds, probe.long_steps, probe.io_waits)
            )
        registry = CallRegistry()
        factory = conversation_factory(os.environ, shared=shared)
        if not args.no_observe:  # records and per-call metrics, as serve always runs them
            observability = await nursery.start(
                functools.partial(run_observability, exporter=False, count_active_calls=False)
            )
            factory = observability.wrap(factory)
        factory = probe.wrap(factory)
        # As serve reads them (VOICE_AGENT_MAX_CALLS, the connection limit, ...).
        settings = attrs.evolve(
            ServerSettings.from_env(os.environ), port=args.port, brain="conversation"
        )
        listeners = await nursery.start(
            functools.partial(serve_audiosocket, settings, factory, registry=registry)
        )
        controls = await nursery.start(
            functools.partial(
                trio.serve_tcp,
                lambda s: control(s, probe, registry),
                0,
                host="127.0.0.1",
            )
        )
        port = listeners[0].socket.getsockname()[1]
        if not args.no_gc_freeze:
            # As serve does once started (Service._run): start-up's objects frozen, the
            # middle generation's passes spaced out (agent.service.collector).
            settle_collector()
        print(
            json.dumps(
                {
                    "port": port,
                    "control": controls[0].socket.getsockname()[1],
                    "agent": str(Path(agent.__file__).parent),  # which tree (--agent-tree)
                }
            ),
            flush=True,
        )
        await trio.sleep_forever()  # the shared client must outlive the calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--shared-llm-client", action="store_true")
    parser.add_argument("--no-observe", action="store_true", help="no call records or metrics")
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="not serve's collector settings once listening"
    )
    parser.add_argument(
        "--count-steps", action="store_true", help="count task steps by task name (in stats)"
    )
    parser.add_argument("--profile", help="write cProfile stats here when stopped (SIGTERM)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    # SIGTERM becomes Trio's own clean KeyboardInterrupt, so the profile gets written.
    signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    try:
        trio.run(main_async, args)
    except* KeyboardInterrupt:
        pass
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
