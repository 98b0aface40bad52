"""``voice-agent serve``: FastAGI + AudioSocket (+ metrics), in one process or N workers."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import time

import attrs
import trio

from agent.base.config import ServerSettings
from agent.base.errors import ConfigError
from agent.base.settings import BRAINS, Env
from agent.business.database import is_postgres, shown

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the agent (FastAGI + AudioSocket servers)")
    serve.add_argument("--host", help="AudioSocket listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="AudioSocket listen port (default 9099)")
    serve.add_argument("--brain", choices=BRAINS, help="what answers the calls")
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes sharing the AudioSocket port (default VOICE_AGENT_WORKERS or 1)",
    )
    serve.set_defaults(func=cmd_serve)


def server_settings(args: argparse.Namespace) -> ServerSettings:
    settings = ServerSettings.from_env()
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if args.brain:
        overrides["brain"] = args.brain
    settings = attrs.evolve(settings, **overrides)
    if settings.brain not in BRAINS:
        raise ConfigError(f"brain {settings.brain!r}: choose one of {', '.join(BRAINS)}")
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    from agent.observe.console import ConsoleSettings
    from agent.pbx.fastagi import AgiSettings
    from agent.service.preflight import preflight
    from agent.service.serve import ServiceSettings

    env = Env()
    settings = server_settings(args)
    preflight(env, settings.brain)
    service_settings = ServiceSettings.from_env()
    agi = AgiSettings.from_env()
    console_settings = ConsoleSettings.from_env(env)
    console_settings.check()  # a console beyond loopback without a token: one line, no start
    console = None
    if console_settings.enabled:
        from agent.service.console_wiring import run_console

        console = functools.partial(run_console, console_settings)
    workers = args.workers if args.workers is not None else env.get("VOICE_AGENT_WORKERS")
    if not 1 <= workers <= 256:
        raise ConfigError(f"--workers {workers}: expected 1..256")
    if is_postgres(env.get("VOICE_AGENT_DB")):
        if workers > 1:
            raise ConfigError(
                f"--workers {workers} with a PostgreSQL VOICE_AGENT_DB: run one serve per"
                " host (several hosts share the store), each with one worker"
            )
        from agent.service.hosts import HostSettings, run_host_service

        host = HostSettings.from_env(env, settings, agi.max_calls)  # its mistakes first
        close_interrupted()  # this host's own calls (by name) left open by its last run
        return run_host_service(settings, service_settings, agi, env, host)
    close_interrupted()
    if workers > 1:
        from agent.service.wiring import check_providers
        from agent.service.workers import run_supervisor

        if settings.brain == "conversation":
            check_providers(env)  # the workers build them: a bad key stops the parent here
        return run_supervisor(settings, service_settings, agi, workers, console)

    from agent.observe.metrics import metrics_address
    from agent.service.serve import Service

    service = Service(
        settings,
        service_settings,
        agi=agi,
        metrics_address=metrics_address(),
        observe=True,
        console=console,
    )
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(service.run)
    return 0


def close_interrupted() -> None:
    """Before any call: this host's calls left without an outcome by a killed run
    are closed as ``interrupted`` (``report`` would show them unfinished forever)."""
    from agent.observe.records import RecordSettings, RecordStoreError
    from agent.observe.records_start import close_interrupted_calls

    settings = RecordSettings.from_env()
    try:
        close_interrupted_calls(settings, time.time())
    except RecordStoreError as exc:
        where = f" in {shown(settings.url)}" if settings.url else ""
        raise ConfigError(f"call records{where}: {exc}".replace("\n", " ")) from None
