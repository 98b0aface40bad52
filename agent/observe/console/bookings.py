"""The bookings and the outbox, read from the agent's database (``VOICE_AGENT_DB``).

Read-only and synchronous (the pages run it in a thread): a connection per read,
opened ``mode=ro`` so the console can never write or create the file. The tables
belong to ``agent.business`` (``bookingstore`` and ``outbox``); a table not made yet
reads as empty.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

_OUTBOX = (
    "SELECT key, kind, company_id, call_uuid, target, status, attempts, last_error, result,"
    " created_at, updated_at, payload FROM outbox"
)


class BookingsView:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
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
