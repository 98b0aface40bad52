"""Metrics: the turn's timestamps become histograms; the Trio exporter serves them."""

from __future__ import annotations

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from agent.base.errors import ConfigError
from agent.observe.metrics import Metrics, metrics_address, serve_metrics
from agent.observe.records import TurnRecord


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found[(name, tuple(sorted(labels.items())))]


def test_observe_turn_splits_mouth_to_ear():
    metrics = Metrics()
    metrics.observe_turn(
        TurnRecord(
            "c",
            1,
            interrupted=True,
            caller_speech_end_at=10.0,
            stt_final_at=10.2,
            llm_request_at=10.25,
            llm_first_token_at=10.35,
            tts_request_at=10.4,
            tts_first_audio_at=10.46,
            first_agent_frame_at=10.5,
            barge_in_at=12.0,
            last_agent_frame_at=12.04,
        )
    )
    metrics.observe_turn(TurnRecord("c", 0, first_agent_frame_at=0.1))  # greeting: no caller
    found = samples(metrics.render().decode())
    assert value(found, "voice_agent_mouth_to_ear_seconds_count") == 1
    assert value(found, "voice_agent_mouth_to_ear_seconds_sum") == pytest.approx(0.5)
    assert value(found, "voice_agent_stt_final_seconds_sum") == pytest.approx(0.2)
    assert value(found, "voice_agent_llm_first_token_seconds_sum") == pytest.approx(0.1)
    assert value(found, "voice_agent_tts_first_audio_seconds_sum") == pytest.approx(0.06)
    # 0.5 s to the ear, of which the providers took 0.36 s.
    assert value(found, "voice_agent_agent_added_seconds_sum") == pytest.approx(0.14)
    assert value(found, "voice_agent_barge_in_reaction_seconds_sum") == pytest.approx(0.04)
    assert value(found, "voice_agent_barge_in_reaction_seconds_bucket", le="0.05") == 1
    assert value(found, "voice_agent_barge_in_reaction_seconds_bucket", le="0.02") == 0


def test_registries_are_separate():
    first, second = Metrics(), Metrics()
    first.barge_ins.inc()
    assert value(samples(first.render().decode()), "voice_agent_barge_ins_total") == 1
    assert value(samples(second.render().decode()), "voice_agent_barge_ins_total") == 0


def test_address_from_env():
    assert metrics_address({}) == ("127.0.0.1", 9102)
    assert metrics_address({"VOICE_AGENT_METRICS_PORT": "9200"}) == ("127.0.0.1", 9200)
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        metrics_address({"VOICE_AGENT_METRICS_PORT": "70000"})


async def http(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return status, headers, body


async def test_exporter_serves_over_loopback():
    metrics = Metrics()
    for seconds in (0.3, 0.45, 0.9):
        metrics.mouth_to_ear.observe(seconds)
    metrics.calls.labels(outcome="booked", company="acme").inc()
    metrics.calls.labels(outcome="transferred", company="acme").inc(2)
    metrics.provider_errors.labels(provider="deepgram", kind="timeout").inc()
    metrics.cost.labels(provider="groq").inc(0.0042)
    metrics.late_frames.inc(3)
    metrics.active_calls.inc()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(serve_metrics, metrics, "127.0.0.1", 0)
            port = listeners[0].socket.getsockname()[1]
            status, headers, body = await http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status == "HTTP/1.1 200 OK"
            assert headers["content-type"].startswith("text/plain")
            assert int(headers["content-length"]) == len(body)
            text = body.decode()
            assert 'voice_agent_mouth_to_ear_seconds_bucket{le="0.5"} 2.0' in text
            assert 'voice_agent_mouth_to_ear_seconds_bucket{le="+Inf"} 3.0' in text
            assert "voice_agent_mouth_to_ear_seconds_count 3.0" in text
            found = samples(text)
            assert value(found, "voice_agent_mouth_to_ear_seconds_sum") == pytest.approx(1.65)
            assert (
                value(found, "voice_agent_calls_total", outcome="transferred", company="acme") == 2
            )
            assert (
                value(
                    found, "voice_agent_provider_errors_total", provider="deepgram", kind="timeout"
                )
                == 1
            )
            assert value(found, "voice_agent_cost_total", provider="groq") == pytest.approx(0.0042)
            assert value(found, "voice_agent_late_frames_total") == 3
            assert value(found, "voice_agent_active_calls") == 1
            assert (await http(port, b"GET /nope HTTP/1.1\r\n\r\n"))[0].startswith("HTTP/1.1 404")
            assert (await http(port, b"POST /metrics HTTP/1.1\r\n\r\n"))[0].endswith(
                "405 Method Not Allowed"
            )
            assert (await http(port, b"garbage\r\n\r\n"))[0].endswith("400 Bad Request")
            status, headers, body = await http(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
            assert status.endswith("200 OK") and body == b"" and int(headers["content-length"]) > 0
            nursery.cancel_scope.cancel()  # the exporter stops cleanly on cancellation


def test_metrics_of_one_of_several_hosts_carry_its_name():
    from agent.observe.metrics import Metrics

    metrics = Metrics(host="host-a")
    metrics.active_calls.set(3)
    metrics.calls.labels(outcome="booked", company="acme").inc()
    text = metrics.render().decode()
    assert 'voice_agent_active_calls{host="host-a"} 3.0' in text
    assert 'voice_agent_calls_total{company="acme",host="host-a",outcome="booked"} 1.0' in text
    assert 'host="' not in Metrics().render().decode()  # one host: as before


def test_the_outbox_backlog_is_read_at_scrape_time(tmp_path):
    import sqlite3

    from agent.observe.metrics import OutboxBacklog

    db = tmp_path / "agent.db"
    metrics = Metrics()
    metrics.watch_outbox(db)
    found = samples(metrics.render().decode())  # no file yet: nothing pending
    assert value(found, "voice_agent_outbox_pending", kind="booking") == 0
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE outbox (key TEXT, kind TEXT, status TEXT, created_at REAL)")
    conn.executemany(
        "INSERT INTO outbox VALUES (?, ?, ?, ?)",
        [("a", "booking", "pending", 100.0), ("b", "booking", "pending", 150.0),
         ("c", "notify", "pending", 170.0), ("d", "booking", "confirmed", 10.0)],
    )  # fmt: skip
    conn.commit()
    conn.close()
    found = samples(metrics.render().decode())
    assert value(found, "voice_agent_outbox_pending", kind="booking") == 2
    assert value(found, "voice_agent_outbox_pending", kind="notify") == 1
    backlog = OutboxBacklog(db, clock=lambda: 400.0)
    (_, oldest) = backlog.collect()
    assert oldest.samples[0].value == 300.0
