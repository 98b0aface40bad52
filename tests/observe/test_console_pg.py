"""The console and the outbox backlog on PostgreSQL (records, bookings and the outbox
in one database, as several hosts share it)."""

from __future__ import annotations

import httpx

from agent.business.database import open_database
from agent.business.outbox import Outbox
from agent.observe.console import Console, ConsoleSettings
from agent.observe.metrics import OutboxBacklog
from agent.observe.records import RecordStore, TurnRecord
from agent.observe.records_pg import pg_dialect

NOW = 1_760_000_000.0


async def test_pages_and_backlog_on_postgresql(pg_url):
    db = open_database(pg_url)
    try:
        with RecordStore(pg_dialect(pg_url)) as store:
            await store.start_call("pg-call", started_at=NOW - 60, company="acme")
            await store.add_turn(
                TurnRecord("pg-call", 1, "My KITCHEN tap drips", "When suits you?",
                           caller_speech_end_at=2.0, stt_final_at=2.2,
                           first_agent_frame_at=2.9)
            )  # fmt: skip
            await store.end_call("pg-call", ended_at=NOW, outcome="booked")
            outbox = Outbox(db, clock=lambda: NOW - 30)
            await outbox.put_booking("pg-call:1", "acme", {"slot": "9"}, call_uuid="pg-call")
            settings = ConsoleSettings(port=0, db_path=pg_url)
            console = Console(settings, store, clock=lambda: NOW)
            transport = httpx.ASGITransport(app=console.app())
            async with httpx.AsyncClient(transport=transport, base_url="http://pg") as http:
                found = await http.get("/calls", params={"q": "kitchen TAP"})
                assert "1 found" in found.text  # any case, as on SQLite
                call = await http.get("/calls/pg-call")
                assert "My KITCHEN tap drips" in call.text and ">pending<" in call.text
                assert 'href="/calls/pg-call"' in (await http.get("/bookings")).text
                day = (await http.get("/latency.json")).json()
                assert day["summary"]["mouth_to_ear"] == {"p50": 900, "p95": 900, "n": 1}
            console.bookings.close()
            backlog = OutboxBacklog(pg_url, clock=lambda: NOW)
            pending, oldest = backlog.collect()
            assert {s.labels["kind"]: s.value for s in pending.samples}["booking"] == 1
            assert oldest.samples[0].value == 30.0
            backlog.view.close()
    finally:
        db.close()
