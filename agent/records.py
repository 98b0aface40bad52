"""Per-call records: calls, turns and tool calls, in SQLite (WAL) or PostgreSQL.

One ``RecordStore`` per process. Every write goes to a single writer thread
through a queue, so the Trio loop never waits on the disk: ``await
store.add_turn(...)`` hands the row over and sleeps until the writer has
committed it (cancelling the wait does not cancel the write). Each write is
its own transaction, so a crash loses at most the write in flight.

Reads (``get_call``, ``calls``, ``turns``, ``tool_calls``) are synchronous and
use their own connection (WAL lets readers run beside the writer); they are
meant for reports and tools. From inside Trio wrap them in
``trio.to_thread.run_sync``.

Timestamps: ``started_at``/``ended_at`` of a call are wall-clock epoch seconds
(``purge`` compares them with a cutoff); a turn's timestamps are seconds since
the call started on the call's clock (``trio.current_time() - started``), so
they stay exact under a MockClock and subtract into latencies directly.

The schema is versioned: ``MIGRATIONS`` is an ordered list, each applied once
in its own transaction at open, recorded in ``schema_version``. Add a
migration, never edit an applied one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import trio

from agent.config import env_float, env_str
from agent.records_schema import (
    MIGRATIONS,
    TURN_TIMES,
    CallRecord,
    Dialect,
    RecordStoreError,
    ToolCallRecord,
    TurnRecord,
    migrate,
    sqlite_dialect,
    transaction,
)

__all__ = [
    "MIGRATIONS",
    "CallRecord",
    "Dialect",
    "RecordSettings",
    "RecordStore",
    "RecordStoreError",
    "ToolCallRecord",
    "TurnRecord",
    "open_record_store",
]

log = logging.getLogger("agent.records")


# --- the store ------------------------------------------------------------------

_STOP = object()


class RecordStore:
    """Per-call records with one writer thread; see the module docstring."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        opened: list[Any] = []
        try:
            opened.append(dialect.connect())
            self.schema_version = migrate(opened[0], dialect)
            opened.append(dialect.connect())
        except Exception as exc:
            for conn in opened:
                conn.close()
            if isinstance(exc, RecordStoreError):
                raise
            raise RecordStoreError(f"cannot open the {dialect.name} records store: {exc}") from exc
        self._write_conn, self._read_conn = opened
        self._read_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="records-writer", daemon=True)
        self._writer.start()

    @classmethod
    def open_sqlite(cls, path: str | os.PathLike[str]) -> RecordStore:
        return cls(sqlite_dialect(path))

    # --- writer thread ---------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            work, done = item
            try:
                with transaction(self._write_conn) as cur:
                    result = work(cur)
            except Exception as exc:
                log.error("records: write failed: %s", exc)
                done(None, RecordStoreError(f"records write failed: {exc}"))
                self._write_conn = self._reconnect_if_broken(self._write_conn)
            else:
                done(result, None)

    def _reconnect_if_broken(self, conn: Any) -> Any:
        # A PostgreSQL restart or a dropped socket closes the connection; the failed
        # write is reported (it may or may not have committed), later ones get a new one.
        if not getattr(conn, "closed", False) and not getattr(conn, "broken", False):
            return conn
        try:
            fresh = self.dialect.connect()
        except Exception as exc:
            log.error("records: cannot reconnect to %s: %s", self.dialect.name, exc)
            return conn
        with contextlib.suppress(Exception):
            conn.close()
        log.info("records: reconnected to %s", self.dialect.name)
        return fresh

    async def _submit(self, work: Callable[[Any], Any]) -> Any:
        if self._closed:
            raise RecordStoreError("the records store is closed")
        token = trio.lowlevel.current_trio_token()
        finished = trio.Event()
        outcome: list[Any] = []

        def done(result: Any, error: BaseException | None) -> None:
            outcome.extend((result, error))
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(finished.set)

        self._queue.put((work, done))
        await finished.wait()
        result, error = outcome
        if error is not None:
            raise error
        return result

    def _submit_sync(self, work: Callable[[Any], Any]) -> Any:
        """The same as ``_submit`` for threads without Trio (CLI tools, tests)."""
        if self._closed:
            raise RecordStoreError("the records store is closed")
        finished = threading.Event()
        outcome: list[Any] = []

        def done(result: Any, error: BaseException | None) -> None:
            outcome.extend((result, error))
            finished.set()

        self._queue.put((work, done))
        finished.wait()
        result, error = outcome
        if error is not None:
            raise error
        return result

    def close(self) -> None:
        """Finish the queued writes, stop the writer and close the connections."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join()
        self._write_conn.close()
        with self._read_lock:
            self._read_conn.close()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- async write API ----------------------------------------------------------

    async def start_call(
        self,
        uuid: str,
        *,
        started_at: float,
        did: str | None = None,
        caller_id: str | None = None,
        company: str | None = None,
    ) -> None:
        sql = self.dialect.sql(
            "INSERT INTO calls (uuid, did, caller_id, company, started_at) VALUES (?, ?, ?, ?, ?)"
        )
        args = (str(uuid), did, caller_id, company, started_at)
        await self._submit(lambda cur: cur.execute(sql, args))

    async def add_turn(self, turn: TurnRecord) -> None:
        """Write a turn; writing the same (call, index) again replaces it."""
        if turn.index < 0:
            raise ValueError(f"turn index {turn.index}: must be 0 or more")
        columns = ("call_uuid", "turn_index", "caller_text", "agent_text", "interrupted")
        columns += TURN_TIMES
        values = (
            str(turn.call_uuid),
            turn.index,
            turn.caller_text,
            turn.agent_text,
            int(turn.interrupted),
            *(getattr(turn, name) for name in TURN_TIMES),
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
        sql = self.dialect.sql(
            f"INSERT INTO turns ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT (call_uuid, turn_index) DO UPDATE SET {updates}"
        )
        await self._submit(lambda cur: cur.execute(sql, values))

    async def add_tool_call(self, tool_call: ToolCallRecord) -> None:
        sql = self.dialect.sql(
            "INSERT INTO tool_calls (call_uuid, turn_index, name, arguments, result, latency_s,"
            " error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        values = (
            str(tool_call.call_uuid),
            tool_call.turn_index,
            tool_call.name,
            _to_json(tool_call.arguments),
            _to_json(tool_call.result),
            tool_call.latency_s,
            tool_call.error,
            tool_call.at,
        )
        await self._submit(lambda cur: cur.execute(sql, values))

    async def end_call(
        self,
        uuid: str,
        *,
        ended_at: float,
        end_reason: str | None = None,
        outcome: str | None = None,
        transfer_target: str | None = None,
        cost: float | None = None,
        cost_detail: Mapping[str, float] | None = None,
    ) -> None:
        sql = self.dialect.sql(
            "UPDATE calls SET ended_at = ?, end_reason = ?, outcome = ?, transfer_target = ?,"
            " cost = ?, cost_detail = ? WHERE uuid = ?"
        )
        args = (
            ended_at,
            end_reason,
            outcome,
            transfer_target,
            cost,
            _to_json(dict(cost_detail)) if cost_detail is not None else None,
            str(uuid),
        )

        def work(cur: Any) -> None:
            cur.execute(sql, args)
            if cur.rowcount == 0:
                raise RecordStoreError(f"end_call: no call {uuid} (start_call was not recorded)")

        await self._submit(work)

    async def purge(self, older_than: float) -> int:
        """Delete calls started before the epoch time ``older_than`` (with their turns)."""
        return await self._submit(self._purge_work(older_than))

    def purge_sync(self, older_than: float) -> int:
        """``purge`` for a caller outside Trio (a cron job, the CLI)."""
        return self._submit_sync(self._purge_work(older_than))

    def _purge_work(self, older_than: float) -> Callable[[Any], int]:
        select = self.dialect.sql("SELECT uuid FROM calls WHERE started_at < ?")
        # Children are deleted explicitly too: an old SQLite file may lack foreign_keys.
        deletes = [
            self.dialect.sql(f"DELETE FROM {table} WHERE call_uuid IN ({select})")
            for table in ("turns", "tool_calls")
        ]
        delete_calls = self.dialect.sql("DELETE FROM calls WHERE started_at < ?")

        def work(cur: Any) -> int:
            for statement in deletes:
                cur.execute(statement, (older_than,))
            cur.execute(delete_calls, (older_than,))
            return cur.rowcount

        return work

    # --- sync read API ------------------------------------------------------------

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._closed:
            raise RecordStoreError("the records store is closed")
        try:
            with self._read_lock:
                try:
                    return list(self._read_conn.execute(self.dialect.sql(sql), tuple(args)))
                except Exception:
                    fresh = self._reconnect_if_broken(self._read_conn)
                    if fresh is self._read_conn:
                        raise
                    self._read_conn = fresh  # reads are idempotent: try once more
                    return list(fresh.execute(self.dialect.sql(sql), tuple(args)))
        except Exception as exc:
            raise RecordStoreError(f"records read failed: {exc}") from exc

    _CALL_COLUMNS = (
        "uuid, did, caller_id, company, started_at, ended_at, outcome, transfer_target,"
        " end_reason, cost, cost_detail"
    )

    def get_call(self, uuid: str) -> CallRecord | None:
        rows = self._read(f"SELECT {self._CALL_COLUMNS} FROM calls WHERE uuid = ?", (str(uuid),))
        return _call_from_row(rows[0]) if rows else None

    def calls(self, *, since: float | None = None, limit: int = 100) -> list[CallRecord]:
        """Most recent calls first; ``since`` is an epoch time."""
        rows = self._read(
            f"SELECT {self._CALL_COLUMNS} FROM calls WHERE started_at >= ?"
            " ORDER BY started_at DESC LIMIT ?",
            (since if since is not None else float("-inf"), limit),
        )
        return [_call_from_row(row) for row in rows]

    def turns(self, uuid: str) -> list[TurnRecord]:
        columns = "call_uuid, turn_index, caller_text, agent_text, interrupted, "
        rows = self._read(
            f"SELECT {columns}{', '.join(TURN_TIMES)} FROM turns WHERE call_uuid = ?"
            " ORDER BY turn_index",
            (str(uuid),),
        )
        return [TurnRecord(row[0], row[1], row[2], row[3], bool(row[4]), *row[5:]) for row in rows]

    def tool_calls(self, uuid: str) -> list[ToolCallRecord]:
        rows = self._read(
            "SELECT call_uuid, name, arguments, result, latency_s, error, turn_index, at"
            " FROM tool_calls WHERE call_uuid = ? ORDER BY id",
            (str(uuid),),
        )
        return [
            ToolCallRecord(r[0], r[1], _from_json(r[2]), _from_json(r[3]), r[4], r[5], r[6], r[7])
            for r in rows
        ]


def _to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _call_from_row(row: Sequence[Any]) -> CallRecord:
    *head, cost_detail = row
    return CallRecord(*head, cost_detail=_from_json(cost_detail))


# --- settings -------------------------------------------------------------------


@attrs.frozen
class RecordSettings:
    """Where records go and how long they are kept.

    ``url`` selects PostgreSQL (``postgresql://...``, see ``agent.records_pg``);
    otherwise ``path`` is the SQLite file.
    """

    path: str = "voice-agent-records.db"
    url: str = ""
    retention_days: float = 90.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RecordSettings:
        env = os.environ if env is None else env
        return cls(
            path=env_str(env, "VOICE_AGENT_RECORDS_PATH", "voice-agent-records.db"),
            url=env_str(env, "VOICE_AGENT_RECORDS_URL", ""),
            retention_days=env_float(env, "VOICE_AGENT_RECORDS_RETENTION_DAYS", 90.0, lo=0.0),
        )

    def purge_cutoff(self, now: float) -> float:
        """The epoch time before which calls are purged, given the epoch ``now``."""
        return now - self.retention_days * 86400.0


def open_record_store(settings: RecordSettings) -> RecordStore:
    """Open the store the settings name (blocking: call at start-up or in a thread)."""
    if settings.url:
        from agent.records_pg import open_pg_store

        return open_pg_store(settings.url)
    return RecordStore.open_sqlite(settings.path)
