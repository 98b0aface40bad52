"""``voice-agent report``: percentiles per stage, barge-ins, outcomes and cost from the
records of a period, a table on stdout and a PNG of the distributions."""

from __future__ import annotations

import datetime
import math

import pytest

from agent.base.errors import ConfigError
from agent.cli.main import main as cli_main
from agent.observe.records import CallRecord, TurnRecord
from agent.observe.report import build_report, format_report, parse_when
from tests.observe.rig import observability
from tests.observe.test_process import barge_in_call


def turn(index: int, mouth_to_ear: float, **times) -> TurnRecord:
    return TurnRecord(
        "c",
        index,
        caller_text="hi",
        agent_text="hello",
        caller_speech_end_at=10.0,
        stt_final_at=10.1,
        llm_request_at=10.1,
        llm_first_token_at=10.2,
        tts_request_at=10.2,
        tts_first_audio_at=10.25,
        first_agent_frame_at=10.0 + mouth_to_ear,
        **times,
    )


def test_percentiles_outcomes_cost_and_barge_ins():
    # Mouth-to-ear 0.30, 0.31 ... 1.29 s: nearest-rank p50 0.79, p95 1.24, p99 1.28.
    turns = [turn(i, 0.30 + i / 100) for i in range(100)]
    turns.append(
        TurnRecord(
            "c", 100, agent_text="cut", interrupted=True, barge_in_at=5.0, last_agent_frame_at=5.12
        )
    )
    turns.append(TurnRecord("c", 101, agent_text="", interrupted=True))  # cut before audio
    calls = [
        CallRecord(
            "a",
            started_at=0.0,
            ended_at=120.0,
            outcome="booked",
            cost=0.3,
            currency="USD",
            barge_ins=2,
            false_interruptions=1,
        ),
        CallRecord(
            "b",
            started_at=10.0,
            ended_at=70.0,
            outcome="booked",
            cost=0.1,
            currency="USD",
            barge_ins=1,
        ),
        CallRecord("c", started_at=20.0, outcome=None),  # still running (or crashed)
    ]
    report = build_report(calls, turns, since=0.0, until=100.0)
    stages = {s.stage: s for s in report.stages}
    m2e = stages["mouth_to_ear"]
    assert m2e.count == 100
    assert (m2e.p50, m2e.p95, m2e.p99) == pytest.approx((0.79, 1.24, 1.28))
    assert stages["stt_final"].p50 == pytest.approx(0.1)
    assert stages["llm_first_token"].count == 100
    assert stages["tts_first_audio"].p99 == pytest.approx(0.05)
    assert stages["agent_added"].p50 == pytest.approx(0.79 - 0.25)
    assert stages["barge_in_reaction"].count == 1
    assert stages["barge_in_reaction"].p50 == pytest.approx(0.12)
    assert report.outcomes == (("booked", 2), ("unfinished", 1))
    assert report.minutes == pytest.approx(3.0)
    assert report.cost == pytest.approx(0.4) and report.currency == "USD"
    assert report.cost_per_minute == pytest.approx(0.4 / 3)
    assert (report.barge_ins, report.false_interruptions) == (3, 1)
    assert (report.agent_turns, report.interrupted_turns) == (101, 2)
    text = format_report(report)
    assert "3 calls, 3.0 min" in text
    assert "outcomes: booked 2, unfinished 1" in text
    assert "cost: 0.4000 USD (0.1333 per minute)" in text
    row = next(line for line in text.splitlines() if line.startswith("mouth-to-ear"))
    assert row.split()[1:] == ["100", "790", "1240", "1280"]
    row = next(line for line in text.splitlines() if line.startswith("barge-in reaction"))
    assert row.split()[2:] == ["1", "120", "120", "120"]
    assert "2 of 101 agent turns cut short (2.0 %)" in text
    assert "false interruptions resumed: 1" in text


def test_an_empty_period_reports_dashes():
    report = build_report([], [])
    assert all(s.count == 0 and math.isnan(s.p50) for s in report.stages)
    text = format_report(report)
    assert "0 calls" in text and "outcomes: none" in text
    assert next(line for line in text.splitlines() if line.startswith("STT final")).split()[2:] == [
        "0",
        "-",
        "-",
        "-",
    ]


def test_periods():
    now = 1_000_000.0
    assert parse_when("7d", now) == now - 7 * 86400
    assert parse_when("24h", now) == now - 86400
    assert parse_when("1.5m", now) == now - 90
    assert (
        parse_when("2025-05-13T10:00:00+00:00", now)
        == datetime.datetime(2025, 5, 13, 10, tzinfo=datetime.UTC).timestamp()
    )
    with pytest.raises(ConfigError, match="7d"):
        parse_when("last week", now)


async def test_voice_agent_report_prints_the_table_and_draws_a_png(
    tmp_path, autojump_clock, monkeypatch, capsys
):
    obs = observability(tmp_path)
    await barge_in_call(obs)
    await barge_in_call(obs)
    obs.store.close()
    monkeypatch.setenv("VOICE_AGENT_RECORDS_PATH", str(tmp_path / "records.db"))
    args = ["report", "--since", "2025-05-01", "--until", "2025-06-01"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "2 calls" in out and "outcomes: quoted 2" in out
    row = next(line for line in out.splitlines() if line.startswith("mouth-to-ear"))
    assert row.split()[1] == "4"  # two replies per call
    assert "barge-ins: 2 confirmed; 2 of 6 agent turns cut short" in out
    assert cli_main(["report", "--since", "2025-06-01"]) == 0  # nothing then
    assert "0 calls" in capsys.readouterr().out

    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (the plot extra)")
    png = tmp_path / "latency.png"
    assert cli_main([*args, "--plot", str(png)]) == 0
    assert f"wrote {png}" in capsys.readouterr().out
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_report_without_records_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VOICE_AGENT_RECORDS_PATH", str(tmp_path / "none.db"))
    assert cli_main(["report"]) == 2
    assert "no records at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_calls_of_several_hosts_are_counted_per_host():
    calls = [
        CallRecord(f"c{n}", started_at=0.0, ended_at=60.0, outcome="ended", host=host)
        for n, host in enumerate(["host-a", "host-b", "host-a"])
    ]
    report = build_report(calls, [])
    assert report.hosts == (("host-a", 2), ("host-b", 1))
    assert "hosts: host-a 2, host-b 1" in format_report(report)
    one = build_report(calls[:1], [])
    assert "hosts:" not in format_report(one)  # one host: the report reads as before
