"""Per-call records in SQLite: round trip, upsert, crash safety, purge, migrations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest
import trio

from agent.base.errors import ConfigError
from agent.observe.records import (
    MIGRATIONS,
    RecordSettings,
    RecordStore,
    RecordStoreError,
    ToolCallRecord,
    TurnRecord,
    open_record_store,
)

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture
def store(tmp_path):
    with RecordStore.open_sqlite(tmp_path / "records.db") as store:
        yield store


async def exercise_round_trip(store: RecordStore) -> None:
    """Shared with the PostgreSQL test: the whole life of one call."""
    await store.start_call(
        UUID,
        started_at=1_700_000_000.5,
        did="+441632960001",
        caller_id="07700900123",
        company="brightspark",
    )
    first = TurnRecord(
        UUID,
        0,
        caller_text="",
        agent_text="Hello, Brightspark.",
        first_agent_frame_at=0.12,
        last_agent_frame_at=1.9,
    )
    second = TurnRecord(
        UUID,
        1,
        caller_text="my boiler is leaking",
        agent_text="Sorry to",
        interrupted=True,
        caller_speech_end_at=3.0,
        stt_final_at=3.2,
        llm_request_at=3.21,
        llm_first_token_at=3.3,
        tts_request_at=3.35,
        tts_first_audio_at=3.41,
        first_agent_frame_at=3.42,
        barge_in_at=3.9,
        last_agent_frame_at=3.94,
    )
    await store.add_turn(first)
    await store.add_turn(second)
    await store.add_tool_call(
        ToolCallRecord(UUID, "quote", {"job": "boiler leak"}, {"price": 95}, 0.031, None, 1, 3.25)
    )
    await store.add_tool_call(ToolCallRecord(UUID, "book", {"slot": "mon"}, None, 2.0, "timeout"))
    await store.end_call(
        UUID,
        ended_at=1_700_000_060.0,
        end_reason="hangup",
        outcome="quoted",
        transfer_target=None,
        cost=0.0123,
        cost_detail={"stt": 0.01, "llm": 0.0023},
    )

    call = store.get_call(UUID)
    assert call is not None
    assert (call.did, call.caller_id, call.company) == (
        "+441632960001",
        "07700900123",
        "brightspark",
    )
    assert (call.started_at, call.ended_at) == (1_700_000_000.5, 1_700_000_060.0)
    assert (call.outcome, call.end_reason, call.cost) == ("quoted", "hangup", 0.0123)
    assert call.cost_detail == {"stt": 0.01, "llm": 0.0023}
    assert store.turns(UUID) == [first, second]
    tools = store.tool_calls(UUID)
    assert [t.name for t in tools] == ["quote", "book"]
    assert tools[0].arguments == {"job": "boiler leak"} and tools[0].result == {"price": 95}
    assert tools[0].turn_index == 1 and tools[0].at == 3.25
    assert tools[1].error == "timeout" and tools[1].result is None
    assert [c.uuid for c in store.calls()] == [UUID]
    assert store.get_call("no-such-call") is None


async def exercise_errors_and_purge(store: RecordStore) -> None:
    # A turn for a call that was never started breaks the foreign key.
    with pytest.raises(RecordStoreError):
        await store.add_turn(TurnRecord("never-started", 0))
    with pytest.raises(RecordStoreError, match="no call"):
        await store.end_call("never-started", ended_at=1.0)
    for n, started in enumerate((100.0, 200.0, 300.0)):
        await store.start_call(f"call-{n}", started_at=started)
        await store.add_turn(TurnRecord(f"call-{n}", 0, caller_text="hi"))
        await store.add_tool_call(ToolCallRecord(f"call-{n}", "lookup"))
    assert await store.purge(older_than=250.0) == 2
    assert [c.uuid for c in store.calls()] == ["call-2"]
    assert store.turns("call-0") == [] and store.tool_calls("call-1") == []
    assert len(store.turns("call-2")) == 1 and len(store.tool_calls("call-2")) == 1
    assert store.purge_sync(older_than=1000.0) == 1
    assert store.calls() == []


async def test_round_trip(store):
    await exercise_round_trip(store)


async def test_errors_and_purge(store):
    await exercise_errors_and_purge(store)


async def test_turn_written_again_replaces_it(store):
    await store.start_call(UUID, started_at=0.0)
    await store.add_turn(TurnRecord(UUID, 0, caller_text="hello", agent_text="Hi th"))
    final = TurnRecord(UUID, 0, caller_text="hello", agent_text="Hi there", interrupted=True)
    await store.add_turn(final)
    assert store.turns(UUID) == [final]
    with pytest.raises(ValueError, match="index"):
        await store.add_turn(TurnRecord(UUID, -1))


async def test_calls_since_and_limit(store):
    for n in range(5):
        await store.start_call(f"c{n}", started_at=float(n))
    assert [c.uuid for c in store.calls(since=2.0)] == ["c4", "c3", "c2"]
    assert [c.uuid for c in store.calls(limit=2)] == ["c4", "c3"]


async def test_writes_do_not_block_the_trio_loop(tmp_path):
    path = tmp_path / "records.db"
    with RecordStore.open_sqlite(path) as store:
        await store.start_call(UUID, started_at=0.0)
        # Another connection holds the write lock: the writer thread has to wait.
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        written = trio.Event()
        ticks = 0

        async def write():
            await store.add_turn(TurnRecord(UUID, 0, caller_text="hello"))
            written.set()

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(write)
                while ticks < 50:  # the loop keeps running while the write waits
                    await trio.sleep(0.001)
                    ticks += 1
                assert not written.is_set()
                blocker.execute("ROLLBACK")
                blocker.close()
                await written.wait()
        assert store.turns(UUID)[0].caller_text == "hello"
        assert threading.current_thread() is not store._writer


def test_killed_process_keeps_completed_turns(tmp_path):
    path = tmp_path / "records.db"
    child = textwrap.dedent(
        f"""
        import sys, time, trio
        from agent.observe.records import RecordStore, TurnRecord

        async def main():
            store = RecordStore.open_sqlite({str(path)!r})
            await store.start_call("crash", started_at=1.0)
            await store.add_turn(TurnRecord("crash", 0, agent_text="Hello"))
            await store.add_turn(TurnRecord("crash", 1, caller_text="a leak"))
            print("written", flush=True)
            time.sleep(60)  # never closed: the parent kills us here

        trio.run(main)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "written", proc.stderr.read()
        proc.kill()
        proc.wait(timeout=10)
    finally:
        proc.stdout.close()
        proc.stderr.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with RecordStore.open_sqlite(path) as store:
        turns = store.turns("crash")
    assert [(t.index, t.agent_text, t.caller_text) for t in turns] == [
        (0, "Hello", ""),
        (1, "", "a leak"),
    ]


def test_migrations_applied_once_and_newer_schema_refused(tmp_path):
    path = tmp_path / "records.db"
    with RecordStore.open_sqlite(path) as store:
        assert store.schema_version == MIGRATIONS[-1][0]
    with RecordStore.open_sqlite(path) as store:  # reopening applies nothing twice
        assert store.schema_version == MIGRATIONS[-1][0]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (999)")
    conn.close()
    with pytest.raises(RecordStoreError, match="newer"):
        RecordStore.open_sqlite(path)


async def test_closed_store_refuses_writes(tmp_path):
    store = RecordStore.open_sqlite(tmp_path / "records.db")
    await store.start_call(UUID, started_at=0.0)
    store.close()
    store.close()  # idempotent
    with pytest.raises(RecordStoreError, match="closed"):
        await store.add_turn(TurnRecord(UUID, 0))
    with pytest.raises(RecordStoreError, match="closed"):
        store.turns(UUID)


def test_settings_and_paths(tmp_path):
    with pytest.raises(ConfigError, match="in-memory"):
        RecordStore.open_sqlite(":memory:")
    settings = RecordSettings.from_env(
        {
            "VOICE_AGENT_RECORDS_PATH": str(tmp_path / "r.db"),
            "VOICE_AGENT_RECORDS_RETENTION_DAYS": "30",
        }
    )
    assert settings.purge_cutoff(now=100 * 86400.0) == 70 * 86400.0
    with open_record_store(settings) as store:
        assert store.dialect.name == "sqlite"
    assert (tmp_path / "r.db").exists()
    with pytest.raises(ConfigError, match="RETENTION_DAYS"):
        RecordSettings.from_env({"VOICE_AGENT_RECORDS_RETENTION_DAYS": "-1"})


def test_calls_left_unfinished_are_closed_as_interrupted_at_start(tmp_path):
    from agent.observe.records_start import close_interrupted_calls

    settings = RecordSettings(path=str(tmp_path / "records.db"))
    with RecordStore.open_sqlite(settings.path) as store:
        for uuid, started in (("killed", 100.0), ("done", 100.0), ("later", 300.0)):
            trio.run(lambda u=uuid, s=started: store.start_call(u, started_at=s))
        trio.run(lambda: store.end_call("done", ended_at=150.0, outcome="booked"))
    with RecordStore.open_sqlite(settings.path) as store:
        assert store.close_unfinished_sync(200.0) == 1
    with RecordStore.open_sqlite(settings.path) as store:
        killed, done, later = (store.get_call(u) for u in ("killed", "done", "later"))
    assert (killed.outcome, killed.end_reason, killed.ended_at) == (
        "interrupted",
        "interrupted",
        100.0,
    )
    assert done.outcome == "booked" and later.outcome is None
    # A shared PostgreSQL store without a host name: another host's calls look the same.
    assert close_interrupted_calls(RecordSettings(url="postgresql://h/db"), now=200.0) == 0


def test_in_a_shared_store_only_this_hosts_unfinished_calls_are_closed(tmp_path):
    with RecordStore.open_sqlite(tmp_path / "records.db") as store:
        for uuid, host in (("mine", "agent-1"), ("theirs", "agent-2")):
            trio.run(lambda u=uuid, h=host: store.start_call(u, started_at=100.0, host=h))
        assert store.close_unfinished_sync(200.0, host="agent-1") == 1
        assert store.get_call("mine").outcome == "interrupted"
        assert store.get_call("theirs").outcome is None
