"""The agent's per-frame budget from a py-spy profile of the load benchmark.

    python bench/load.py --calls 50 --py-spy /tmp/prof/load --json /tmp/prof/load.json
    python bench/frame_budget.py /tmp/prof/load.50.txt --from-load /tmp/prof/load.json

py-spy (``--format raw``: one line per distinct stack, ``frame;frame;... count``,
on-CPU samples only) samples the agent while N calls talk; each sample is put in
one part of the frame path by the frames on its stack (first rule that matches
any frame wins, in this order):

* observer: ``agent/observe/`` (call records, metrics, the recorder's taps);
* VAD: ``dsp/`` (the C VAD and pacer through cffi);
* STT uplink: ``agent/providers/stt/`` and ``agent/conversation/sttfeed.py``
  (the feed's channel, the batcher, the WebSocket and its TLS);
* LLM + TTS: ``agent/providers/llm/`` and ``agent/providers/tts/``;
* the callers' audio read by the media clock's task (``agent/media/inbound.py``,
  ``caller_audio.py`` on the stack): brain hooks when a brain frame is there too,
  else read + decode;
* playout + send: ``agent/media/playout.py``, a media clock
  (``agent/media/clock*.py``) and the frame send functions of ``agent/media``;
* brain hooks: ``agent/conversation/``, ``agent/dialogue/``, ``agent/business/``;
* read + decode: the rest of ``agent/media/`` and ``agent/wire/`` (the reader);
* provider sockets: no agent frame, but a WebSocket, TLS or HTTP library's (the
  WebSockets' own reader tasks, which serve the STT and the TTS);
* Trio scheduling: stacks with only Trio's run loop (no task's frames);
* other: everything else (imports, logging, the probe's control port).

A part's share of the samples times the agent's CPU seconds over the window
(from /proc, as load.py measured it), divided by the frames the calls had in
that window (50 per second per call), is its microseconds per 20 ms frame per
call: one frame in and one frame out of one call.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

PARTS = (
    "read + decode",
    "VAD",
    "brain hooks",
    "STT uplink",
    "playout + send",
    "observer",
    "LLM + TTS",
    "provider sockets",
    "Trio scheduling",
    "other",
)
_FRAME = re.compile(r"(?P<func>[^;(]*) \((?P<path>[^:;)]*)(?::\d+)?\)")
_SEND_FUNCS = {"_send_frame", "_frame_sent", "send", "send_audio", "send_all"}


def frames_of(stack: str) -> list[tuple[str, str]]:
    return [(m["func"].strip(), m["path"]) for m in _FRAME.finditer(stack)]


def part_of(frames: list[tuple[str, str]]) -> str:
    paths = [path for _, path in frames]

    def has(*pieces: str) -> bool:
        return any(piece in path for path in paths for piece in pieces)

    if has("agent/observe/"):
        return "observer"
    if any(path.startswith("dsp/") or "/dsp/" in path for path in paths):
        return "VAD"
    if has("agent/providers/stt/", "agent/conversation/sttfeed"):
        return "STT uplink"
    if has("agent/providers/llm/", "agent/providers/tts/"):
        return "LLM + TTS"
    # The clock's task also reads the callers' audio (agent/media/inbound.py): what
    # it does for that is the inbound path's, not playout's.
    inbound = has("agent/media/inbound", "agent/media/caller_audio")
    if inbound and has("agent/conversation/", "agent/dialogue/", "agent/business/"):
        return "brain hooks"
    if inbound:
        return "read + decode"
    if has("agent/media/playout", "agent/media/clock") or any(
        func in _SEND_FUNCS and "agent/media/" in path for func, path in frames
    ):
        return "playout + send"
    if has("agent/conversation/", "agent/dialogue/", "agent/business/"):
        return "brain hooks"
    if has("agent/media/", "agent/wire/"):
        return "read + decode"
    if has("agent/"):
        return "other"
    # No agent frame: a library task (the WebSockets' reader tasks) or the loop itself.
    if has("trio_websocket/", "wsproto/", "ssl.py", "trio/_ssl", "h11/", "httpcore/"):
        return "provider sockets"
    if has("trio/_core/"):
        return "Trio scheduling"
    return "other"


def parse(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        counts[part_of(frames_of(stack))] += int(count)
    return counts


def budget(counts: Counter[str], cpu_s: float, calls: int, window_s: float) -> dict[str, float]:
    """Microseconds per 20 ms frame per call, by part (and the total)."""
    samples = sum(counts.values()) or 1
    frames = calls * window_s * 50
    table = {part: round(counts[part] / samples * cpu_s / frames * 1e6, 1) for part in PARTS}
    table["total"] = round(cpu_s / frames * 1e6, 1)
    table["samples"] = samples
    return table


def print_budget(table: dict[str, float]) -> None:
    print(f"per 20 ms frame per call ({int(table['samples'])} samples):")
    for part in (*PARTS, "total"):
        print(f"  {part:18s} {table[part]:7.1f} us")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy --format raw output")
    parser.add_argument("--from-load", type=Path, help="load.py --json of the same run")
    parser.add_argument("--cpu-pct", type=float, help="the agent's CPU, %% of a core")
    parser.add_argument("--calls", type=int)
    args = parser.parse_args()
    if args.from_load is not None:
        step = json.loads(args.from_load.read_text())["steps"][-1]
        cpu_pct, calls = step["server_cpu_pct"], step["calls"]
    elif args.cpu_pct is not None and args.calls:
        cpu_pct, calls = args.cpu_pct, args.calls
    else:
        parser.error("give --from-load, or --cpu-pct and --calls")
    # Per second of the window: the agent's CPU seconds and the calls' frames.
    print_budget(budget(parse(args.profile), cpu_pct / 100, calls, 1.0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
