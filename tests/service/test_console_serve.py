"""The console inside ``voice-agent serve``: served beside the calls, refused beyond
loopback without a token, a console port in use named like the others."""

from __future__ import annotations

import functools
import socket
import uuid

import httpx
import pytest
import trio

from agent.base.config import ServerSettings
from agent.demo.softphone import Silence
from agent.observe.console import ConsoleSettings
from agent.service.console_wiring import health_report, provider_chain, run_console
from agent.service.serve import Service, ServiceSettings
from tests.serve_process import call
from tests.service.test_start_up_errors import refused, run_serve

pytestmark = pytest.mark.realtime

TOKEN = "console-token-for-tests"


def test_beyond_loopback_without_a_token_refuses_to_start(tmp_path):
    env = {"VOICE_AGENT_CONSOLE_PORT": "8088", "VOICE_AGENT_CONSOLE_HOST": "0.0.0.0"}
    assert refused(run_serve(tmp_path, env)) == (
        "VOICE_AGENT_CONSOLE_HOST=0.0.0.0: the console listens beyond loopback only with"
        " VOICE_AGENT_CONSOLE_TOKEN set"
    )
    workers = run_serve(tmp_path, env, "--workers", "2", "--brain", "echo")
    assert refused(workers).startswith("VOICE_AGENT_CONSOLE_HOST=0.0.0.0: the console")


def test_a_console_port_in_use_names_the_variable(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = refused(run_serve(tmp_path, {"VOICE_AGENT_CONSOLE_PORT": str(port)}))
    assert line.startswith(f"VOICE_AGENT_CONSOLE_PORT={port}: console cannot listen on")


async def test_serve_runs_the_console_over_its_records(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICE_AGENT_DB", str(tmp_path / "agent.db"))
    monkeypatch.setenv("VOICE_AGENT_METRICS_PORT", "0")
    settings = ConsoleSettings(
        port=0, enabled=True, token=TOKEN, db_path=str(tmp_path / "agent.db")
    )
    service = Service(
        ServerSettings(port=0, brain="echo"),
        ServiceSettings(drain_s=0.1, goodbye_s=0.5, require_setup=False),
        handle_signals=False,
        observe=True,
        console=functools.partial(run_console, settings),
    )
    async with trio.open_nursery() as nursery:
        addresses = await nursery.start(service.run)
        (_, audio_port), (url,) = addresses.audiosocket[0], addresses.console
        assert url.startswith("http://127.0.0.1:")
        call_uuid = uuid.uuid4()
        await call(audio_port, [Silence(0.3)], call_uuid, linger_s=0)
        await service.observability.flush()
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/calls")).status_code == 401
            page = await http.get("/calls", headers={"Authorization": f"Bearer {TOKEN}"})
            assert page.status_code == 200 and f"/calls/{call_uuid}" in page.text
        service.shutdown("test")
    assert service.drain_result == "idle"


def test_health_lists_check_items_and_the_provider_chain(tmp_path):
    env = {"VOICE_AGENT_OFFLINE": "1", "VOICE_AGENT_DB": str(tmp_path / "a.db")}
    report = health_report(env)
    assert report.items and {i.status for i in report.items} <= {"OK", "WARN", "FAIL"}
    assert dict(report.providers)["stt"] == "whisper"
    chain = dict(provider_chain({"LLM_PROVIDER": "groq", "LLM_FALLBACKS": "cerebras"}))
    assert chain["llm"] == "groq -> cerebras"


async def test_workers_parent_serves_one_console(tmp_path):
    from tests.serve_process import free_port, serve_process

    port = free_port()
    env = {
        "VOICE_AGENT_CONSOLE_PORT": str(port),
        "VOICE_AGENT_CONSOLE_TOKEN": TOKEN,
        "VOICE_AGENT_AGI_PORT": "0",
        "VOICE_AGENT_PORT": "0",
    }
    async with serve_process(["serve", "--brain", "echo", "--workers", "2"], env) as served:
        await served.wait_for(r"Running on http://127\.0\.0\.1:\d+", timeout=30)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/live.json")).status_code == 401
            live = await http.get("/live.json", headers={"Authorization": f"Bearer {TOKEN}"})
            assert live.status_code == 200 and live.json() == []
        served.signal()
        assert await served.wait(timeout=30) == 0
