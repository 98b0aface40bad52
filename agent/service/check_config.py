"""``voice-agent check``, part 1: the configuration. One OK/WARN/FAIL line per item.

Every declared variable parses (one FAIL line per bad one, naming it); unknown
and renamed variables are WARN lines; then each part of the service builds its
settings (AudioSocket, FastAGI, service, metrics, records) and the companies
file loads. The bundled example companies file, and its booking key, are WARN
lines: fine for a first try, not for production.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs

from agent.base.config import ServerSettings
from agent.base.errors import ConfigError
from agent.base.settings import SCHEMA, Env
from agent.business.company import load_companies
from agent.business.database import is_postgres, shown
from agent.observe.metrics import metrics_address
from agent.observe.records import RecordSettings
from agent.pbx.fastagi import AgiSettings
from agent.service.serve import ServiceSettings
from agent.service.wiring import DEFAULT_COMPANIES

OK, WARN, FAIL = "OK  ", "WARN", "FAIL"


@attrs.frozen
class Result:
    section: str  # config, keys, provider, port, path
    name: str
    ok: bool
    detail: str
    warning: bool = False  # passes, but not what production should run

    @property
    def status(self) -> str:
        return FAIL if not self.ok else WARN if self.warning else OK

    def line(self) -> str:
        return f"{self.status} {self.section:<8} {self.name}: {self.detail}"


@attrs.define
class Plan:
    """What the configuration says, for the checks after it."""

    ports: list[tuple[str, str, int]] = attrs.Factory(list)  # (what, host, port)
    paths: list[tuple[str, Path]] = attrs.Factory(list)
    probes: list[tuple[str, Callable]] = attrs.Factory(list)
    bad: set[str] = attrs.Factory(set)  # variables already reported as invalid


@attrs.frozen
class Warned:
    """What a step returns when it passed, with a warning."""

    detail: str


def attempt(
    results: list[Result], section: str, name: str, step: Callable[[], str | Warned], plan: Plan
) -> bool:
    try:
        found = step()
        warned = isinstance(found, Warned)
        results.append(Result(section, name, True, found.detail if warned else found, warned))
        return True
    except (ConfigError, ValueError, OSError, ImportError) as exc:
        text = str(exc)
        if text.partition("=")[0] not in plan.bad:  # else its own line said it already
            results.append(Result(section, name, False, text))
        return False


def settings(
    reader: Env, results: list[Result], plan: Plan, env_file: tuple[str, Sequence[str]] | None
) -> None:
    """Every variable on its own: parses, is known, has its current name."""
    if env_file is not None:
        path, ignored = env_file
        results.extend(
            Result("config", "env file", True, f"{path}: {why} (systemd ignores it)", True)
            for why in ignored
        )
    problems = reader.problems()
    for problem in problems:
        variable = str(problem).partition("=")[0]
        plan.bad.add(variable)
        results.append(Result("config", variable, False, str(problem)))
    results.extend(Result("config", "unknown", True, text, True) for text in reader.unknown())
    for old, new in reader.deprecated():
        detail = f"renamed {new}: the old name works for now"
        results.append(Result("config", old, True, detail, True))
    if not problems:
        count = sum(reader.is_set(s.name) for s in SCHEMA)
        results.append(Result("config", "settings", True, f"{count} variables set, all valid"))


def configuration(
    env: Mapping[str, str],
    results: list[Result],
    plan: Plan,
    env_file: tuple[str, Sequence[str]] | None = None,
) -> None:

    reader = Env(env)
    settings(reader, results, plan, env_file)
    keys: list[Result] = []

    def server() -> str | Warned:
        s = ServerSettings.from_env(reader)
        plan.ports.append(("AudioSocket", s.host, s.port))
        if s.brain == "echo":
            return Warned(f"{s.host}:{s.port}, brain echo: a line test, not the receptionist")
        return f"{s.host}:{s.port}, {s.sample_rate} Hz, brain {s.brain}"

    def agi() -> str:
        s = AgiSettings.from_env(reader)
        plan.ports.append(("FastAGI", s.host, s.port))
        limit = f"call limit {s.max_calls}" if s.max_calls else "no call limit"
        return f"{s.host}:{s.port}, {limit}, fallback action {s.fallback_action}"

    def service() -> str:
        s = ServiceSettings.from_env(reader)
        workers = reader.get("VOICE_AGENT_WORKERS")
        setup = "required" if s.require_setup else "optional"
        return (
            f"drain {s.drain_s:.0f} s + goodbye {s.goodbye_s:.0f} s (keep TimeoutStopSec above"
            f" {s.drain_s + s.goodbye_s + 20:.0f} s), {workers} worker(s), AGI setup {setup}"
        )

    def metrics() -> str:
        host, port = metrics_address(reader)
        if not port:
            return "exporter off (VOICE_AGENT_METRICS_PORT=0)"
        plan.ports.append(("metrics", host, port))
        return f"http://{host}:{port}/metrics"

    def records() -> str:
        s = RecordSettings.from_env(reader)
        if not is_postgres(reader.get("VOICE_AGENT_DB")):
            plan.paths.append(("bookings database", Path(reader.get("VOICE_AGENT_DB"))))
        if s.url:
            return "PostgreSQL (VOICE_AGENT_DB or _RECORDS_URL; reachability not checked here)"
        plan.paths.append(("records", Path(s.path)))
        return f"SQLite {s.path}, kept {s.retention_days:g} days"

    def store() -> str:
        target = reader.get("VOICE_AGENT_DB")
        if not is_postgres(target):
            return f"SQLite {target} (this host's own)"
        from agent.service.hosts import HostSettings

        server, capacity = ServerSettings.from_env(reader), reader.get("VOICE_AGENT_MAX_CALLS")
        host = HostSettings.from_env(reader, server, capacity)
        return (
            f"PostgreSQL {shown(target)}, shared: host {host.name} takes calls at"
            f" {host.address} (reachability not checked here)"
        )

    def companies() -> str | Warned:
        example = not reader.is_set("VOICE_AGENT_COMPANIES")
        path = str(DEFAULT_COMPANIES) if example else reader.get("VOICE_AGENT_COMPANIES")
        directory = load_companies(path)
        if directory.default_id is None or directory.get(directory.default_id) is None:
            raise ConfigError(f"{path}: no default company (callers of unknown numbers)")
        for company in directory.companies:
            api = company.booking_api
            if api is not None and api.key_env:
                keys.append(_booking_key(reader, company.id, api.key_env, example))
        ids = ", ".join(c.id for c in directory.companies)
        found = f"{len(directory.companies)} companies ({ids}), default {directory.default_id}"
        if example:
            return Warned(f"the bundled example ({found}): set VOICE_AGENT_COMPANIES")
        # Callbacks, corrections and cancellations reach the office only by notify.url.
        silent = [c.id for c in directory.companies if c.notify_url is None]
        if silent:
            return Warned(
                f"{path}: {found}; no notify.url for {', '.join(silent)}: callbacks and"
                " corrections callers ask for are only in the call records"
            )
        return f"{path}: {found}"

    for name, step in (
        ("AudioSocket", server),
        ("FastAGI", agi),
        ("service", service),
        ("metrics", metrics),
        ("store", store),
        ("records", records),
        ("companies", companies),
    ):
        attempt(results, "config", name, step, plan)
    results.extend(keys)


def _booking_key(reader: Env, company: str, key_env: str, example: bool) -> Result:
    name = f"booking API {company}"
    try:
        key = reader.named("booking API key", key_env)
    except ConfigError as exc:
        return Result("keys", name, False, str(exc))
    if key:
        return Result("keys", name, True, f"{key_env} set")
    if example:
        return Result("keys", name, True, f"{key_env} is not set (the example company's)", True)
    return Result("keys", name, False, f"{key_env} is not set")
