"""``voice-agent call``: dial an agent like Asterisk would, and measure it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import trio

from agent.base.errors import ConfigError
from agent.base.wav import read_wav
from agent.demo.softphone import (
    Caller,
    CallerParams,
    HangUp,
    PressKeys,
    Say,
    Silence,
    Step,
    WaitAgent,
    save_legs,
)


def register(sub: argparse._SubParsersAction) -> None:
    call = sub.add_parser("call", help="call an agent like Asterisk would, and measure it")
    call.add_argument("--host", default="127.0.0.1")
    call.add_argument("--port", type=int, default=9099)
    call.add_argument("--wav", help="say this WAV once the agent has finished its greeting")
    call.add_argument("--script", help="a JSON call script (see `load_script`)")
    call.add_argument("--frame-ms", type=int, choices=(20, 30), default=20)
    call.add_argument("--sample-rate", type=int, default=8000)
    call.add_argument("--record", metavar="DIR", help="save agent.wav, caller.wav, mix.wav")
    call.set_defaults(func=cmd_call)


def load_script(path: Path, sample_rate: int) -> list[Step]:
    """A JSON list of steps: {"say": "a.wav"} (+ "interrupt_after_ms"), {"dtmf": "12#"},
    {"silence": 2.0}, {"wait_agent": 10}, {"hangup": true}. WAV paths are relative to the
    script."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the call script ({exc})") from exc
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: a call script is a JSON list of steps")
    steps: list[Step] = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: step {i} is not an object")
        if "say" in item:
            wav = path.parent / item["say"]
            steps.append(
                Say(
                    read_wav(wav, sample_rate),
                    label=item.get("label", Path(item["say"]).stem),
                    interrupt_after_ms=item.get("interrupt_after_ms"),
                )
            )
        elif "dtmf" in item:
            steps.append(PressKeys(str(item["dtmf"])))
        elif "silence" in item:
            steps.append(Silence(float(item["silence"])))
        elif "wait_agent" in item:
            steps.append(WaitAgent(float(item["wait_agent"])))
        elif item.get("hangup"):
            steps.append(HangUp())
        else:
            raise ConfigError(f"{path}: step {i} has none of say/dtmf/silence/wait_agent/hangup")
    return steps


def cmd_call(args: argparse.Namespace) -> int:
    params = CallerParams(frame_ms=args.frame_ms, sample_rate=args.sample_rate)
    if args.script:
        steps = load_script(Path(args.script), args.sample_rate)
    elif args.wav:
        steps = [Say(read_wav(args.wav, args.sample_rate), label=Path(args.wav).stem)]
    else:
        raise ConfigError("give --wav FILE or --script FILE")

    async def main() -> tuple[Caller, object]:
        caller = Caller(steps, params=params)
        stream = await trio.open_tcp_stream(args.host, args.port)
        return caller, await caller.run(stream)

    caller, report = trio.run(main)
    print(report.format())
    if args.record:
        for path in save_legs(caller, Path(args.record), args.sample_rate):
            print(f"wrote {path}")
    return 0
