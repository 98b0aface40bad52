"""``voice-agent check``: is this machine ready to take calls? (exit 0 only if so)"""

from __future__ import annotations

import argparse

import trio


def register(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser(
        "check",
        help="check configuration, keys, providers, ports and paths before going live",
    )
    check.add_argument(
        "--timeout", type=float, default=15.0, help="seconds each provider gets to answer"
    )
    check.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from agent.service.check import report, run_checks

    results = trio.run(lambda: run_checks(timeout_s=args.timeout))
    print(report(results))
    return 0 if all(r.ok for r in results) else 1
