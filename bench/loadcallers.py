"""Many talking calls from one non-blocking loop: the load benchmark's cheap callers.

    python bench/loadcallers.py --port P --calls N --duration S [--stagger S] --out PATH

What ``callers.py`` (the real softphone, a Trio task tree per call) measures, at a
fraction of its CPU, so that the box measures the agent and not the harness: one
``epoll`` loop, no Trio, and every caller frame encoded once before the run (the
AudioSocket header and the speech of a pool of utterances; a silent frame is a copy
of a table carrying its send time, ``tests.fakes.framestamp``). The calls are spread
over the 20 ms grid (a 1 ms wheel), each sends one frame per 20 ms with one
``send`` (never a burst to catch up: a frame it could not send in its slot is
skipped, as a phone would), waits for the agent's greeting, then says an utterance
whenever the agent has spoken and been quiet for ``--agent-quiet-ms`` (or after
``--agent-timeout-s``: an unanswered turn), until ``--duration``, and hangs up.

The agent's frames are read one at a time (``recvmsg`` up to the end of the frame)
with the kernel's arrival time (``SO_TIMESTAMPNS``), so pacing is timed at the
socket, as a reader that is never starved (Asterisk's channel thread) sees it;
``pacing_errors_ms`` are the same frames timed when this loop read them.
Mouth-to-ear: the end of the caller's last voiced frame (its send time + 20 ms)
to the kernel arrival of the first voiced agent frame after it.

Writes JSON in ``callers.py``'s shape (``load.py`` merges either), with the loop's
own CPU seconds (``harness_cpu_s``) over the talk.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import socket
import struct
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from rig import speech, utterance_lengths

from agent.observe.callreport import is_voiced
from tests.fakes.framestamp import stamped_silence

FRAME_S = 0.02
FRAME_BYTES = 320  # 20 ms at 8 kHz, 16-bit
AUDIO_HEADER = bytes([0x10]) + struct.pack(">H", FRAME_BYTES)
WIRE = len(AUDIO_HEADER) + FRAME_BYTES
HANGUP = b"\x00\x00\x00"
SILENT_MESSAGE = AUDIO_HEADER + bytes(FRAME_BYTES)
LATE_MS, GAP_MS = 2.0, 30.0
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ANCILLARY = socket.CMSG_SPACE(16)
POOL = 24  # pre-encoded utterances, shared by every call
SPEAK, WAIT, DONE = 0, 1, 2


def stamped_message(at_us: int) -> bytes:
    """An AudioSocket message of silence carrying its send time (framestamp's layout)."""
    return AUDIO_HEADER + stamped_silence(FRAME_BYTES, at_us)


def encode_pool(seed: int) -> list[tuple[list[bytes], list[bool]]]:
    pool = []
    for seconds in utterance_lengths(POOL, seed=seed):
        pcm = speech(seconds)
        pcm += bytes(-len(pcm) % FRAME_BYTES)
        frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
        pool.append(([AUDIO_HEADER + f for f in frames], [is_voiced(f) for f in frames]))
    return pool


class Call:
    """One caller: a state machine stepped by the loop (every 20 ms) and by reads."""

    __slots__ = (
        "answered",
        "buf",
        "closed",
        "end_at",
        "ends",
        "frames",
        "greeted",
        "id",
        "last_voice",
        "next_utt",
        "out",
        "pending",
        "pos",
        "prev_read",
        "prev_stamp",
        "prev_voiced",
        "quiet_after",
        "since",
        "sock",
        "started",
        "state",
        "voiced",
        "wait_until",
    )  # fmt: skip

    def __init__(self, sock: socket.socket, now: float, ends: float, first_utt: int) -> None:
        self.sock = sock
        self.out = b""  # what a full socket buffer left unsent
        self.state = WAIT
        self.frames: list[bytes] = []
        self.voiced: list[bool] = []
        self.pos = 0
        self.end_at = now
        self.since = now  # our last input ended here: the agent's answer comes after
        self.greeted = False
        self.answered = True  # nothing to answer before the greeting
        self.quiet_after = False  # the agent was quiet after our utterance ended
        self.wait_until = now + 10.0
        self.last_voice = -1.0
        self.prev_stamp = self.prev_read = -1.0
        self.prev_voiced = False
        self.pending = 0
        self.buf = bytearray()
        self.next_utt = first_utt
        self.ends = ends
        self.closed = False
        self.started = now


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pool = encode_pool(args.seed)
        self.quiet = args.agent_quiet_ms / 1000
        self.out: dict = {
            "calls": 0, "frames": 0, "late_frames": 0, "gaps": 0, "barge_ins": 0,
            "unanswered": 0, "agent_hung_up": 0, "pacing_errors_ms": [],
            "socket_pacing_errors_ms": [], "socket_late_frames": 0, "mouth_to_ear_ms": [],
            "answers": [],
            "barge_in_stop_ms": [], "connect_errors": [], "call_windows": [],
            "send_stalls": 0, "skipped_frames": 0,
        }  # fmt: skip
        self.poller = select.epoll()
        self.by_fd: dict[int, Call] = {}
        self.wheel: list[list[Call]] = [[] for _ in range(20)]

    # --- dialling and hanging up ------------------------------------------------------

    def dial(self, index: int, now: float, ends: float) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.args.port), timeout=5)
        except OSError as exc:
            self.out["connect_errors"].append(str(exc))
            return
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        call_id = uuid.uuid4()
        sock.send(b"\x01\x00\x10" + call_id.bytes)
        call = Call(sock, now, ends, index % POOL)
        call.id = str(call_id)
        self.by_fd[sock.fileno()] = call
        self.poller.register(sock.fileno(), select.EPOLLIN)
        self.wheel[int(now * 1000) % 20].append(call)

    def close(self, call: Call, now: float, *, hang_up: bool) -> None:
        if call.closed:
            return
        call.closed = True
        call.state = DONE
        if hang_up:
            with contextlib.suppress(OSError):
                call.sock.send(HANGUP)
        self.poller.unregister(call.sock.fileno())
        del self.by_fd[call.sock.fileno()]
        call.sock.close()
        self.out["calls"] += 1
        self.out["call_windows"].append((call.started, now))

    # --- the 20 ms step of one call -----------------------------------------------------

    def step(self, call: Call, now: float) -> None:
        if now >= call.ends:
            self.close(call, now, hang_up=True)
            return
        if call.state == WAIT:
            heard = call.last_voice >= call.since
            if heard and now >= call.last_voice + self.quiet:
                call.greeted = True
                self.start_utterance(call)
            elif now >= call.wait_until:
                if call.greeted:
                    self.out["unanswered"] += 1
                call.greeted = True
                self.start_utterance(call)
        if call.state == SPEAK:
            message = call.frames[call.pos]
            if call.voiced[call.pos]:
                call.end_at = now + FRAME_S
            call.pos += 1
            if call.pos == len(call.frames):
                call.state, call.since, call.answered = WAIT, call.end_at, False
                call.quiet_after = False
                call.wait_until = now + self.args.agent_timeout_s
        else:
            message = stamped_message(int(now * 1e6))
        self.send(call, message)

    def start_utterance(self, call: Call) -> None:
        call.frames, call.voiced = self.pool[call.next_utt % POOL]
        call.next_utt += 1
        call.pos = 0
        call.state = SPEAK

    def send(self, call: Call, message: bytes) -> None:
        if call.out:  # the socket was full: finish that message first, skip this one
            self.out["skipped_frames"] += 1
            message = call.out
        try:
            sent = call.sock.send(message)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.close(call, time.time(), hang_up=False)
            return
        call.out = message[sent:]
        if call.out:
            self.out["send_stalls"] += 1

    # --- the agent's frames ---------------------------------------------------------------

    def readable(self, call: Call) -> None:
        # One frame per readiness event: epoll is level-triggered, so a second queued
        # frame brings the next event at once, and no recvmsg ends in EAGAIN.
        while not call.closed:
            try:
                data, ancillary, _flags, _addr = call.sock.recvmsg(WIRE - call.pending, ANCILLARY)
            except BlockingIOError:
                return
            except OSError:
                data, ancillary = b"", []
            if not data:
                self.close(call, time.time(), hang_up=False)
                return
            if call.pending or len(data) < WIRE:
                call.buf += data
                call.pending += len(data)
                if data[:1] == b"\x00" and call.pending == 3 and call.buf[:3] == HANGUP:
                    self.out["agent_hung_up"] += 1
                    self.close(call, time.time(), hang_up=False)
                    return
                if call.pending < WIRE:
                    continue
                data, call.buf, call.pending = bytes(call.buf), bytearray(), 0
            stamp = time.time()
            read_at = stamp
            for _level, _kind, payload in ancillary:
                seconds, nanoseconds = struct.unpack_from("qq", payload)
                stamp = seconds + nanoseconds / 1e9
            self.frame(call, data, stamp, read_at)
            return

    def frame(self, call: Call, data: bytes, stamp: float, read_at: float) -> None:
        # The agent's silence is zeros: only other frames need the level meter.
        voiced = data != SILENT_MESSAGE and is_voiced(data[3:])
        if call.prev_stamp > 0 and not (voiced and not call.prev_voiced):
            error = abs(stamp - call.prev_stamp - FRAME_S) * 1000
            read_error = abs(read_at - call.prev_read - FRAME_S) * 1000
            out = self.out
            out["socket_pacing_errors_ms"].append(error)
            out["pacing_errors_ms"].append(read_error)
            out["frames"] += 1
            if error > LATE_MS:
                out["socket_late_frames"] += 1
            if read_error > LATE_MS:
                out["late_frames"] += 1
            if error > GAP_MS:
                out["gaps"] += 1
        call.prev_stamp, call.prev_read, call.prev_voiced = stamp, read_at, voiced
        if not voiced:
            call.quiet_after = call.quiet_after or stamp >= call.since
        else:
            call.last_voice = stamp
            # An answer starts after a quiet frame: the tail of a reply we talked over
            # (an overloaded agent) is not one.
            if not call.answered and call.quiet_after:
                call.answered = True
                mouth_to_ear = round((stamp - call.since) * 1000, 2)
                self.out["mouth_to_ear_ms"].append(mouth_to_ear)
                # Each answer with its call and its caller's end of speech (wall clock),
                # to be set beside the agent's records of the turn.
                self.out["answers"].append((call.id, round(call.since, 4), mouth_to_ear))

    # --- the loop -----------------------------------------------------------------------

    def run(self) -> dict:
        args = self.args
        t0 = time.time()
        ends = t0 + args.stagger + args.duration
        starts = [t0 + args.stagger * i / max(1, args.calls) for i in range(args.calls)]
        dialled = 0
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        tick = int(t0 * 1000)
        while dialled < args.calls or self.by_fd:
            now = time.time()
            while dialled < args.calls and starts[dialled] <= now:
                self.dial(dialled, now, ends)
                dialled += 1
            for fd, _mask in self.poller.poll(max(0.0, (tick + 1) / 1000 - now)):
                call = self.by_fd.get(fd)
                if call is not None:
                    self.readable(call)
            now = time.time()
            current = int(now * 1000)
            if current - tick > 20:  # stalled: never burst to catch up
                self.out["skipped_frames"] += current - tick - 20
                tick = current - 20
            while tick < current:
                tick += 1
                slot = self.wheel[tick % 20]
                for call in slot:
                    self.step(call, now)
                if any(c.closed for c in slot):
                    slot[:] = [c for c in slot if not c.closed]
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        self.out["harness_cpu_s"] = round(
            cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 3
        )
        # On the shared monotonic clock, as callers.py gives them.
        offset = time.monotonic() - time.time()
        self.out["call_windows"] = [(a + offset, b + offset) for a, b in self.out["call_windows"]]
        for key in ("socket_pacing_errors_ms", "pacing_errors_ms"):  # rounded after the run
            self.out[key] = [round(e, 3) for e in self.out[key]]
        return self.out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of talk")
    parser.add_argument("--stagger", type=float, default=3.0, help="spread call starts over")
    parser.add_argument("--agent-quiet-ms", type=float, default=300.0)
    parser.add_argument("--agent-timeout-s", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nice", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.nice(args.nice)
    out = Harness(args).run()
    Path(args.out).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
