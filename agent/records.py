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
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import trio

from agent.config import env_float, env_str
from agent.errors import AgentError, ConfigError

log = logging.getLogger("agent.records")


class RecordStoreError(AgentError):
    """The records store failed (open, migrate, write or read)."""


# --- value classes ----------------------------------------------------------


@attrs.frozen
class CallRecord:
    uuid: str
    did: str | None = None
    caller_id: str | None = None
    company: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None  # booked, quoted, transferred, voicemail, abandoned...
    transfer_target: str | None = None
    end_reason: str | None = None  # hangup, agent, max-duration, error...
    cost: float | None = None
    cost_detail: Mapping[str, float] | None = None


@attrs.frozen
class TurnRecord:
    call_uuid: str
    index: int
    caller_text: str = ""
    agent_text: str = ""  # what the caller actually heard
    interrupted: bool = False
    # Seconds since the call started; None where the stage did not happen.
    caller_speech_end_at: float | None = None  # VAD speech end
    stt_final_at: float | None = None
    llm_request_at: float | None = None
    llm_first_token_at: float | None = None
    tts_request_at: float | None = None  # first text handed to the TTS
    tts_first_audio_at: float | None = None
    first_agent_frame_at: float | None = None
    barge_in_at: float | None = None  # VAD onset of the caller's interruption
    last_agent_frame_at: float | None = None


@attrs.frozen
class ToolCallRecord:
    call_uuid: str
    name: str
    arguments: Any = None  # JSON-serialisable
    result: Any = None  # JSON-serialisable
    latency_s: float | None = None
    error: str | None = None
    turn_index: int | None = None
    at: float | None = None  # seconds since the call started


_TURN_TIMES = tuple(f.name for f in attrs.fields(TurnRecord) if f.name.endswith("_at"))

# --- schema -------------------------------------------------------------------

# {id} and {real} are filled per dialect; everything else is common SQL.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "calls, turns, tool calls",
        (
            """CREATE TABLE calls (
                uuid TEXT PRIMARY KEY,
                did TEXT, caller_id TEXT, company TEXT,
                started_at {real}, ended_at {real},
                outcome TEXT, transfer_target TEXT, end_reason TEXT,
                cost {real}, cost_detail TEXT)""",
            "CREATE INDEX calls_started_at ON calls (started_at)",
            """CREATE TABLE turns (
                call_uuid TEXT NOT NULL REFERENCES calls (uuid) ON DELETE CASCADE,
                turn_index INTEGER NOT NULL,
                caller_text TEXT NOT NULL, agent_text TEXT NOT NULL,
                interrupted INTEGER NOT NULL,
                """
            + ",\n".join(f"{name} {{real}}" for name in _TURN_TIMES)
            + """,
                PRIMARY KEY (call_uuid, turn_index))""",
            """CREATE TABLE tool_calls (
                id {id},
                call_uuid TEXT NOT NULL REFERENCES calls (uuid) ON DELETE CASCADE,
                turn_index INTEGER, name TEXT NOT NULL,
                arguments TEXT, result TEXT, latency_s {real}, error TEXT, at {real})""",
            "CREATE INDEX tool_calls_call ON tool_calls (call_uuid)",
        ),
    ),
)


@attrs.frozen
class Dialect:
    """What differs between SQLite and PostgreSQL, kept to the minimum."""

    name: str
    connect: Callable[[], Any]  # a fresh DB-API connection in autocommit mode
    param: str  # "?" or "%s"
    id_type: str
    real_type: str

    def sql(self, text: str) -> str:
        text = text.replace("{id}", self.id_type).replace("{real}", self.real_type)
        return text if self.param == "?" else text.replace("?", self.param)


def sqlite_dialect(path: str | os.PathLike[str]) -> Dialect:
    path = os.fspath(path)
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        # The reader has its own connection; an in-memory DB would be private to one.
        raise ConfigError(f"records path {path!r}: needs a file (an in-memory DB is not shared)")

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL survives a process crash (not a power cut) and spares an fsync.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    return Dialect("sqlite", connect, "?", "INTEGER PRIMARY KEY AUTOINCREMENT", "REAL")


@contextlib.contextmanager
def _transaction(conn: Any) -> Iterator[Any]:
    cur = conn.cursor()
    cur.execute("BEGIN")
    try:
        yield cur
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")


def migrate(conn: Any, dialect: Dialect) -> int:
    """Apply the migrations this database lacks; returns the schema version."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    current = row[0] or 0
    latest = MIGRATIONS[-1][0]
    if current > latest:
        raise RecordStoreError(
            f"the records database is at schema version {current}, newer than this agent's"
            f" {latest}; upgrade the agent"
        )
    for version, description, statements in MIGRATIONS:
        if version <= current:
            continue
        with _transaction(conn) as cur:
            for statement in statements:
                cur.execute(dialect.sql(statement))
            cur.execute(dialect.sql("INSERT INTO schema_version (version) VALUES (?)"), (version,))
        log.info("records: applied migration %d (%s)", version, description)
        current = version
    return current


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
                with _transaction(self._write_conn) as cur:
                    result = work(cur)
            except Exception as exc:
                log.error("records: write failed: %s", exc)
                done(None, RecordStoreError(f"records write failed: {exc}"))
            else:
                done(result, None)

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
        columns += _TURN_TIMES
        values = (
            str(turn.call_uuid),
            turn.index,
            turn.caller_text,
            turn.agent_text,
            int(turn.interrupted),
            *(getattr(turn, name) for name in _TURN_TIMES),
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
                return list(self._read_conn.execute(self.dialect.sql(sql), tuple(args)))
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
            f"SELECT {columns}{', '.join(_TURN_TIMES)} FROM turns WHERE call_uuid = ?"
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
