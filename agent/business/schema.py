"""The shared store's schema: versioned migrations, the same on SQLite and PostgreSQL.

Each migration is applied once, in its own transaction, and recorded in
``store_version`` (the records keep their own ``schema_version``: the tables of
both may share one database). Add a migration, never edit an applied one.
``{real}`` is the engine's float type. Several hosts may start at once against
one PostgreSQL: an advisory lock makes them migrate one after the other.
"""

from __future__ import annotations

import logging
from typing import Any

from agent.base.errors import ConfigError

log = logging.getLogger(__name__)

# An arbitrary number every agent host agrees on, for pg_advisory_lock.
_MIGRATION_LOCK = 7_301_018

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "bookings and the outbox",
        (
            """CREATE TABLE IF NOT EXISTS bookings (
                booking_id TEXT PRIMARY KEY,
                idempotency_key TEXT NOT NULL UNIQUE,
                company_id TEXT NOT NULL,
                service_id TEXT NOT NULL,
                start {real} NOT NULL,
                "end" {real} NOT NULL,
                body TEXT NOT NULL,
                created_at {real} NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS bookings_by_time ON bookings (company_id, start)",
            """CREATE TABLE IF NOT EXISTS outbox (
                key TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                company_id TEXT NOT NULL,
                call_uuid TEXT NOT NULL DEFAULT '',
                target TEXT,
                payload TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT NOT NULL DEFAULT '',
                result TEXT NOT NULL DEFAULT '{}',
                created_at {real} NOT NULL,
                updated_at {real} NOT NULL)""",
            "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (status)",
        ),
    ),
    (
        2,
        "outbox leases: one worker on any host holds a pending row at a time",
        (
            "ALTER TABLE outbox ADD COLUMN lease_owner TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE outbox ADD COLUMN lease_until {real} NOT NULL DEFAULT 0",
        ),
    ),
    (
        3,
        "agent hosts and the calls in flight between setup, AudioSocket and next",
        (
            """CREATE TABLE hosts (
                name TEXT PRIMARY KEY,
                address TEXT NOT NULL,
                capacity INTEGER NOT NULL,
                active INTEGER NOT NULL DEFAULT 0,
                draining INTEGER NOT NULL DEFAULT 0,
                started_at {real} NOT NULL,
                heartbeat_at {real} NOT NULL)""",
            """CREATE TABLE live_calls (
                uuid TEXT PRIMARY KEY,
                metadata TEXT NOT NULL,
                host TEXT NOT NULL DEFAULT '',
                expires_at {real} NOT NULL,
                claimed INTEGER NOT NULL DEFAULT 0,
                ended INTEGER NOT NULL DEFAULT 0,
                action TEXT,
                target TEXT NOT NULL DEFAULT '')""",
            "CREATE INDEX live_calls_expiry ON live_calls (expires_at)",
            """CREATE TABLE store_counters (
                name TEXT PRIMARY KEY, value INTEGER NOT NULL)""",
        ),
    ),
)
LATEST = MIGRATIONS[-1][0]


def migrate(conn: Any, db: Any) -> int:
    """Apply the migrations this database lacks on ``conn``; returns the version."""
    pg = db.engine == "postgresql"
    if pg:
        conn.execute("SELECT pg_advisory_lock(?)", (_MIGRATION_LOCK,))
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS store_version (version INTEGER NOT NULL)")
        current = conn.execute("SELECT MAX(version) FROM store_version").fetchone()[0] or 0
        if current > LATEST:
            raise ConfigError(
                f"VOICE_AGENT_DB={db.path!r} is at store version {current}, newer than"
                f" this agent's {LATEST}: upgrade the agent"
            )
        # A database in memory (one process's calls in flight) is new at every start:
        # its migrations are no news for the operator.
        level = logging.DEBUG if db.path == ":memory:" else logging.INFO
        for version, description, statements in MIGRATIONS:
            if version <= current:
                continue
            db.transaction(lambda c, s=statements, v=version: _apply(c, db, s, v))(conn)
            log.log(level, "store %s: applied migration %d (%s)", db.path, version, description)
            current = version
        return current
    finally:
        if pg:
            conn.execute("SELECT pg_advisory_unlock(?)", (_MIGRATION_LOCK,))


def _apply(conn: Any, db: Any, statements: tuple[str, ...], version: int) -> None:
    for statement in statements:
        conn.execute(statement.replace("{real}", db.real))
    conn.execute("INSERT INTO store_version (version) VALUES (?)", (version,))
