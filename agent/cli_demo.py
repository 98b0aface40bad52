"""``voice-agent demo``: a whole call on this machine, no keys, no network."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="a whole call on this machine, no keys, no network")
    demo.add_argument("--out", default="demo-output", help="where the WAVs go")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from agent.demo import run_echo_demo

    return run_echo_demo(Path(args.out))
