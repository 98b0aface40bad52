"""The console inside ``voice-agent serve``: its records store and its health report.

The console itself (``agent.observe.console``) reads records; what only the service
knows, the ``check`` items and the provider chain, is handed to it from here. With
``--workers`` the parent serves it (one console for every worker: they share the
records store), with a store of its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import trio

from agent.base.settings import Env
from agent.observe.console import Console, ConsoleSettings, HealthItem, HealthReport
from agent.observe.console import serve_console as _serve
from agent.observe.records import RecordSettings, RecordStore, open_record_store
from agent.service.listen import naming_the_port

CONSOLE = ("console", "VOICE_AGENT_CONSOLE_HOST", "VOICE_AGENT_CONSOLE_PORT")
_HEALTH_TTL_S = 30.0  # the checks read files and settings: not on every page view


def provider_chain(env: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """(role, "primary -> fallback ...") of the providers this configuration uses."""
    from agent.providers.registry import chosen, tts_fallbacks

    reader = Env.of(env)
    stt, llm, tts = chosen(env)
    llms = [llm, *(reader.get("LLM_FALLBACKS") or ())] if llm != "offline" else [llm]
    try:
        voices = [tts, *tts_fallbacks(env, tts)]
    except Exception as exc:  # a broken fallback list is a check item too
        voices = [tts, f"(fallback unusable: {exc})"]
    return (("stt", stt), ("llm", " -> ".join(llms)), ("tts", " -> ".join(voices)))


def health_report(env: Mapping[str, str] | None) -> HealthReport:
    """The configuration, keys and paths items of ``voice-agent check`` (no network)."""
    from agent.service.check import paths, providers
    from agent.service.check_config import Plan, configuration

    snapshot = Env(env).snapshot()
    results: list = []
    plan = Plan()
    configuration(snapshot, results, plan, None)
    providers(snapshot, results, plan)
    paths(plan, results)
    items = tuple(HealthItem(r.status.strip(), r.section, r.name, r.detail) for r in results)
    return HealthReport(items, provider_chain(snapshot))


def cached_health(env: Mapping[str, str] | None):
    cache: list[tuple[float, HealthReport]] = []

    async def health() -> HealthReport:
        if not cache or time.monotonic() - cache[0][0] > _HEALTH_TTL_S:
            report = await trio.to_thread.run_sync(health_report, env)
            cache[:] = [(time.monotonic(), report)]
        return cache[0][1]

    return health


async def run_console(
    settings: ConsoleSettings,
    *,
    store: RecordStore | None = None,
    env: Mapping[str, str] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the console until cancelled, on ``store`` or on one opened from ``env``."""
    settings.check()
    own = store is None
    if store is None:
        store = await trio.to_thread.run_sync(open_record_store, RecordSettings.from_env(env))
    try:
        console = Console(settings, store, health=cached_health(env))
        async with trio.open_nursery() as nursery:
            with naming_the_port(CONSOLE, settings.host, settings.port):
                binds = await nursery.start(_serve, console)
            task_status.started(binds)
    finally:
        if own:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(store.close)
