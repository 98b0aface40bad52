"""The bookings and the outbox, read from the agent's store (``VOICE_AGENT_DB``), for
the console's pages and the outbox backlog metric.

Read-only and synchronous (callers run it in a thread). SQLite: a connection per
read, opened ``mode=ro``, so a reader can never write or create the file. PostgreSQL:
one small pool of ``agent.business.database``, opened at the first read. The tables
belong to ``agent.business`` (``bookingstore`` and ``outbox``); a table not made yet
reads as empty.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from agent.business.database import Database, is_postgres

_OUTBOX = (
    "SELECT key, kind, company_id, call_uuid, target, status, attempts, last_error, result,"
    " created_at, updated_at, payload FROM outbox"
)


class BookingsView:
    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
        self.path = Path(target)
        self._db: Database | None = None
        self._lock = threading.Lock()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        if is_postgres(self.target):
            return self._pg_rows(sql, args)
        if not self.path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, args)]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            conn.close()

    def _pg_rows(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._lock:
            if self._db is None:
                self._db = Database(self.target, pool_size=1)
        try:
            return [dict(r) for r in self._db.run_sync(lambda c: c.execute(sql, args).fetchall())]
        except Exception as exc:
            if "does not exist" in str(exc):  # the table is not made yet
                return []
            raise

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def backlog(self) -> list[tuple[str, int, float | None]]:
        """(kind, pending items, the oldest one's creation time) per kind."""
        rows = self._rows(
            "SELECT kind, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox"
            " WHERE status = 'pending' GROUP BY kind"
        )
        return [(r["kind"], int(r["n"]), r["oldest"]) for r in rows]

    def outbox(self, *, status: str = "", limit: int = 200) -> list[dict[str, Any]]:
        """Outbox rows, pending first then the most recently changed."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self._rows(
            f"{_OUTBOX} {where} ORDER BY status != 'pending', updated_at DESC LIMIT ?",
            (*args, limit),
        )
        return [_decoded(row) for row in rows]

    def for_call(self, call_uuid: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The call's outbox rows and the bookings it made in the local store."""
        items = self._rows(f"{_OUTBOX} WHERE call_uuid = ? ORDER BY created_at", (call_uuid,))
        bookings = self._rows(
            "SELECT booking_id, company_id, service_id, start, body, created_at FROM bookings"
            " WHERE idempotency_key LIKE ? ORDER BY created_at",
            (call_uuid + ":%",),
        )
        return [_decoded(row) for row in items], [_decoded(row) for row in bookings]

    def bookings(self, *, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT booking_id, idempotency_key, company_id, service_id, start, body, created_at"
            " FROM bookings ORDER BY created_at DESC LIMIT ?",
            (limit,),
        )
        return [_decoded(row) for row in rows]


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for name in ("result", "payload", "body"):
        if isinstance(row.get(name), str):
            with contextlib.suppress(ValueError):  # else shown as stored
                row[name] = json.loads(row[name])
    return row
