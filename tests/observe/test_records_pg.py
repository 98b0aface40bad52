"""The records store on a real PostgreSQL server started for the test session.

Skipped, with the reason, where psycopg or Debian's postgresql binaries are
missing or the server cannot start (root must be able to switch to the
``postgres`` user, since PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest

from tests.observe.test_records import exercise_errors_and_purge, exercise_round_trip

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (psycopg[binary])")

from agent.observe.records import MIGRATIONS, RecordStoreError, TurnRecord  # noqa: E402
from agent.observe.records_pg import open_pg_store  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL cannot run as root")
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="module")
def pg_server():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    bindir = os.path.dirname(bins[-1])
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
    workdir = tempfile.mkdtemp(prefix="voice-agent-pg-")
    if os.geteuid() == 0:
        os.chown(workdir, server_user.pw_uid, server_user.pw_gid)
    datadir = os.path.join(workdir, "data")
    port = _free_port()
    started = False
    try:
        initdb = _as_server_user(
            [f"{bindir}/initdb", "-D", datadir, "-A", "trust", "-U", "postgres", "--no-sync"]
        )
        result = subprocess.run(initdb, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            pytest.skip(f"initdb failed: {result.stderr.strip()[-300:]}")
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -F"
        start = _as_server_user(
            [
                f"{bindir}/pg_ctl",
                "-D",
                datadir,
                "-o",
                options,
                "-l",
                f"{workdir}/log",
                "-w",
                "-t",
                "30",
                "start",
            ]
        )
        result = subprocess.run(start, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            pytest.skip(f"pg_ctl start failed: {result.stdout.strip()[-300:]}")
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        if started:
            stop = _as_server_user([f"{bindir}/pg_ctl", "-D", datadir, "-m", "immediate", "stop"])
            subprocess.run(stop, capture_output=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


_db_numbers = itertools.count()


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database for each test."""
    name = f"records_{next(_db_numbers)}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{pg_server}/{name}"


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
