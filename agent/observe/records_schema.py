"""The records schema: value classes, the versioned migrations and the SQL dialects.

Pure of I/O apart from ``migrate`` (which runs on a connection it is given).
``agent.observe.records`` holds the store; this module is what it and
``agent.observe.records_pg`` share.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from agent.base.errors import AgentError, ConfigError

log = logging.getLogger(__name__)


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
    # Added by migration 2.
    cost_per_minute: float | None = None
    currency: str | None = None
    recording: str | None = None  # the WAV file of the call, when recording is on
    barge_ins: int | None = None
    false_interruptions: int | None = None  # pauses for noise that resumed
    # Added by migration 3: the agent host that served the call (VOICE_AGENT_HOST_NAME).
    host: str | None = None


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


TURN_TIMES = tuple(f.name for f in attrs.fields(TurnRecord) if f.name.endswith("_at"))

# The per-stage latencies a turn's timestamps give, shared by metrics and reports.
STAGES = (
    "mouth_to_ear",  # caller speech end (VAD) -> first agent frame sent
    "stt_final",  # caller speech end -> STT final transcript
    "llm_first_token",  # LLM request -> first token
    "tts_first_audio",  # first text to the TTS -> first audio back
    "agent_added",  # mouth-to-ear minus the three provider stages
    "barge_in_reaction",  # caller onset over the agent -> last agent frame sent
)


def _span(start: float | None, end: float | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return end - start


def turn_latencies(turn: TurnRecord) -> dict[str, float]:
    """The stages of ``STAGES`` this turn has (a greeting has no mouth-to-ear, only an
    interrupted turn has a barge-in reaction); a stage that ran backwards (an STT
    final before the VAD heard the speech end) is left out, not counted as zero."""
    t = turn
    out: dict[str, float] = {}
    provider_total = 0.0
    for stage, start, end in (
        ("stt_final", t.caller_speech_end_at, t.stt_final_at),
        ("llm_first_token", t.llm_request_at, t.llm_first_token_at),
        ("tts_first_audio", t.tts_request_at, t.tts_first_audio_at),
    ):
        span = _span(start, end)
        if span is not None:
            out[stage] = span
            provider_total += span
    mouth_to_ear = _span(t.caller_speech_end_at, t.first_agent_frame_at)
    if mouth_to_ear is not None:
        out["mouth_to_ear"] = mouth_to_ear
        out["agent_added"] = max(0.0, mouth_to_ear - provider_total)
    reaction = _span(t.barge_in_at, t.last_agent_frame_at)
    if t.interrupted and reaction is not None:
        out["barge_in_reaction"] = reaction
    return out


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
            + ",\n".join(f"{name} {{real}}" for name in TURN_TIMES)
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
    (
        2,
        "cost per minute, currency, recording, barge-in counts of a call",
        (
            "ALTER TABLE calls ADD COLUMN cost_per_minute {real}",
            "ALTER TABLE calls ADD COLUMN currency TEXT",
            "ALTER TABLE calls ADD COLUMN recording TEXT",
            "ALTER TABLE calls ADD COLUMN barge_ins INTEGER",
            "ALTER TABLE calls ADD COLUMN false_interruptions INTEGER",
        ),
    ),
    (
        3,
        "the agent host of a call",
        (
            "ALTER TABLE calls ADD COLUMN host TEXT",
            "CREATE INDEX calls_unfinished ON calls (host, ended_at)",
        ),
    ),
)

CALL_COLUMNS = tuple(f.name for f in attrs.fields(CallRecord))


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
def transaction(conn: Any) -> Iterator[Any]:
    cur = conn.cursor()
    cur.execute("BEGIN")
    try:
        yield cur
    except BaseException:
        # On a broken connection ROLLBACK fails too; the original error is the news.
        with contextlib.suppress(Exception):
            cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")


def migrate(conn: Any, dialect: Dialect) -> int:
    """Apply the migrations this database lacks; returns the schema version."""
    if dialect.name == "postgresql":
        # Several hosts start at once against one server: they migrate in turn, the
        # version table included (two concurrent CREATE TABLE IF NOT EXISTS collide).
        conn.execute("SELECT pg_advisory_lock(7301019)")
        try:
            return _migrate(conn, dialect)
        finally:
            conn.execute("SELECT pg_advisory_unlock(7301019)")
    return _migrate(conn, dialect)


def _migrate(conn: Any, dialect: Dialect) -> int:
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
        with transaction(conn) as cur:
            for statement in statements:
                cur.execute(dialect.sql(statement))
            cur.execute(dialect.sql("INSERT INTO schema_version (version) VALUES (?)"), (version,))
        log.info("records: applied migration %d (%s)", version, description)
        current = version
    return current
