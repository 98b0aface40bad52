"""``voice-agent demo``: a whole call on this machine, no keys, no network."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from agent.demo.scenarios import SCENARIOS

    demo = sub.add_parser(
        "demo",
        help="a whole booking call on this machine, no keys, no network",
        description="Runs the agent with the offline stack and calls it with a scripted "
        "caller. Scenarios: " + "; ".join(f"{name}: {s.summary}" for name, s in SCENARIOS.items()),
    )
    demo.add_argument("--scenario", default="booking", choices=list(SCENARIOS))
    demo.add_argument(
        "--barge-in",
        action="store_true",
        help="the caller interrupts the quote (--scenario barge-in)",
    )
    demo.add_argument("--out", default="demo-output", help="where the WAVs go")
    demo.add_argument(
        "--echo", action="store_true", help="the echo agent instead (no offline extra needed)"
    )
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.echo:
        from agent.demo.echo import run_echo_demo

        return run_echo_demo(Path(args.out))
    from agent.demo.offline import run

    name = "barge-in" if args.barge_in else args.scenario
    return run(name, Path(args.out))
