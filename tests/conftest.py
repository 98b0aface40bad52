"""Test set-up shared by every test.

Virtual time: request pytest-trio's ``autojump_clock`` fixture (a MockClock that
jumps ahead whenever every task is blocked).

The network guard: tests may only talk to loopback. Any attempt to connect a
socket elsewhere is refused on the spot and fails the test, even if the code
under test swallowed the refusal as a provider error.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

_violations: list[str] = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded(real):
    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            _violations.append(repr(address))
            raise ConnectionRefusedError(f"test network guard: {address!r} is not loopback")
        return real(self, address)

    return connect


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded(_real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded(_real_connect_ex))
    _violations.clear()
    yield
    if _violations:
        found = ", ".join(_violations)
        _violations.clear()
        pytest.fail(f"test tried to connect to a non-loopback address: {found}")


@pytest.fixture(autouse=True)
def restore_logging():
    """Tests that run the CLI install the agent's log handler on the root logger;
    take it away again, with the root level, so the next test starts clean."""
    import logging

    from agent.base.logs import uninstall_logging

    root = logging.getLogger()
    level = root.level
    yield
    uninstall_logging()
    root.setLevel(level)


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the whole session (see tests/pg.py), or a skip."""
    from tests.pg import start_server

    yield from start_server()


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty PostgreSQL database for one test."""
    from tests.pg import fresh_database

    return fresh_database(pg_server)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_db(request, tmp_path):
    """The agent's store (VOICE_AGENT_DB) on each engine, for a contract both must
    keep: a SQLite file, then a fresh PostgreSQL database (skipped without a server)."""
    from agent.business.database import open_database

    sqlite = request.param == "sqlite"
    database = open_database(tmp_path / "agent.db" if sqlite else request.getfixturevalue("pg_url"))
    yield database
    database.close()
