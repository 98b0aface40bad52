"""A real PostgreSQL server for the test session (Debian's ``postgresql`` package).

``initdb`` + ``pg_ctl`` in a temporary folder on a free port, started once per
session by the ``pg_server`` fixture (tests/conftest.py) and stopped at its end;
``pg_url`` gives each test a fresh empty database. Without psycopg or the server
binaries the PostgreSQL tests skip with one reason (``.ci/run`` installs both, so
CI runs them). As root the server runs as the ``postgres`` user: PostgreSQL
refuses to run as root.
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
from collections.abc import Iterator

import pytest

_numbers = itertools.count()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _why_not() -> str | None:
    """Why no PostgreSQL server can run here, or None."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        return "PostgreSQL tests: psycopg is not installed (pip install -e '.[postgres]')"
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return "PostgreSQL tests: no server binaries (apt-get install postgresql)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "PostgreSQL tests: running as root without runuser"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "PostgreSQL tests: running as root and there is no postgres user"
    return None


def start_server() -> Iterator[str]:
    """Yield the URL of a fresh server (``postgresql://postgres@127.0.0.1:PORT``)."""
    problem = _why_not()
    if problem:
        pytest.skip(problem)
    bindir = os.path.dirname(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1])
    workdir = tempfile.mkdtemp(prefix="voice-agent-pg-")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(workdir, user.pw_uid, user.pw_gid)
    datadir, port, started = os.path.join(workdir, "data"), _free_port(), False
    try:
        initdb = [f"{bindir}/initdb", "-D", datadir, "-A", "trust", "-U", "postgres", "--no-sync"]
        result = subprocess.run(_as_server_user(initdb), capture_output=True, text=True, timeout=90)
        if result.returncode != 0:
            pytest.skip(f"PostgreSQL tests: initdb failed: {result.stderr.strip()[-300:]}")
        # fsync off: a test database need not survive a power cut. Loopback only.
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c max_connections=200 -F"
        start = [f"{bindir}/pg_ctl", "-D", datadir, "-o", options, "-l", f"{workdir}/log"]
        result = subprocess.run(
            _as_server_user([*start, "-w", "-t", "60", "start"]),
            capture_output=True,
            text=True,
            timeout=90,
        )
        if result.returncode != 0:
            pytest.skip(f"PostgreSQL tests: pg_ctl start failed: {result.stdout.strip()[-300:]}")
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        if started:
            stop = [f"{bindir}/pg_ctl", "-D", datadir, "-m", "immediate", "stop"]
            subprocess.run(_as_server_user(stop), capture_output=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def fresh_database(server: str, prefix: str = "test") -> str:
    """A new empty database on ``server``; its URL."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"
