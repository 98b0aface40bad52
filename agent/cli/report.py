"""``voice-agent report``: latency percentiles per stage, barge-ins, outcomes and cost."""

from __future__ import annotations

import argparse
import os
import time

from agent.base.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser(
        "report", help="latency per stage, barge-ins, outcomes and cost from the call records"
    )
    report.add_argument(
        "--since", default="7d", help="start of the period: 7d, 24h, 30m or 2025-05-13 (7d)"
    )
    report.add_argument("--until", help="end of the period (default: now)")
    report.add_argument(
        "--plot", metavar="PNG", help="draw the latency distribution per stage (needs matplotlib)"
    )
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from agent.observe.records import RecordSettings, open_record_store
    from agent.observe.report import build_report, format_report, parse_when, plot_report

    now = time.time()
    since = parse_when(args.since, now)
    until = parse_when(args.until, now) if args.until else None
    settings = RecordSettings.from_env()
    if not settings.url and not os.path.exists(settings.path):
        raise ConfigError(
            f"no records at {settings.path} (set VOICE_AGENT_RECORDS_PATH or _RECORDS_URL)"
        )
    with open_record_store(settings) as store:
        calls = store.calls(since=since, until=until, limit=None)
        turns = store.turns_between(since, until)
    report = build_report(calls, turns, since=since, until=until)
    print(format_report(report))
    if args.plot:
        plot_report(report, args.plot)
        print(f"\nwrote {args.plot}")
    return 0
