"""The agent's media path alone: CPU per 20 ms frame per call, both directions.

    python bench/media_path.py [--calls 50] [--seconds 10] [--json PATH]
    PYTHONPATH=/tmp/before python bench/media_path.py   (an earlier agent tree:
        git archive REV agent | tar -x -C /tmp/before)
    python bench/media_path.py --calls 20 --seconds 5 --count-calls   (Python calls
        per frame under the per-frame entry points, from cProfile: deterministic)

N calls over socket pairs into the real call path (``handle_connection`` on one
media clock: the reader, VAD, brain hooks, the paced playout), each talked to by
a caller process that sends a 20 ms frame every 20 ms (phases spread over the
period) and reads what the agent sends; the brain speaks without pause, so every
call has a frame in and a frame out every 20 ms. No providers, no TLS: this is
the part of ``bench/load.py``'s per-frame budget that the media room owns (read +
decode, VAD, playout + send and the scheduling of both), measured without the
fakes and the harness competing for the box. The figure is the agent process's
own CPU time (``getrusage``) over the window, so other jobs on the box change it
less than they change wall-clock figures; run before/after pairs alternately.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import json
import multiprocessing
import os
import pstats
import resource
import selectors
import socket
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import trio

import agent
from agent.base.config import ServerSettings
from agent.media.clock import MediaClock
from agent.media.server import handle_connection
from agent.wire.audiosocket import Audio, Connection, Identify, Role

FRAME = np.full(160, 40, dtype="<i2").tobytes()  # quiet caller audio
SPEECH = np.full(160, 3000, dtype="<i2").tobytes()


def callers(socks: list[socket.socket], seconds: float) -> None:
    """The caller process: one loop, a frame per call every 20 ms, what comes back read."""
    sel = selectors.DefaultSelector()
    encoded = []
    for k, sock in enumerate(socks):
        sock.setblocking(False)
        conn = Connection(Role.CLIENT)
        sock.sendall(conn.send(Identify(uuid.UUID(int=k + 1))))
        encoded.append(conn.send(Audio(FRAME)))
        sel.register(sock, selectors.EVENT_READ)
    start = time.monotonic()
    due = [start + 0.02 * k / len(socks) for k in range(len(socks))]
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        for k, sock in enumerate(socks):
            if now >= due[k]:
                with contextlib.suppress(BlockingIOError):
                    sock.send(encoded[k])
                due[k] += 0.02
        for key, _ in sel.select(max(0.0, min(due) - time.monotonic())):
            with contextlib.suppress(BlockingIOError):
                key.fileobj.recv(65536)  # type: ignore[union-attr]
    for sock in socks:
        sock.close()


class Speaker:
    """Speaks without pause, so every frame out is speech."""

    def __init__(self, call) -> None:
        self.frames_in = 0

    async def run(self, call) -> None:
        while True:
            utterance = call.playout.open_utterance()
            call.playout.write(utterance, SPEECH * 500)
            call.playout.close_utterance(utterance)
            await utterance.finished.wait()

    def on_audio(self, pcm: bytes, now: float) -> None:
        self.frames_in += 1

    def on_vad(self, transition, level_dbfs: float, now: float) -> None:
        pass

    def on_dtmf(self, digit: str, now: float) -> None:
        pass

    def end_politely(self, reason: str) -> None:
        pass


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def agent_side(socks: list[socket.socket], warmup: float, seconds: float) -> dict:
    brains: list[Speaker] = []

    def brain(call) -> Speaker:
        brains.append(Speaker(call))
        return brains[-1]

    settings = ServerSettings(brain="echo", idle_timeout_s=30.0)
    async with trio.open_nursery() as nursery:
        clock = MediaClock(nursery)
        for sock in socks:
            stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
            nursery.start_soon(
                functools.partial(handle_connection, stream, settings, brain, clock=clock)
            )
        await trio.sleep(warmup)
        frames0, cpu0, t0 = sum(b.frames_in for b in brains), cpu_s(), time.monotonic()
        await trio.sleep(seconds)
        frames1, cpu1, t1 = sum(b.frames_in for b in brains), cpu_s(), time.monotonic()
        nursery.cancel_scope.cancel()
    calls = len(socks)
    expected = calls * 50 * (t1 - t0)
    return {
        "calls": calls,
        "window_s": round(t1 - t0, 2),
        "agent_tree": str(Path(agent.__file__).parent),
        "frames_in_delivered": round((frames1 - frames0) / expected, 3),
        "cpu_pct_per_call": round(100 * (cpu1 - cpu0) / (t1 - t0) / calls, 3),
        "us_per_frame_per_call": round(1e6 * (cpu1 - cpu0) / expected, 1),
        "clock_wakeups_per_s": round(clock.wakeups / (t1 - t0 + 2 * warmup), 0),
        "load_average": os.getloadavg(),
    }


def calls_per_frame(stats: dict) -> dict[str, float]:
    """Python calls made under each per-frame entry point, per call of it (from a
    cProfile of the run: deterministic, where CPU time moves with the box's load)."""
    callees: dict = {}
    for key, (*_, callers) in stats.items():
        for caller, counts in callers.items():
            callees.setdefault(caller, {})[key] = counts[0]

    def under(root) -> float:
        total, stack = 0.0, [(root, 1.0, (root,))]
        while stack:
            fn, weight, path = stack.pop()
            for child, n in callees.get(fn, {}).items():
                per = weight * n / stats[fn][1]
                total += per
                if child not in path:  # a recursive call is counted, not walked again
                    stack.append((child, per, (*path, child)))
        return total

    entries = {
        "inbound_ready": "caller_audio.py",
        "clock_tick": "playout.py",
        "frame": "caller_audio.py",
    }
    return {
        f"{name} ({where})": round(under(key), 1)
        for key in stats
        for name, where in entries.items()
        if key[2] == name and key[0].endswith(where)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--count-calls", action="store_true", help="under cProfile: Python calls per frame"
    )
    args = parser.parse_args()
    pairs = [socket.socketpair() for _ in range(args.calls)]
    ours, theirs = [a for a, _ in pairs], [b for _, b in pairs]
    child = multiprocessing.get_context("fork").Process(
        target=callers, args=(theirs, args.warmup * 2 + args.seconds + 1), daemon=True
    )
    child.start()
    for sock in theirs:
        sock.close()
    if args.count_calls:
        profile = cProfile.Profile()
        result = profile.runcall(trio.run, agent_side, ours, args.warmup, args.seconds)
        result["python_calls_per_frame"] = calls_per_frame(pstats.Stats(profile).stats)
    else:
        result = trio.run(agent_side, ours, args.warmup, args.seconds)
    child.terminate()
    child.join()
    print(json.dumps(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
