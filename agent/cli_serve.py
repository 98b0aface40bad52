"""``voice-agent serve``: the AudioSocket server."""

from __future__ import annotations

import argparse
import contextlib
import logging

import attrs
import trio

from agent.config import ServerSettings
from agent.errors import ConfigError

BRAINS = ("echo", "conversation")


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the AudioSocket server")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 9099)")
    serve.add_argument("--brain", choices=BRAINS, help="what answers the calls")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from agent.server import serve_audiosocket

    settings = ServerSettings.from_env()
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if args.brain:
        overrides["brain"] = args.brain
    settings = attrs.evolve(settings, **overrides)
    if settings.brain not in BRAINS:
        raise ConfigError(f"brain {settings.brain!r}: choose one of {', '.join(BRAINS)}")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            if settings.brain == "echo":
                from agent.echo import EchoBrain

                factory = EchoBrain
            else:
                from agent.app import build_conversation

                conversation = build_conversation()
                logging.getLogger("agent").info(
                    "conversation: stt=%s llm=%s tts=%s", *conversation.names
                )
                await nursery.start(conversation.run_services)
                factory = conversation.factory
            await serve_audiosocket(settings, factory)

    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main)
    return 0
