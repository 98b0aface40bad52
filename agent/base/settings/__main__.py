"""``python -m agent.base.settings --env-example | --markdown``: the generated files."""

from __future__ import annotations

import argparse
import sys

from agent.base.settings.render import env_example, markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agent.base.settings",
        description="Print a file generated from the settings schema.",
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--env-example", action="store_true", help="the .env.example file")
    group.add_argument("--markdown", action="store_true", help="docs/configuration.md")
    args = parser.parse_args(argv)
    sys.stdout.write(env_example() if args.env_example else markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
