"""The three provider fakes in a process of their own (for load.py and soak.py).

    python bench/fakes.py [--stt-latency-ms 100 ...] [--plain] [--chaos SECONDS] [--nice 5]

Prints one JSON line ``{"env": {...}}`` (the variables that point the agent at
the fakes, over TLS unless ``--plain``: the CA's file among them) once they
listen, then serves until stdin closes or SIGTERM. A ``timing`` line on stdin
is answered with one JSON line: the fake Deepgram's finals since the last such
line, as the agent's uplink (the caller sent the frame that completed the
endpointing -> the message holding it arrived here; from the caller's frame
stamps) and the fake's own time (arrived -> final sent), in ms. With
``--chaos S`` a fault is injected about every S seconds (seeded): a Deepgram
socket dropped mid-stream, an LLM 429/500/garbage/stall, a Cartesia socket
dropped mid-context or a context error, so a soak run meets every recovery path.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import signal
import sys
import time
from collections import Counter

import trio
from fake_records import MonotonicClock, records
from rig import (
    LONG_REPLY,
    LONG_WORD,
    Budget,
    add_budget_args,
    budget_env,
    last_user_text,
    start_fakes,
    summary,
)

from tests.fakes.deepgram import Fault as DeepgramFault
from tests.fakes.deepgram_asr import Script
from tests.fakes.openai import Fault as LlmFault
from tests.fakes.openai import ScriptedReply

# The middle generation's passes before a full one: in effect never (see main_async).
FULL_PASS_NEVER = 1_000_000


async def chaos(fakes, every_s: float, seed: int, counts: dict[str, int]) -> None:
    rng = random.Random(seed)
    while True:
        await trio.sleep(rng.expovariate(1 / every_s))
        kind = rng.choice(["stt-drop", "llm", "tts-drop", "tts-error"])
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "stt-drop":
            # The next connection to be counted gets dropped after a few seconds of audio.
            index = len(fakes.deepgram.connections)
            faults = list(fakes.deepgram.faults) + [DeepgramFault()] * max(
                0, index + 1 - len(fakes.deepgram.faults)
            )
            faults[index] = DeepgramFault(close_after_audio_ms=rng.randint(1000, 20000))
            fakes.deepgram.faults = tuple(faults)
        elif kind == "llm":
            fault = rng.choice(
                [
                    LlmFault.RATE_LIMIT,
                    LlmFault.SERVER_ERROR,
                    LlmFault.MALFORMED_JSON,
                    LlmFault.STALL,
                ]
            )
            fakes.openai.replies.append(ScriptedReply(fault=fault, retry_after=0.2))
        elif kind == "tts-drop":
            total = sum(c.chunks_sent for c in fakes.cartesia.connections)
            fakes.cartesia.close_after_chunks = total + rng.randint(1, 20)
        else:
            fakes.cartesia.error_context = fakes.cartesia._context_count + 1


def report_timing(fakes, budget: Budget, since: float, seen: dict) -> float:
    """Print what the fakes timed since ``since`` (wall clock): the finals' uplink (from
    the caller's frame stamps) and each fake's overshoot of its budget (its own
    lateness, which the load benchmark's agent-added figure counts as the agent's)."""
    fresh = [t for c in fakes.deepgram.connections for t in c.final_timing if t[2] > since]
    uplink = [(arrived - at) * 1000 for at, arrived, _ in fresh if at is not None]
    stt = [(sent - arrived) * 1000 - budget.stt_latency_ms for _, arrived, sent in fresh]
    requests = fakes.openai.requests[seen.get("llm", 0) :]
    seen["llm"] = len(fakes.openai.requests)
    llm = [
        (r.first_token_at - r.received_at) * 1000 - budget.llm_first_token_ms
        for r in requests
        if r.first_token_at is not None and r.received_at is not None
    ]
    told = seen.setdefault("tts", set())
    contexts = [
        c
        for cid, c in fakes.cartesia.contexts.items()
        if c.first_chunk_at is not None and c.fragments and cid not in told
    ]
    told.update(id for id, c in fakes.cartesia.contexts.items() if c.first_chunk_at)
    tts = [
        (c.first_chunk_at - c.fragments[0][0]) * 1000 - budget.tts_first_audio_ms for c in contexts
    ]
    # Messages on the provider sockets since the last report (the agent handles each).
    dg = fakes.deepgram.connections
    counts = {
        "stt_audio_messages": sum(len(c.audio_messages) for c in dg),
        "stt_audio_bytes": sum(size for c in dg for _, size in c.audio_messages),
        "stt_controls": sum(len(c.controls) for c in dg),
        "stt_results": sum(len(c.sent) for c in dg),
        "tts_chunks": sum(c.chunks_sent for c in fakes.cartesia.connections),
        # Text messages in (each a WebSocket message the agent sent, empty closes too).
        "tts_texts": sum(len(c.fragments) for c in fakes.cartesia.contexts.values()),
        "llm_connections": fakes.openai.connections,  # each a TCP and TLS handshake
    }
    last = seen.get("counts", dict.fromkeys(counts, 0))
    seen["counts"] = counts
    # The uplink's messages by their audio in 20 ms frames, since the last report.
    sizes = Counter(size // 320 for c in dg for _, size in c.audio_messages)
    last_sizes = seen.get("sizes", Counter())
    seen["sizes"] = sizes
    line = {
        "messages": {key: counts[key] - last[key] for key in counts},
        "stt_message_frames": dict(sorted((sizes - last_sizes).items())),
        "finals": len(fresh),
        "stamped": len(uplink),
        "uplink_ms": summary(uplink),
        "overshoot_ms": {"stt": summary(stt), "llm": summary(llm), "tts": summary(tts)},
    }
    print(json.dumps({"timing": line}), flush=True)
    return time.time()


def answer(fakes, command: str, rest: bytes) -> None:
    """latency.py's requests: the next heard texts, the stage stamps, the complaints."""
    if command == "script":
        heard = json.loads(rest)
        fakes.deepgram.script = Script(heard, fakes.deepgram.script.default)
        line = {"script": len(heard)}
    elif command == "records":
        line = {"records": records(fakes)}
    else:
        line = {
            "violations": fakes.deepgram.violations
            + fakes.openai.violations
            + fakes.cartesia.violations
        }
    print(json.dumps(line), flush=True)


async def main_async(args: argparse.Namespace) -> None:
    budget = Budget.from_args(args)
    counts: dict[str, int] = {}
    async with trio.open_nursery() as nursery:
        fakes = await start_fakes(nursery, budget, tls=not args.plain)
        if args.long_share > 0:
            rng = random.Random(args.seed)
            long = ScriptedReply(
                text=LONG_REPLY,
                first_token_delay=budget.llm_first_token_ms / 1000,
                token_gap=budget.llm_token_ms / 1000,
            )

            def pick(body):
                if LONG_WORD in last_user_text(body) or rng.random() < args.long_share:
                    return long
                return None

            fakes.openai.reply_for = pick
        # The fakes keep a record of every message for the whole run, so the
        # collector's full passes grew to tens of ms and the fakes answered that
        # late (the load benchmark counted it as the agent's): what start-up made is
        # frozen and the records are never scanned again by a full pass (a
        # benchmark's run is minutes; its cyclic garbage is kept until the end).
        gc.freeze()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_PASS_NEVER)
        print(json.dumps({"env": {**fakes.env(), **budget_env(budget)}}), flush=True)
        if args.chaos > 0:
            nursery.start_soon(chaos, fakes, args.chaos, args.seed, counts)
        # Until our parent closes stdin (or kills us).
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        buffer, reported, seen = b"", 0.0, {}
        while data := await stdin.receive_some(1024):
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                command, _, rest = line.strip().partition(b" ")
                if command == b"timing":
                    reported = report_timing(fakes, budget, reported, seen)
                elif command in (b"script", b"records", b"violations"):
                    answer(fakes, command.decode(), rest)
        print(json.dumps({"faults_injected": counts}), flush=True)
        nursery.cancel_scope.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_budget_args(parser)
    parser.add_argument("--chaos", type=float, default=0.0, help="mean seconds between faults")
    parser.add_argument("--long-share", type=float, default=0.0, help="share of long replies")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nice", type=int, default=5)
    parser.add_argument(
        "--monotonic-clock", action="store_true", help="Trio on CLOCK_MONOTONIC (latency.py)"
    )
    args = parser.parse_args()
    os.nice(args.nice)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    trio.run(main_async, args, clock=MonotonicClock() if args.monotonic_clock else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
