"""``voice-agent serve`` with a bad configuration, as a real process: exit code 2 and
one line naming the variable (or the file, or the port) and the bad value, never a
traceback. The cases of issue 15 (item 6), each of which used to print a traceback,
name an attrs field, or start anyway."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from agent.base.settings import SCHEMA

pytestmark = pytest.mark.realtime


def run_serve(tmp_path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not SCHEMA.declares(k)}
    base.update(
        {
            "VOICE_AGENT_PORT": "0",
            "VOICE_AGENT_AGI_PORT": "0",
            "VOICE_AGENT_METRICS_PORT": "0",
            "VOICE_AGENT_LOG_FORMAT": "text",
            "VOICE_AGENT_DB": str(tmp_path / "agent.sqlite3"),
        }
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "-m", "agent", "serve", *(args or ("--brain", "echo"))],
        env=base,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,  # a configuration that is wrongly accepted serves forever: fails here
        stdin=subprocess.DEVNULL,
    )


def refused(result: subprocess.CompletedProcess) -> str:
    """The one error line; asserts exit 2 and no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("voice-agent: ")]
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("voice-agent: ")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"VOICE_AGENT_LOG_FORMAT": "xml"},
         "VOICE_AGENT_LOG_FORMAT='xml': expected one of auto, json, text"),
        ({"VOICE_AGENT_RECORDING": "2"},
         "VOICE_AGENT_RECORDING='2': expected true or false (1/0, yes/no, on/off)"),
        ({"VOICE_AGENT_SAMPLE_RATE": "16001"}, "VOICE_AGENT_SAMPLE_RATE='16001': expected one of"),
        ({"VOICE_AGENT_FALLBACK_ACTION": "foo"},
         "VOICE_AGENT_FALLBACK_ACTION='foo': expected one of transfer, voicemail, hangup"),
        ({"VOICE_AGENT_UUID_TIMEOUT_S": "inf"},
         "VOICE_AGENT_UUID_TIMEOUT_S='inf': expected a finite number"),
        ({"VOICE_AGENT_MAX_CALL_S": "1e400"}, "VOICE_AGENT_MAX_CALL_S='1e400': expected a finite"),
        ({"VOICE_AGENT_PORT": "65536"}, "VOICE_AGENT_PORT='65536': a TCP port is 0..65535"),
        ({"LLM_TIMEOUT": "soon"}, "LLM_TIMEOUT='soon': expected a number"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else None,
)  # fmt: skip
def test_a_bad_value_is_one_line_naming_the_variable(tmp_path, env, expected):
    result = run_serve(tmp_path, env)
    assert refused(result).startswith(expected)
    # Nothing else on stderr, but the deprecation warning of an old name.
    others = [line for line in result.stderr.splitlines() if "voice-agent: " not in line]
    assert others == ([] if "LLM_TIMEOUT" not in env else [others[0]]), result.stderr
    assert all("is deprecated: rename it LLM_TIMEOUT_S" in line for line in others)


def test_the_database_names_the_variable_and_the_path(tmp_path):
    missing = tmp_path / "missing" / "agent.sqlite3"
    line = refused(run_serve(tmp_path, {"VOICE_AGENT_DB": str(missing)}))
    assert (
        line
        == f"VOICE_AGENT_DB={str(missing)!r}: the folder {str(missing.parent)!r} does not exist"
    )
    line = refused(run_serve(tmp_path, {"VOICE_AGENT_DB": str(tmp_path)}))
    assert line == f"VOICE_AGENT_DB={str(tmp_path)!r}: is a directory, not a database file"
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    line = refused(run_serve(tmp_path, {"VOICE_AGENT_DB": str(text)}))
    assert line == f"VOICE_AGENT_DB={str(text)!r}: is not an SQLite database"
    # The conversation's bookings database too (records elsewhere).
    env = {"VOICE_AGENT_DB": str(text), "VOICE_AGENT_RECORDS_PATH": str(tmp_path / "r.db"),
           "VOICE_AGENT_OFFLINE": "1"}  # fmt: skip
    line = refused(run_serve(tmp_path, env, "--brain", "conversation"))
    assert line == f"VOICE_AGENT_DB={str(text)!r}: is not an SQLite database"


def test_a_shared_postgresql_store_names_its_problems(tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"postgresql://agent:secret@127.0.0.1:{port}/voiceagent"
    line = refused(run_serve(tmp_path, {"VOICE_AGENT_DB": url, "VOICE_AGENT_HOST": "0.0.0.0"}))
    assert line.startswith("VOICE_AGENT_ADVERTISE_ADDR is not set: with a shared PostgreSQL")
    shared = {"VOICE_AGENT_DB": url, "VOICE_AGENT_ADVERTISE_ADDR": "10.0.0.5:9099"}
    line = refused(run_serve(tmp_path, shared))
    assert line.startswith(f"call records in postgresql://agent@127.0.0.1:{port}/voiceagent:")
    assert "Connection refused" in line and "secret" not in line
    env = {**shared, "VOICE_AGENT_HEARTBEAT_S": "5"}
    line = refused(run_serve(tmp_path, env))
    assert line.startswith("VOICE_AGENT_HOST_DEAD_AFTER_S=10 must be more than twice")


@pytest.mark.parametrize(
    ("variable", "label"),
    [("VOICE_AGENT_PORT", "AudioSocket"), ("VOICE_AGENT_AGI_PORT", "FastAGI"),
     ("VOICE_AGENT_METRICS_PORT", "metrics")],
)  # fmt: skip
def test_a_port_in_use_names_the_port_and_the_variable(tmp_path, variable, label):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = refused(run_serve(tmp_path, {variable: str(port)}))
    assert line == (
        f"{variable}={port}: {label} cannot listen on 127.0.0.1:{port}:"
        " the address is in use (is voice-agent already running?)"
    )


def test_workers_name_a_port_in_use_too(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve(tmp_path, {"VOICE_AGENT_PORT": str(port)}, "--workers", "2",
                           "--brain", "echo")  # fmt: skip
    assert refused(result).startswith(f"VOICE_AGENT_PORT={port}: AudioSocket cannot listen")


def test_a_companies_file_nested_100000_deep_is_one_line_naming_the_file(tmp_path):
    deep = tmp_path / "companies.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    env = {"VOICE_AGENT_COMPANIES": str(deep), "VOICE_AGENT_OFFLINE": "1"}
    line = refused(run_serve(tmp_path, env, "--brain", "conversation"))
    assert line == f"companies file {str(deep)!r}: invalid JSON: nested too deeply"


def test_a_missing_key_stops_serve_unless_the_offline_stack_is_chosen(tmp_path):
    """The receptionist is the default brain; no key is no longer a quiet Whisper."""
    line = refused(run_serve(tmp_path, {}, "--port", "0"))
    assert line.startswith("DEEPGRAM_API_KEY is not set: needed for the Deepgram STT")
    assert "VOICE_AGENT_OFFLINE=1" in line
