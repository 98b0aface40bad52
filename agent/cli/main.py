"""The ``voice-agent`` command. Each subcommand lives in its own ``agent.cli.<name>`` module
with a ``register(subparsers)`` function; this module only dispatches."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from agent.base.errors import ConfigError

COMMANDS = (
    "agent.cli.serve",
    "agent.cli.call",
    "agent.cli.demo",
    "agent.cli.report",
    "agent.cli.purge",
    "agent.cli.check",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voice-agent", description="A real-time AI voice agent for Asterisk AudioSocket."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from agent.base.logs import configure_logging, log_format

    try:
        # JSON lines for the service (journal, file, pipe), text on a terminal; a call's
        # lines carry its UUID; names, numbers and postcodes heard are redacted.
        configure_logging(log_format(), level=logging.DEBUG if args.verbose else logging.INFO)
        return args.func(args)
    except ConfigError as exc:
        return refuse(exc)
    except BaseExceptionGroup as group:  # from inside trio.run (a port in use...)
        matched, _ = group.split(ConfigError)
        if matched is None:
            raise
        first: BaseException = matched
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        return refuse(first)


def refuse(exc: BaseException) -> int:
    """A configuration error: one line on stderr, exit code 2 (never a traceback)."""
    print(f"voice-agent: {' '.join(str(exc).splitlines())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
