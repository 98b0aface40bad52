"""The shipped Grafana dashboard and Prometheus alerts: their shape, and every series
they query is one the agent exports (a renamed metric breaks this test, not a dashboard)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.observe.metrics import Metrics
from agent.observe.records_schema import TurnRecord
from tests.paths import REPO

DASHBOARD = REPO / "asterisk" / "grafana" / "voice-agent.json"
ALERTS = REPO / "asterisk" / "prometheus" / "alerts.yml"
SERIES = re.compile(r"\bvoice_agent_[a-z0-9_]+")


def exported(tmp_path) -> set[str]:
    """Every sample name a scrape of a busy agent shows."""
    metrics = Metrics()
    metrics.watch_outbox(tmp_path / "none.db")
    metrics.observe_turn(
        TurnRecord("c", 1, interrupted=True, caller_speech_end_at=1.0, stt_final_at=1.1,
                   llm_request_at=1.1, llm_first_token_at=1.3, tts_request_at=1.3,
                   tts_first_audio_at=1.4, first_agent_frame_at=1.5, barge_in_at=2.0,
                   last_agent_frame_at=2.1)
    )  # fmt: skip
    metrics.calls.labels(outcome="booked", company="acme").inc()
    metrics.provider_errors.labels(provider="groq", kind="timeout").inc()
    metrics.cost.labels(provider="groq").inc(0.1)
    names = set()
    for family in text_string_to_metric_families(metrics.render().decode()):
        names |= {sample.name for sample in family.samples}
    return names


def test_the_dashboard_has_the_panels_an_admin_needs(tmp_path):
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["title"] == "voice-agent" and board["schemaVersion"] >= 36
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    titles = " ".join(p["title"].lower() for p in panels)
    for needed in ("in progress", "outcomes", "latency", "barge-ins", "provider errors", "cost"):
        assert needed in titles, needed
    for panel in panels:
        assert panel["type"] in ("stat", "timeseries") and panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
    used = set(SERIES.findall(DASHBOARD.read_text()))
    assert used and used <= exported(tmp_path), used - exported(tmp_path)


def test_the_alerts_cover_down_errors_latency_and_the_outbox(tmp_path):
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert {"VoiceAgentDown", "VoiceAgentProviderErrors", "VoiceAgentLatencyP95OverBudget",
            "VoiceAgentOutboxBacklog"} <= names  # fmt: skip
    for rule in rules:
        assert rule["expr"] and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
    used = set(SERIES.findall(ALERTS.read_text()))
    assert used and used <= exported(tmp_path), used - exported(tmp_path)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules():
    result = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout
