"""Posted writes (return at once, for hot-path hooks), flush, the period reads of
reports, and the columns of migration 2."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from agent.observe.records import (
    MIGRATIONS,
    CallRecord,
    RecordSettings,
    RecordStore,
    ToolCallRecord,
    TurnRecord,
)


async def test_posted_writes_land_in_order_and_flush_waits_for_them(tmp_path):
    with RecordStore.open_sqlite(tmp_path / "r.db") as store:
        store.post_start_call("p", started_at=100.0, did="+441632960001", recording="/r/p.wav")
        for index in range(20):  # the turn rows need the call row: FIFO keeps them after it
            store.post_turn(TurnRecord("p", index, caller_text=f"t{index}"))
        store.post_tool_call(ToolCallRecord("p", "get_quote", {"a": 1}, {"status": "ok"}, 0.01))
        store.post_end_call(
            "p",
            ended_at=160.0,
            outcome="quoted",
            cost=0.5,
            cost_detail={"stt": 0.5},
            cost_per_minute=0.5,
            currency="GBP",
            barge_ins=2,
            false_interruptions=1,
        )
        await store.flush()
        assert [t.caller_text for t in store.turns("p")] == [f"t{n}" for n in range(20)]
        call = store.get_call("p")
        assert call == CallRecord(
            "p",
            did="+441632960001",
            started_at=100.0,
            ended_at=160.0,
            outcome="quoted",
            cost=0.5,
            cost_detail={"stt": 0.5},
            cost_per_minute=0.5,
            currency="GBP",
            recording="/r/p.wav",
            barge_ins=2,
            false_interruptions=1,
        )


async def test_a_failed_posted_write_is_logged_not_raised(tmp_path, caplog):
    with RecordStore.open_sqlite(tmp_path / "r.db") as store:
        with caplog.at_level(logging.ERROR, logger="agent.observe.records"):
            store.post_turn(TurnRecord("never-started", 0))  # foreign key
            store.post_end_call("never-started", ended_at=1.0)
            await store.flush()
        assert len([r for r in caplog.records if "write failed" in r.getMessage()]) == 2
    store.post_turn(TurnRecord("x", 0))  # closed: dropped with a log line, no exception
    assert "closed" in caplog.records[-1].getMessage()


async def test_period_reads(tmp_path):
    with RecordStore.open_sqlite(tmp_path / "r.db") as store:
        for n in range(5):
            store.post_start_call(f"c{n}", started_at=float(n * 10))
            store.post_turn(TurnRecord(f"c{n}", 0, agent_text=f"a{n}"))
            store.post_turn(TurnRecord(f"c{n}", 1, agent_text=f"b{n}"))
        await store.flush()
        assert [c.uuid for c in store.calls(since=10.0, until=40.0, limit=None)] == [
            "c3",
            "c2",
            "c1",
        ]
        assert len(store.calls(limit=None)) == 5
        turns = store.turns_between(10.0, 30.0)
        assert [(t.call_uuid, t.agent_text) for t in turns] == [
            ("c1", "a1"),
            ("c1", "b1"),
            ("c2", "a2"),
            ("c2", "b2"),
        ]


def test_migrations_upgrade_a_version_1_database(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    from agent.observe.records_schema import sqlite_dialect

    dialect = sqlite_dialect(path)
    for statement in MIGRATIONS[0][2]:
        conn.execute(dialect.sql(statement))
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute("INSERT INTO calls (uuid, started_at, cost) VALUES ('old', 5.0, 0.1)")
    conn.close()
    with RecordStore.open_sqlite(path) as store:
        assert store.schema_version == MIGRATIONS[-1][0] == 3
        call = store.get_call("old")
        assert (call.cost, call.cost_per_minute, call.recording, call.host) == (
            0.1,
            None,
            None,
            None,
        )


def test_records_share_the_agents_database_by_default():
    assert RecordSettings.from_env({}).path == "voice-agent.sqlite3"
    assert RecordSettings.from_env({"VOICE_AGENT_DB": "/var/lib/va/a.db"}).path == (
        "/var/lib/va/a.db"
    )
    assert (
        RecordSettings.from_env(
            {"VOICE_AGENT_DB": "/var/lib/va/a.db", "VOICE_AGENT_RECORDS_PATH": "/r.db"}
        ).path
        == "/r.db"
    )


def test_bookings_and_records_live_in_one_file(tmp_path):
    from agent.business.bookingstore import open_database
    from agent.business.outbox import Outbox

    path = tmp_path / "voice-agent.sqlite3"
    db = open_database(path, threaded=False)
    Outbox(db)
    with RecordStore.open_sqlite(path) as store:
        store.get_call("x")
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert {"bookings", "outbox", "calls", "turns", "tool_calls"} <= tables


@pytest.mark.parametrize("index", [-1])
def test_negative_turn_index_is_refused(tmp_path, index):
    with RecordStore.open_sqlite(tmp_path / "r.db") as store, pytest.raises(ValueError):
        store.post_turn(TurnRecord("c", index))
