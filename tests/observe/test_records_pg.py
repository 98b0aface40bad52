"""The records store on a real PostgreSQL server started for the test session.

Skipped, with the reason, where psycopg or Debian's postgresql binaries are
missing or the server cannot start (root must be able to switch to the
``postgres`` user, since PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import functools
import socket

import pytest
import trio

from tests.observe.test_records import exercise_errors_and_purge, exercise_round_trip

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (psycopg[binary])")

from agent.observe.records import (  # noqa: E402
    MIGRATIONS,
    RecordSettings,
    RecordStore,
    RecordStoreError,
    TurnRecord,
    open_record_store,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def open_pg_store(url: str) -> RecordStore:
    return open_record_store(RecordSettings(url=url))


async def test_round_trip(pg_url):
    with open_pg_store(pg_url) as store:
        await exercise_round_trip(store)


async def test_errors_and_purge(pg_url):
    with open_pg_store(pg_url) as store:
        await exercise_errors_and_purge(store)


def test_migrations_applied_once_and_newer_schema_refused(pg_url):
    for _ in range(2):
        with open_pg_store(pg_url) as store:
            assert store.schema_version == MIGRATIONS[-1][0]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        count = conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0]
        assert count == len(MIGRATIONS)
        conn.execute("INSERT INTO schema_version (version) VALUES (999)")
    with pytest.raises(RecordStoreError, match="newer"):
        open_pg_store(pg_url)


def test_unreachable_server_is_a_clear_error():
    with pytest.raises(RecordStoreError, match="postgresql"):
        open_pg_store(f"postgresql://postgres@127.0.0.1:{_free_port()}/none?connect_timeout=2")


async def test_store_reconnects_after_the_server_drops_it(pg_url):
    with open_pg_store(pg_url) as store:
        await store.start_call("c", started_at=1.0)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        # The write that meets the dead connection fails and says so; the next one works.
        with pytest.raises(RecordStoreError, match="write failed"):
            await store.add_turn(TurnRecord("c", 0, caller_text="lost"))
        await store.add_turn(TurnRecord("c", 1, caller_text="kept"))
        assert [t.caller_text for t in store.turns("c")] == ["kept"]


def test_a_host_closes_only_its_own_unfinished_calls(pg_url):
    from agent.observe.records_start import close_interrupted_calls

    with open_pg_store(pg_url) as store:
        for uuid, host in (("mine", "a"), ("theirs", "b")):
            store.host = host
            trio.run(functools.partial(store.start_call, uuid, started_at=100.0))
    closed = close_interrupted_calls(RecordSettings(url=pg_url, host="a"), now=200.0)
    with open_pg_store(pg_url) as store:
        mine, theirs = store.get_call("mine"), store.get_call("theirs")
    assert closed == 1 and (mine.host, mine.outcome, mine.ended_at) == ("a", "interrupted", 100.0)
    assert theirs.outcome is None and theirs.host == "b"
