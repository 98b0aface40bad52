"""The operator's console over a records store: pages, filters, auth, live, latency."""

from __future__ import annotations

import sqlite3
import time
import wave

import httpx
import pytest

from agent.base.errors import ConfigError
from agent.observe.console import Console, ConsoleSettings, HealthItem, HealthReport
from agent.observe.console.queries import mask_caller
from agent.observe.records import RecordStore, ToolCallRecord, TurnRecord
from tests.observe.console_data import seed

NOW = 1_760_000_000.0
TOKEN = "s3cret-console-token"


@pytest.fixture
def store(tmp_path):
    with RecordStore.open_sqlite(tmp_path / "records.db") as store:
        yield store


def console_for(store, tmp_path, *, token="", health=None, clock=lambda: NOW) -> Console:
    settings = ConsoleSettings(
        port=1,
        token=token,
        db_path=str(tmp_path / "agent.db"),
        max_call_s=3600.0,
        recordings_dir=str(tmp_path / "recordings"),
    )
    return Console(settings, store, health=health, clock=clock)


def client(console: Console, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=console.app()),
        base_url="http://console.test",
        headers=headers,
    )


async def test_calls_page_lists_filters_searches_and_pages(store, tmp_path):
    seed(store, 120, now=NOW, span_s=86400.0)
    await store.flush()
    async with client(console_for(store, tmp_path)) as http:
        page = await http.get("/calls")
        assert page.status_code == 200
        assert "120 found" in page.text
        assert page.text.count('href="/calls/') == 50  # one page
        assert "older →" in page.text
        assert "07700900001" not in page.text and "•••••••" in page.text  # masked
        booked = await http.get("/calls", params={"outcome": "booked"})
        assert "30 found" in booked.text
        one = await http.get("/calls", params={"company": "flowright", "outcome": "quoted"})
        assert "found" in one.text and "brightspark</td>" not in one.text
        nothing = await http.get("/calls", params={"q": "no caller said this"})
        assert "0 found" in nothing.text and "No calls match." in nothing.text
        tap = await http.get("/calls", params={"q": "KITCHEN tap"})  # any case
        found = int(tap.text.split(" found")[0].rsplit(">", 1)[-1])
        assert 0 < found < 120
        last = await http.get("/calls", params={"offset": 100})
        assert last.text.count('href="/calls/') == 20 and "← newer" in last.text
        day = time.strftime("%Y-%m-%d", time.localtime(NOW - 86400.0 * 2))
        old = await http.get("/calls", params={"from": day, "to": day})
        assert "0 found" in old.text


async def test_call_page_shows_transcript_timings_tools_and_booking(store, tmp_path):
    uuid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    await store.start_call(uuid, started_at=NOW - 60, caller_id="07700900123", company="acme")
    await store.add_turn(TurnRecord(uuid, 0, "", "Hello, Acme plumbing.", first_agent_frame_at=0.2))
    await store.add_turn(
        TurnRecord(
            uuid, 1, "my boiler is leaking", "Sorry to", interrupted=True,
            caller_speech_end_at=3.0, stt_final_at=3.2, llm_request_at=3.21,
            llm_first_token_at=3.5, tts_request_at=3.51, tts_first_audio_at=3.7,
            first_agent_frame_at=3.75, barge_in_at=4.5, last_agent_frame_at=4.6,
        )
    )  # fmt: skip
    await store.add_tool_call(
        ToolCallRecord(uuid, "book_visit", {"slot": "09:00"}, {"booking_id": "B-17"}, 0.25, None, 1)
    )
    await store.end_call(
        uuid, ended_at=NOW, end_reason="hangup", outcome="transferred", transfer_target="office"
    )
    db = sqlite3.connect(tmp_path / "agent.db")
    db.execute(
        "CREATE TABLE outbox (key TEXT PRIMARY KEY, kind TEXT, company_id TEXT, call_uuid TEXT,"
        " target TEXT, payload TEXT, status TEXT, attempts INTEGER, last_error TEXT,"
        " result TEXT, created_at REAL, updated_at REAL)"
    )
    db.execute(
        "INSERT INTO outbox VALUES (?, 'booking', 'acme', ?, NULL, '{}', 'pending', 2,"
        " 'booking API: 503', '{}', ?, ?)",
        (f"{uuid}:1", uuid, NOW - 30, NOW - 10),
    )
    db.commit()
    db.close()
    async with client(console_for(store, tmp_path)) as http:
        page = await http.get(f"/calls/{uuid}")
        assert page.status_code == 200
        text = page.text
        assert "Hello, Acme plumbing." in text and "my boiler is leaking" in text
        assert "cut off by the caller" in text  # what the caller heard: "Sorry to"
        assert 'class="seg stt_final"' in text and ">200</span>" in text  # 0.2 s STT
        assert "750 ms mouth-to-ear" in text
        assert "book_visit" in text and "B-17" in text
        assert "transfer to office" in text and "hangup" in text
        assert "booking API: 503" in text and ">pending<" in text
        assert "07700900123" not in text and "••••••••123" in text  # masked
        missing = await http.get("/calls/not-a-call")
        assert missing.status_code == 404
        bookings = await http.get("/bookings", params={"status": "pending"})
        assert "booking API: 503" in bookings.text


async def test_live_shows_calls_started_and_not_ended(store, tmp_path):
    now = [NOW]
    await store.start_call(
        "live-1", started_at=NOW - 5, company="acme", caller_id="0123456789", host="agent-b"
    )
    await store.add_turn(TurnRecord("live-1", 0, "", "Hello there", first_agent_frame_at=0.2))
    await store.add_turn(TurnRecord("live-1", 1, "a leak", "Where are you?"))
    await store.start_call("live-2", started_at=NOW - 1, company="acme")  # greeting not over
    await store.start_call("crashed", started_at=NOW - 7200, company="acme")  # too old
    async with client(console_for(store, tmp_path, clock=lambda: now[0])) as http:
        live = (await http.get("/live.json")).json()
        assert [c["uuid"] for c in live] == ["live-1", "live-2"]
        assert live[0]["agent_said"] == "Where are you?" and live[0]["caller_said"] == "a leak"
        assert live[0]["seconds"] == 5 and live[0]["turns"] == 2
        assert live[1]["turns"] == 0 and live[1]["agent_said"] == ""
        assert live[0]["caller"] == "•••••••789" and live[0]["host"] == "agent-b"
        page = await http.get("/live")
        assert 'data-uuid="live-1"' in page.text
        await store.end_call("live-1", ended_at=NOW + 1)
        await store.end_call("live-2", ended_at=NOW + 1)
        now[0] += 2
        assert (await http.get("/live.json")).json() == []


async def test_latency_series_per_hour_and_stage(store, tmp_path):
    seed(store, 48, now=NOW, span_s=86400.0)
    await store.flush()
    async with client(console_for(store, tmp_path)) as http:
        day = (await http.get("/latency.json", params={"range": "day"})).json()
        assert len(day["t"]) in (24, 25)
        p50 = [v for v in day["series"]["mouth_to_ear"]["p50"] if v is not None]
        p95 = [v for v in day["series"]["mouth_to_ear"]["p95"] if v is not None]
        assert len(p50) >= 20 and all(a <= b for a, b in zip(p50, p95, strict=True))
        summary = day["summary"]["mouth_to_ear"]
        assert 100 < summary["p50"] <= summary["p95"] < 2000 and summary["n"] > 48
        week = (await http.get("/latency.json", params={"range": "week"})).json()
        assert len(week["t"]) in (28, 29)
        page = await http.get("/latency")
        assert "uPlot.iife.min.js" in page.text


async def test_recording_and_waveform(store, tmp_path):
    (tmp_path / "recordings").mkdir()
    path = tmp_path / "recordings" / "call.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes((b"\x00\x40" + b"\x00\x00") * 8000)  # caller loud, agent silent
    await store.start_call("rec", started_at=NOW - 10, recording=str(path))
    await store.start_call("norec", started_at=NOW - 10)
    (tmp_path / "elsewhere.wav").write_bytes(path.read_bytes())
    await store.start_call(
        "outside", started_at=NOW - 10, recording=str(tmp_path / "elsewhere.wav")
    )
    async with client(console_for(store, tmp_path)) as http:
        page = await http.get("/calls/rec")
        assert "<audio" in page.text and "/calls/rec/recording.wav" in page.text
        audio = await http.get("/calls/rec/recording.wav")
        assert audio.headers["content-type"] == "audio/wav" and audio.content[:4] == b"RIFF"
        peaks = (await http.get("/calls/rec/waveform.json")).json()
        assert peaks["seconds"] == 1.0 and len(peaks["channels"]) == 2
        assert peaks["channels"][0][0] == [0.5, 0.5] and peaks["channels"][1][0] == [0.0, 0.0]
        assert "<audio" not in (await http.get("/calls/norec")).text
        assert (await http.get("/calls/norec/recording.wav")).status_code == 404
        # A file outside the recordings folder is never served, whatever the record says.
        assert (await http.get("/calls/outside/recording.wav")).status_code == 404
        assert "<audio" not in (await http.get("/calls/outside")).text


async def test_health_page_lists_items_and_providers(store, tmp_path):
    async def health():
        return HealthReport(
            (HealthItem("FAIL", "keys", "DEEPGRAM_API_KEY", "not set"),),
            (("tts", "cartesia -> espeak"),),
        )

    async with client(console_for(store, tmp_path, health=health)) as http:
        page = await http.get("/health")
        assert "DEEPGRAM_API_KEY" in page.text and "cartesia -&gt; espeak" in page.text


async def test_a_token_is_needed_by_header_or_login_cookie(store, tmp_path):
    console = console_for(store, tmp_path, token=TOKEN)
    async with client(console) as http:
        for path in ("/calls", "/live.json", "/latency.json", "/calls/x/recording.wav"):
            assert (await http.get(path)).status_code == 401, path
        browser = await http.get("/calls", headers={"Accept": "text/html"})
        assert browser.status_code == 401 and 'name="token"' in browser.text
        wrong = await http.get("/calls", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await http.get("/calls", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200
        assert (await http.get("/static/console.css")).status_code == 200
        refused = await http.post("/login", data={"token": "nope"})
        assert refused.status_code == 401 and "not the console" in refused.text
        login = await http.post("/login", data={"token": TOKEN})
        assert login.status_code == 303 and TOKEN not in login.headers["set-cookie"]
        assert (await http.get("/calls")).status_code == 200  # the cookie now
        await http.get("/logout")
        assert (await http.get("/calls")).status_code == 401


def test_no_bind_beyond_loopback_without_a_token():
    ConsoleSettings(port=8080, host="127.0.0.1").check()
    ConsoleSettings(port=8080, host="::1").check()
    ConsoleSettings(port=8080, host="0.0.0.0", token=TOKEN).check()
    for host in ("0.0.0.0", "192.0.2.7", "console.example"):
        with pytest.raises(ConfigError, match="only with VOICE_AGENT_CONSOLE_TOKEN") as err:
            ConsoleSettings(port=8080, host=host).check()
        assert "\n" not in str(err.value)


def test_settings_from_env():
    settings = ConsoleSettings.from_env(
        {"VOICE_AGENT_CONSOLE_PORT": "8088", "VOICE_AGENT_CONSOLE_TOKEN": TOKEN}
    )
    assert settings.enabled and settings.host == "127.0.0.1" and settings.token == TOKEN
    assert TOKEN not in repr(settings)
    assert not ConsoleSettings.from_env({}).enabled


def test_caller_masking():
    assert mask_caller("07700900123", False) == "••••••••123"
    assert mask_caller("07700900123", True) == "07700900123"
    assert mask_caller(None, False) == ""


def test_stage_spans_follow_the_per_turn_rules():
    """The column-wise spans equal ``turn_latencies`` of each turn, absent stages too."""
    import random

    import numpy as np

    from agent.observe.console.latency import COLUMNS, spans
    from agent.observe.records_schema import turn_latencies
    from tests.observe.console_data import turns_of

    rng = random.Random(7)
    turns = [t for n in range(30) for t in turns_of(f"c{n}", 6, rng)]
    turns.append(TurnRecord("odd", 1, stt_final_at=1.0, caller_speech_end_at=2.0))  # backwards
    rows = [(0.0, *(getattr(t, c) for c in COLUMNS)) for t in turns]
    _, stages = spans(rows)
    for i, turn in enumerate(turns):
        expected = turn_latencies(turn)
        for stage, values in stages.items():
            if stage in expected:
                assert values[i] == pytest.approx(expected[stage] * 1000), (stage, turn)
            else:
                assert np.isnan(values[i]), (stage, turn)


def test_closed_hours_are_read_once():
    from agent.observe.console.latency import COLUMNS, LatencyCache

    asked: list[tuple[float, float]] = []
    row = (0.0, 1.0, 1.2, 1.2, 1.4, 1.4, 1.5, 1.6, None, None, 0)  # at, then COLUMNS
    assert len(row) == len(COLUMNS) + 1

    def fetch(since, until):
        asked.append((since, until))
        hour = since
        rows = []
        while hour < until:  # one turn half-way through each hour
            rows.append((hour + 1800.0, *row[1:]))
            hour += 3600.0
        return rows

    cache = LatencyCache(fetch)
    now = 100 * 3600.0 + 60.0  # a minute into hour 100: hour 99's last turns may come
    day = cache.series(since=76 * 3600.0, until=now, bucket_s=3600.0, now=now)
    assert len(day["t"]) == 25 and day["summary"]["mouth_to_ear"]["n"] == 25
    assert day["series"]["mouth_to_ear"]["p50"][0] == pytest.approx(600.0)
    assert asked == [(76 * 3600.0, 99 * 3600.0), (99 * 3600.0, 101 * 3600.0)]
    asked.clear()
    cache.series(since=76 * 3600.0, until=now + 30, bucket_s=3600.0, now=now + 30)
    assert asked == [(99 * 3600.0, 101 * 3600.0)]  # only what may still change
    asked.clear()
    cache.series(since=76 * 3600.0, until=now + 300, bucket_s=3600.0, now=now + 300)
    assert asked == [(99 * 3600.0, 100 * 3600.0), (100 * 3600.0, 101 * 3600.0)]  # 99 settled
    asked.clear()
    cache.series(since=76 * 3600.0, until=now + 600, bucket_s=3600.0, now=now + 600)
    assert asked == [(100 * 3600.0, 101 * 3600.0)]


async def test_a_store_that_fails_is_one_line_and_503(store, tmp_path):
    console = console_for(store, tmp_path)
    store.close()  # as if the database went away
    async with client(console) as http:
        for path in ("/calls", "/calls/x", "/live.json", "/latency.json"):
            reply = await http.get(path)
            assert reply.status_code == 503, path
            assert reply.text.startswith("503: the records cannot be read now")
            assert reply.text.count("\n") == 1


async def test_call_page_shows_a_caller_line_without_the_recognisers_markers(store, tmp_path):
    uuid = "call-with-doubts"
    await store.start_call(uuid, started_at=NOW - 60, company="acme")
    line = "[unsure] [check: part] [also heard: 15 Park Lane] 15 part lane."
    await store.add_turn(TurnRecord(uuid, 0, line, "Was that 15 part lane?"))
    await store.end_call(uuid, ended_at=NOW, end_reason="hangup", outcome="quoted")
    async with client(console_for(store, tmp_path)) as http:
        text = (await http.get(f"/calls/{uuid}")).text
    assert "[check" not in text and "[unsure]" not in text and "[also heard" not in text
    assert '15 <mark class="doubted"' in text and ">part</mark> lane." in text
    assert "unclear line" in text and "also heard: 15 Park Lane" in text


async def test_live_shows_the_last_caller_line_without_the_markers(store, tmp_path):
    await store.start_call("live-1", started_at=NOW - 5, company="acme")
    await store.add_turn(TurnRecord("live-1", 0, "", "Hello there", first_agent_frame_at=0.2))
    await store.add_turn(TurnRecord("live-1", 1, "[check: part] 15 part lane", "Was that?"))
    async with client(console_for(store, tmp_path)) as http:
        live = (await http.get("/live.json")).json()
    assert [call["caller_said"] for call in live] == ["15 part lane"]
