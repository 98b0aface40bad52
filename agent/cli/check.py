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
    check.add_argument(
        "--live",
        action="store_true",
        help="instead: one real round trip (a recorded caller through the STT, a question"
        " that needs a tool through the LLM, a sentence through the TTS) with each"
        " stage's latency; the first thing to run after adding keys",
    )
    check.add_argument(
        "--env-file",
        metavar="PATH",
        help="take the settings from this file, read the way systemd's EnvironmentFile= reads"
        " it (no shell), instead of from the environment",
    )
    check.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from agent.base.settings import Env, read_env_file
    from agent.service.check import report, run_checks

    env, env_file = None, None
    if args.env_file:
        parsed = read_env_file(args.env_file)
        env, env_file = parsed.values, (args.env_file, parsed.ignored)
    if args.live:
        from agent.service.live import live_report, run_live

        stages = trio.run(lambda: run_live(env, timeout_s=args.timeout))
        print(live_report(stages, Env(env).get("VOICE_AGENT_SAMPLE_RATE")))
        return 0 if all(s.ok for s in stages) else 1
    results = trio.run(lambda: run_checks(env, timeout_s=args.timeout, env_file=env_file))
    print(report(results))
    return 0 if all(r.ok for r in results) else 1
