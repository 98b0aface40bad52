"""``CallMetadataStore`` for several processes: one small SQLite file they all open.

With ``serve --workers N`` the FastAGI server runs once, in the parent, while
the AudioSocket call lands in any worker; the setup metadata, the claim, the
conversation's decision and each worker's number of calls in progress meet in
this file. Same methods and semantics as ``agent.pbx.callmeta.CallMetadataStore``
(see there), plus the per-worker load for the call limit.

The file lives in a fresh temporary directory the parent makes at start and
removes at exit: it holds only calls in flight, so it is opened with
``synchronous=OFF`` (a crash of the machine ends those calls anyway) and WAL.
Each operation is then one short transaction on the page cache (tens of
microseconds), cheap enough to run inside the Trio loop; ``BEGIN IMMEDIATE``
serialises the few writers and makes ``claim`` atomic across processes.

``now`` must come from one clock shared by every process: ``time.monotonic``.
Pure apart from sqlite3 (no trio).
"""

from __future__ import annotations

import json
import sqlite3
import uuid as _uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from agent.pbx.callmeta import Action, CallMetadata, Decision, UnknownCallError, _key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    uuid TEXT PRIMARY KEY,
    metadata TEXT NOT NULL,
    expires_at REAL NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0,
    ended INTEGER NOT NULL DEFAULT 0,
    action TEXT,
    target TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS worker_load (pid INTEGER PRIMARY KEY, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_UNKNOWN = "not issued by the AGI setup or expired"


class SharedCallMetadataStore:
    def __init__(
        self,
        path: str | Path,
        *,
        pending_ttl_s: float = 60.0,
        claimed_ttl_s: float = 4 * 3600.0,
        busy_timeout_s: float = 2.0,
    ) -> None:
        if pending_ttl_s <= 0 or claimed_ttl_s <= 0:
            raise ValueError("pending_ttl_s and claimed_ttl_s must be greater than 0")
        self.path = Path(path)
        self.pending_ttl_s = pending_ttl_s
        self.claimed_ttl_s = claimed_ttl_s
        # isolation_level=None: we issue BEGIN ourselves, so every write is one
        # explicit transaction.
        self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- the call metadata (CallMetadataStore's interface) ----------------------------

    def add(self, metadata: CallMetadata, now: float) -> None:
        data = json.dumps({**attrs.asdict(metadata), "uuid": str(metadata.uuid)})
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO calls (uuid, metadata, expires_at) VALUES (?, ?, ?)",
                    (str(metadata.uuid), data, now + self.pending_ttl_s),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"call {metadata.uuid} is already known") from None

    def is_issued(self, call_uuid: _uuid.UUID | str, now: float) -> bool:
        key = _text_key(call_uuid)
        row = self._db.execute(
            "SELECT 1 FROM calls WHERE uuid = ? AND expires_at > ?", (key, now)
        ).fetchone()
        return row is not None

    def claim(self, call_uuid: _uuid.UUID | str, now: float) -> CallMetadata:
        key = _text_key(call_uuid)
        with self._write() as db:
            row = db.execute(
                "UPDATE calls SET claimed = 1, expires_at = ? "
                "WHERE uuid = ? AND claimed = 0 AND expires_at > ? RETURNING metadata",
                (now + self.claimed_ttl_s, key, now),
            ).fetchone()
            taken = (
                row is None
                and db.execute(
                    "SELECT 1 FROM calls WHERE uuid = ? AND expires_at > ?", (key, now)
                ).fetchone()
            )
        if row is None:
            why = "already claimed by another connection" if taken else _UNKNOWN
            raise UnknownCallError(f"call {call_uuid}: {why}")
        data = json.loads(row[0])
        return CallMetadata(**{**data, "uuid": _uuid.UUID(data["uuid"])})

    def set_decision(
        self, call_uuid: _uuid.UUID | str, action: Action, target: str = "", *, now: float
    ) -> Decision:
        decision = Decision(action, target)  # validates before anything is stored
        with self._write() as db:
            changed = db.execute(
                "UPDATE calls SET action = ?, target = ?, ended = 1 "
                "WHERE uuid = ? AND expires_at > ?",
                (decision.action, decision.target, _text_key(call_uuid), now),
            ).rowcount
        if not changed:
            raise UnknownCallError(f"call {call_uuid}: {_UNKNOWN}")
        return decision

    def mark_ended(self, call_uuid: _uuid.UUID | str, now: float) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE calls SET ended = 1 WHERE uuid = ? AND expires_at > ?",
                (_text_key(call_uuid), now),
            )

    def in_call(self, call_uuid: _uuid.UUID | str, now: float) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM calls WHERE uuid = ? AND expires_at > ? AND claimed = 1 AND ended = 0",
            (_text_key(call_uuid), now),
        ).fetchone()
        return row is not None

    def take_decision(self, call_uuid: _uuid.UUID | str, now: float) -> Decision | None:
        with self._write() as db:
            row = db.execute(
                "DELETE FROM calls WHERE uuid = ? AND expires_at > ? RETURNING action, target",
                (_text_key(call_uuid), now),
            ).fetchone()
        if row is None:
            raise UnknownCallError(f"call {call_uuid}: {_UNKNOWN}")
        action, target = row
        return None if action is None else Decision(action, target)

    def discard(self, call_uuid: _uuid.UUID) -> None:
        with self._write() as db:
            db.execute("DELETE FROM calls WHERE uuid = ?", (_text_key(call_uuid),))

    def expire(self, now: float) -> int:
        with self._write() as db:
            unclaimed = db.execute(
                "SELECT count(*) FROM calls WHERE expires_at <= ? AND claimed = 0", (now,)
            ).fetchone()[0]
            gone = db.execute("DELETE FROM calls WHERE expires_at <= ?", (now,)).rowcount
            if unclaimed:
                db.execute(
                    "INSERT INTO counters (name, value) VALUES ('expired_unclaimed', ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                    (unclaimed,),
                )
        return gone

    def pending_count(self, now: float) -> int:
        return self._count("claimed = 0 AND expires_at > ?", now)

    def awaiting_next(self, now: float) -> int:
        return self._count("action IS NOT NULL AND expires_at > ?", now)

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM calls").fetchone()[0]

    def statistics(self) -> dict[str, int]:
        claimed = self._db.execute("SELECT count(*) FROM calls WHERE claimed = 1").fetchone()[0]
        expired = self._db.execute(
            "SELECT value FROM counters WHERE name = 'expired_unclaimed'"
        ).fetchone()
        return {
            "pending": len(self) - claimed,
            "claimed": claimed,
            "expired_unclaimed": expired[0] if expired else 0,
        }

    def _count(self, where: str, now: float) -> int:
        return self._db.execute(f"SELECT count(*) FROM calls WHERE {where}", (now,)).fetchone()[0]

    # --- calls in progress per worker (for the call limit) ------------------------------

    def set_load(self, pid: int, active: int) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO worker_load (pid, active) VALUES (?, ?) "
                "ON CONFLICT (pid) DO UPDATE SET active = excluded.active",
                (pid, active),
            )

    def total_load(self) -> int:
        return self._db.execute("SELECT coalesce(sum(active), 0) FROM worker_load").fetchone()[0]

    def forget_worker(self, pid: int) -> None:
        """A worker died: its calls died with it."""
        with self._write() as db:
            db.execute("DELETE FROM worker_load WHERE pid = ?", (pid,))


def _text_key(call_uuid: _uuid.UUID | str) -> str:
    """The canonical text of a UUID; garbage maps to a key no row has."""
    try:
        return str(_key(call_uuid))
    except ValueError:
        return ""
