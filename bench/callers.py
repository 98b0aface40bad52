"""Many concurrent talking calls from one process (for load.py and soak.py).

    python bench/callers.py --port P --calls M --duration S [--stagger S] [--out PATH]

Each call is the real softphone (``agent.demo.softphone``) over TCP: it waits for the
greeting, then talks (utterances of 0.6-1.2 s, each after the agent's reply)
until ``--duration`` is up, and hangs up. ``--barge-in P`` makes a share P of
utterances talk over the agent; ``--call-seconds A,B`` ends each call after a
random A..B seconds and dials again, until ``--duration``. Writes what the
callers measured as JSON: per-frame pacing errors (|inter-arrival - 20 ms|,
skipping the first frame of each speech burst, where playout re-phases on
purpose), late frames (> 2 ms behind their slot), gaps (> 30 ms) and
mouth-to-ear per answered turn.

Pacing is measured twice: when this process read each frame (what a busy,
niced caller sees, its own scheduling delays included) and when the frame
reached its socket (the kernel's receive time, ``SO_TIMESTAMPNS``): what the
agent produced, as a reader that is never starved (Asterisk's channel thread)
would see it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import socket
import struct
import time

import trio
from rig import FRAME_S, speech, utterance_lengths

from agent.demo.softphone import Caller, CallerParams, Say

LATE_MS = 2.0
GAP_MS = 30.0
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not name it
FRAME_WIRE_BYTES = 3 + 320  # the agent sends 20 ms frames at 8 kHz, header included


class KernelStampedStream(trio.abc.HalfCloseableStream):
    """A TCP stream that notes when each agent frame reached the socket.

    Reads at most up to the end of the current frame, so the kernel's receive
    time of the last segment read is that frame's arrival time."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        stream.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._pending = 0  # bytes of the current frame read so far
        self.frame_times: list[float] = []  # CLOCK_REALTIME seconds, one per whole frame

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        want = FRAME_WIRE_BYTES - self._pending
        data, ancillary, _flags, _address = await self._stream.socket.recvmsg(
            want, socket.CMSG_SPACE(16)
        )
        stamp = math.nan
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack("qq", payload[:16])
                stamp = seconds + nanoseconds / 1e9
        self._pending += len(data)
        if self._pending == FRAME_WIRE_BYTES:
            self._pending = 0
            self.frame_times.append(stamp)
        return data

    async def send_all(self, data) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()


def kernel_frame_errors(caller: Caller, stamps: list[float], since: float, until: float):
    """As ``frame_errors``, from the kernel's arrival times (the agent sends only
    audio frames until its hang-up, so the n-th frame read is the n-th stamp)."""
    errors = []
    received = caller.received
    for i in range(1, min(len(received), len(stamps))):
        prev, cur = received[i - 1], received[i]
        if not (since <= prev.at and cur.at <= until):
            continue
        if cur.voiced and not prev.voiced:
            continue
        gap = stamps[i] - stamps[i - 1]
        if not math.isnan(gap):
            errors.append(round(abs(gap - FRAME_S) * 1000, 3))
    return errors


def frame_errors(caller: Caller, since: float, until: float) -> list[float]:
    """|inter-arrival - 20 ms| for frames received in [since, until]."""
    errors = []
    received = caller.received
    for prev, cur in itertools.pairwise(received):
        if not (since <= prev.at and cur.at <= until):
            continue
        if cur.voiced and not prev.voiced:
            continue  # playout re-phases at the start of speech: early on purpose
        errors.append(round(abs(cur.at - prev.at - FRAME_S) * 1000, 3))
    return errors


async def one_call(port: int, seconds: float, rng: random.Random, barge_in: float, out: dict):
    lengths = utterance_lengths(int(seconds / 1.5) + 2, seed=rng.randrange(1 << 30))
    script = [
        Say(
            speech(s),
            interrupt_after_ms=rng.randint(200, 1500) if rng.random() < barge_in else None,
        )
        for s in lengths
    ]
    params = CallerParams(agent_quiet_ms=300, agent_timeout_s=6.0, linger_s=1.0)
    caller = Caller(script, params=params)
    started = trio.current_time()
    try:
        stream = KernelStampedStream(await trio.open_tcp_stream("127.0.0.1", port))
    except OSError as exc:
        out["connect_errors"].append(str(exc))
        return
    with trio.move_on_after(seconds):
        await caller.run(stream)
    with trio.CancelScope(shield=True):
        await trio.aclose_forcefully(stream)
    ended = trio.current_time()
    report = caller.report()
    # Pacing is judged from the first agent frame, once the call is up.
    first = caller.received[0].at if caller.received else ended
    errors = frame_errors(caller, first, ended)
    out["pacing_errors_ms"] += errors
    out["late_frames"] += sum(1 for e in errors if e > LATE_MS)
    at_socket = kernel_frame_errors(caller, stream.frame_times, first, ended)
    out["socket_pacing_errors_ms"] += at_socket
    out["socket_late_frames"] += sum(1 for e in at_socket if e > LATE_MS)
    out["gaps"] += report.gaps
    out["frames"] += len(errors)
    # The last utterance may have been cut off by the end of the call.
    for u in report.utterances[:-1]:
        if u.interrupt:
            out["barge_ins"] += 1
            if u.barge_in_stop_ms is not None:
                out["barge_in_stop_ms"].append(round(u.barge_in_stop_ms, 2))
        elif u.response_ms is not None:
            out["mouth_to_ear_ms"].append(round(u.response_ms, 2))
        else:
            out["unanswered"] += 1
    out["calls"] += 1
    out["agent_hung_up"] += int(caller.agent_hung_up)
    out["call_windows"].append((started, ended))


async def slot(args, index: int, deadline: float, out: dict) -> None:
    rng = random.Random(args.seed * 1000 + index)
    await trio.sleep(args.stagger * index / max(1, args.calls))
    while trio.current_time() < deadline - 2:
        left = deadline - trio.current_time()
        if args.call_seconds:
            lo, hi = args.call_seconds
            seconds = min(left, rng.uniform(lo, hi))
        else:
            seconds = left
        await one_call(args.port, seconds, rng, args.barge_in, out)
        if not args.call_seconds:
            return


async def main_async(args: argparse.Namespace) -> dict:
    out: dict = {
        "calls": 0,
        "frames": 0,
        "late_frames": 0,
        "gaps": 0,
        "barge_ins": 0,
        "unanswered": 0,
        "agent_hung_up": 0,
        "pacing_errors_ms": [],
        "socket_pacing_errors_ms": [],
        "socket_late_frames": 0,
        "mouth_to_ear_ms": [],
        "barge_in_stop_ms": [],
        "connect_errors": [],
        "call_windows": [],
    }
    deadline = trio.current_time() + args.stagger + args.duration
    offset = time.monotonic() - trio.current_time()
    async with trio.open_nursery() as nursery:
        for index in range(args.calls):
            nursery.start_soon(slot, args, index, deadline, out)
    # Windows on the shared monotonic clock, so the parent can line them up.
    out["call_windows"] = [(a + offset, b + offset) for a, b in out["call_windows"]]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of talk per slot")
    parser.add_argument("--stagger", type=float, default=3.0, help="spread call starts over")
    parser.add_argument(
        "--call-seconds",
        type=lambda s: tuple(float(x) for x in s.split(",")),
        help="A,B: each call lasts A..B s, then the slot dials again",
    )
    parser.add_argument("--barge-in", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nice", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.nice(args.nice)
    out = trio.run(main_async, args)
    with open(args.out, "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
