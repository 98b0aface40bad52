"""Per-call records: calls, turns and tool calls, in SQLite (WAL) or PostgreSQL.

One ``RecordStore`` per process. Every write goes to a single writer thread
through a queue, so the Trio loop never waits on the disk: ``await
store.add_turn(...)`` hands the row over and sleeps until the writer has
committed it (cancelling the wait does not cancel the write). Each write is
its own transaction, so a crash loses at most the write in flight. The
``post_*`` variants (``post_turn``...) queue the row and return at once, for
sync hooks on a call's hot path; ``await store.flush()`` waits for them.

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
import logging
import os
import queue
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import trio

from agent.base.settings import Env, default_of, setting
from agent.business.database import is_postgres
from agent.observe import records_work as work
from agent.observe.records_pg import pg_dialect
from agent.observe.records_schema import (
    CALL_COLUMNS,
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
from agent.observe.records_work import from_json

__all__ = [
    "MIGRATIONS",
    "CallRecord",
    "Dialect",
    "RecordSettings",
    "RecordStore",
    "RecordStoreError",
    "ToolCallRecord",
    "TurnRecord",
    "call_from_row",
    "open_record_store",
]

log = logging.getLogger(__name__)


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
        self.host = ""  # the agent host whose calls this store records (RecordSettings.host)
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

    async def start_call(self, uuid: str, *, started_at: float, **fields: Any) -> None:
        """Record a new call (``did``, ``caller_id``, ``company``, ``recording``; ``host``
        is this store's unless given)."""
        fields.setdefault("host", self.host or None)
        await self._submit(work.start_call(self.dialect, uuid, started_at=started_at, **fields))

    async def add_turn(self, turn: TurnRecord) -> None:
        """Write a turn; writing the same (call, index) again replaces it."""
        await self._submit(work.add_turn(self.dialect, turn))

    async def add_tool_call(self, tool_call: ToolCallRecord) -> None:
        await self._submit(work.add_tool_call(self.dialect, tool_call))

    async def end_call(self, uuid: str, *, ended_at: float, **fields: Any) -> None:
        """Complete the call's row: ``end_reason``, ``outcome``, ``transfer_target``,
        ``cost``, ``cost_detail``, ``cost_per_minute``, ``currency``, ``barge_ins``,
        ``false_interruptions``."""
        await self._submit(work.end_call(self.dialect, uuid, ended_at=ended_at, **fields))

    async def purge(self, older_than: float) -> int:
        """Delete calls started before the epoch time ``older_than`` (with their turns)."""
        return await self._submit(work.purge(self.dialect, older_than))

    async def close_unfinished(self, started_before: float, **only: Any) -> int:
        """Close the calls left without an outcome as ``interrupted``; how many
        (``host``, ``reason``, ``ended_at``: see ``records_work.close_unfinished``)."""
        unit = work.close_unfinished(self.dialect, started_before=started_before, **only)
        return await self._submit(unit)

    def close_unfinished_sync(self, started_before: float, **only: Any) -> int:
        unit = work.close_unfinished(self.dialect, started_before=started_before, **only)
        return self._submit_sync(unit)

    def purge_sync(self, older_than: float) -> int:
        """``purge`` for a caller outside Trio (a cron job, the CLI)."""
        return self._submit_sync(work.purge(self.dialect, older_than))

    # --- posted writes (return at once) ----------------------------------------------
    #
    # For sync hooks on the call's hot path: the row is queued for the writer thread
    # and the caller goes on; a failure is logged by the writer. The queue is FIFO,
    # so a call's rows are written in the order they were posted.

    def post_start_call(self, uuid: str, *, started_at: float, **fields: Any) -> None:
        fields.setdefault("host", self.host or None)
        self._post(work.start_call(self.dialect, uuid, started_at=started_at, **fields))

    def post_turn(self, turn: TurnRecord) -> None:
        self._post(work.add_turn(self.dialect, turn))

    def post_tool_call(self, tool_call: ToolCallRecord) -> None:
        self._post(work.add_tool_call(self.dialect, tool_call))

    def post_end_call(self, uuid: str, *, ended_at: float, **fields: Any) -> None:
        self._post(work.end_call(self.dialect, uuid, ended_at=ended_at, **fields))

    def _post(self, unit: Callable[[Any], Any]) -> None:
        if self._closed:
            log.error("records: the store is closed; a write was dropped")
            return
        self._queue.put((unit, _ignore))

    async def flush(self) -> None:
        """Wait until every write queued so far has been committed (or has failed)."""
        await self._submit(lambda cur: None)

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

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only SELECT (``?`` placeholders) for views such as the console."""
        return self._read(sql, args)

    _CALL_COLUMNS = ", ".join(CALL_COLUMNS)
    _TURN_COLUMNS = "call_uuid, turn_index, caller_text, agent_text, interrupted, " + ", ".join(
        TURN_TIMES
    )

    def get_call(self, uuid: str) -> CallRecord | None:
        rows = self._read(f"SELECT {self._CALL_COLUMNS} FROM calls WHERE uuid = ?", (str(uuid),))
        return call_from_row(rows[0]) if rows else None

    def calls(
        self, *, since: float | None = None, until: float | None = None, limit: int | None = 100
    ) -> list[CallRecord]:
        """Most recent calls first, started in [``since``, ``until``) (epoch times)."""
        sql = f"SELECT {self._CALL_COLUMNS} FROM calls WHERE started_at >= ? AND started_at < ?"
        sql += " ORDER BY started_at DESC"
        args: list[Any] = [_or(since, -1e300), _or(until, 1e300)]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [call_from_row(row) for row in self._read(sql, args)]

    def turns(self, uuid: str) -> list[TurnRecord]:
        rows = self._read(
            f"SELECT {self._TURN_COLUMNS} FROM turns WHERE call_uuid = ? ORDER BY turn_index",
            (str(uuid),),
        )
        return [_turn_from_row(row) for row in rows]

    def turns_between(self, since: float | None, until: float | None) -> list[TurnRecord]:
        """The turns of every call started in [``since``, ``until``), for reports."""
        columns = ", ".join(f"t.{c.strip()}" for c in self._TURN_COLUMNS.split(","))
        rows = self._read(
            f"SELECT {columns} FROM turns t JOIN calls c ON c.uuid = t.call_uuid"
            " WHERE c.started_at >= ? AND c.started_at < ? ORDER BY t.call_uuid, t.turn_index",
            (_or(since, -1e300), _or(until, 1e300)),
        )
        return [_turn_from_row(row) for row in rows]

    def tool_calls(self, uuid: str) -> list[ToolCallRecord]:
        rows = self._read(
            "SELECT call_uuid, name, arguments, result, latency_s, error, turn_index, at"
            " FROM tool_calls WHERE call_uuid = ? ORDER BY id",
            (str(uuid),),
        )
        return [
            ToolCallRecord(r[0], r[1], from_json(r[2]), from_json(r[3]), r[4], r[5], r[6], r[7])
            for r in rows
        ]


def _ignore(result: Any, error: BaseException | None) -> None:
    """A posted write's completion: the writer thread has already logged a failure."""


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _turn_from_row(row: Sequence[Any]) -> TurnRecord:
    return TurnRecord(row[0], row[1], row[2], row[3], bool(row[4]), *row[5:])


def call_from_row(row: Sequence[Any]) -> CallRecord:
    values = dict(zip(CALL_COLUMNS, row, strict=True))
    values["cost_detail"] = from_json(values["cost_detail"])
    return CallRecord(**values)


# --- settings -------------------------------------------------------------------


@attrs.frozen
class RecordSettings:
    """Where records go and how long they are kept.

    ``url`` selects PostgreSQL (``postgresql://...``, see ``agent.observe.records_pg``);
    otherwise ``path`` is the SQLite file. By default that is the agent's own
    database (``VOICE_AGENT_DB``), so the calls sit beside the bookings and the
    outbox in one file (the table names do not overlap).
    """

    path: str = default_of("VOICE_AGENT_DB")
    url: str = ""
    retention_days: float = setting("VOICE_AGENT_RECORDS_RETENTION_DAYS")
    host: str = ""  # this agent host's name, written on each call (see host_name)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RecordSettings:
        reader = Env.of(env)
        db = reader.get("VOICE_AGENT_DB")
        # A PostgreSQL VOICE_AGENT_DB holds the records of every host, beside the rest.
        shared = db if is_postgres(db) and not reader.get("VOICE_AGENT_RECORDS_PATH") else ""
        return cls(
            path=reader.get("VOICE_AGENT_RECORDS_PATH") or db,
            url=reader.get("VOICE_AGENT_RECORDS_URL") or shared,
            retention_days=reader.get("VOICE_AGENT_RECORDS_RETENTION_DAYS"),
            host=host_name(reader),
        )

    def purge_cutoff(self, now: float) -> float:
        """The epoch time before which calls are purged, given the epoch ``now``."""
        return now - self.retention_days * 86400.0


def host_name(env: Mapping[str, str] | Env | None = None) -> str:
    """This agent host's name: VOICE_AGENT_HOST_NAME, else the machine's host name."""
    return Env.of(env).get("VOICE_AGENT_HOST_NAME") or socket.gethostname()


def open_record_store(settings: RecordSettings) -> RecordStore:
    """Open the store the settings name (blocking: call at start-up or in a thread)."""
    store = RecordStore(pg_dialect(settings.url)) if settings.url else None
    store = store or RecordStore.open_sqlite(settings.path)
    store.host = settings.host
    return store
