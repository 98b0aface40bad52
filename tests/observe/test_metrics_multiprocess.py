"""Several worker processes, one scrape: with PROMETHEUS_MULTIPROC_DIR set, each
worker's metrics go to files there and the exporter serves their aggregate."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from agent.observe.metrics import Metrics, serve_metrics
from tests.observe.test_metrics import http, samples, value
from tests.paths import REPO

ROOT = REPO

WORKER = textwrap.dedent(
    """
    import sys, trio
    from agent.observe.metrics import Metrics
    from agent.observe.process import ObservabilitySettings, run_observability
    from agent.observe.records import RecordSettings, TurnRecord

    metrics = Metrics()
    metrics.observe_turn(TurnRecord("c", 1, caller_speech_end_at=1.0, first_agent_frame_at=1.4))
    metrics.calls.labels(outcome="booked", company="acme").inc()
    metrics.cost.labels(provider="groq").inc(0.25)
    metrics.active_calls.inc()
    if sys.argv[1] == "exits":
        # A worker that stops: leaving run_observability marks its live gauges dead.
        settings = ObservabilitySettings(records=RecordSettings(path=sys.argv[2]), metrics_port=0)

        async def main():
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    lambda task_status: run_observability(
                        settings=settings, metrics=metrics, task_status=task_status
                    )
                )
                nursery.cancel_scope.cancel()

        trio.run(main)
    """
)


def run_worker(kind: str, env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WORKER, kind, str(tmp_path / f"{kind}.db")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


async def test_the_exporter_serves_the_sum_of_the_workers(tmp_path, monkeypatch):
    pytest.importorskip("prometheus_client.multiprocess")
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    run_worker("stays", env, tmp_path)  # its process is gone, but not marked dead
    run_worker("exits", env, tmp_path)
    assert any(multiproc.iterdir())

    here = Metrics()  # this process's own registry is not what is served now
    here.calls.labels(outcome="booked", company="acme").inc(100)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(serve_metrics, here, "127.0.0.1", 0)
            port = listeners[0].socket.getsockname()[1]
            status, _, body = await http(port, b"GET /metrics HTTP/1.1\r\n\r\n")
            nursery.cancel_scope.cancel()
    assert status.endswith("200 OK")
    found = samples(body.decode())
    assert value(found, "voice_agent_calls_total", outcome="booked", company="acme") == 2
    assert value(found, "voice_agent_mouth_to_ear_seconds_count") == 2
    assert value(found, "voice_agent_mouth_to_ear_seconds_sum") == pytest.approx(0.8)
    assert value(found, "voice_agent_mouth_to_ear_seconds_bucket", le="0.5") == 2
    assert value(found, "voice_agent_cost_total", provider="groq") == pytest.approx(0.5)
    assert value(found, "voice_agent_active_calls") == 1  # only the worker not marked dead counts

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    alone = samples(here.render().decode())
    assert value(alone, "voice_agent_calls_total", outcome="booked", company="acme") == 100
