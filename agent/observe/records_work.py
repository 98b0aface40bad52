"""The records store's writes as units of work: ``work(cursor) -> result``.

Pure: each builder takes the dialect and the values and returns a function the
store's writer thread runs inside one transaction. Kept apart from
``agent.observe.records`` so the awaited writes (``await store.add_turn``) and the
posted ones (``store.post_turn``, which return at once) share one SQL text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from agent.observe.records_schema import (
    TURN_TIMES,
    Dialect,
    RecordStoreError,
    ToolCallRecord,
    TurnRecord,
)

Work = Callable[[Any], Any]


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def start_call(
    dialect: Dialect,
    uuid: str,
    *,
    started_at: float,
    did: str | None = None,
    caller_id: str | None = None,
    company: str | None = None,
    recording: str | None = None,
    host: str | None = None,
) -> Work:
    sql = dialect.sql(
        "INSERT INTO calls (uuid, did, caller_id, company, started_at, recording, host)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    args = (str(uuid), did, caller_id, company, started_at, recording, host)
    return lambda cur: cur.execute(sql, args)


def add_turn(dialect: Dialect, turn: TurnRecord) -> Work:
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
    sql = dialect.sql(
        f"INSERT INTO turns ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT (call_uuid, turn_index) DO UPDATE SET {updates}"
    )
    return lambda cur: cur.execute(sql, values)


def add_tool_call(dialect: Dialect, tool_call: ToolCallRecord) -> Work:
    sql = dialect.sql(
        "INSERT INTO tool_calls (call_uuid, turn_index, name, arguments, result, latency_s,"
        " error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    values = (
        str(tool_call.call_uuid),
        tool_call.turn_index,
        tool_call.name,
        to_json(tool_call.arguments),
        to_json(tool_call.result),
        tool_call.latency_s,
        tool_call.error,
        tool_call.at,
    )
    return lambda cur: cur.execute(sql, values)


def close_unfinished(
    dialect: Dialect,
    *,
    started_before: float,
    host: str | None = None,
    reason: str = "interrupted",
    ended_at: float | None = None,
) -> Work:
    """Close every call with no outcome that started before ``started_before``
    as ``interrupted`` (the process that served it was killed); returns how many.
    ``host``: only that agent host's calls (a shared store holds other hosts' live
    ones). ``ended_at``: when it was noticed; unknown (None) is its start."""
    sql = dialect.sql(
        "UPDATE calls SET outcome = 'interrupted',"
        " end_reason = COALESCE(end_reason, ?),"
        " ended_at = COALESCE(ended_at, ?, started_at)"
        " WHERE outcome IS NULL AND started_at < ?" + (" AND host = ?" if host is not None else "")
    )
    args = (reason, ended_at, started_before) + ((host,) if host is not None else ())

    def unit(cur: Any) -> int:
        cur.execute(sql, args)
        return cur.rowcount

    return unit


def end_call(
    dialect: Dialect,
    uuid: str,
    *,
    ended_at: float,
    end_reason: str | None = None,
    outcome: str | None = None,
    transfer_target: str | None = None,
    cost: float | None = None,
    cost_detail: Mapping[str, float] | None = None,
    cost_per_minute: float | None = None,
    currency: str | None = None,
    barge_ins: int | None = None,
    false_interruptions: int | None = None,
) -> Work:
    sql = dialect.sql(
        "UPDATE calls SET ended_at = ?, end_reason = ?, outcome = ?, transfer_target = ?,"
        " cost = ?, cost_detail = ?, cost_per_minute = ?, currency = ?, barge_ins = ?,"
        " false_interruptions = ? WHERE uuid = ?"
    )
    args = (
        ended_at,
        end_reason,
        outcome,
        transfer_target,
        cost,
        to_json(dict(cost_detail)) if cost_detail is not None else None,
        cost_per_minute,
        currency,
        barge_ins,
        false_interruptions,
        str(uuid),
    )

    def work(cur: Any) -> None:
        cur.execute(sql, args)
        if cur.rowcount == 0:
            raise RecordStoreError(f"end_call: no call {uuid} (start_call was not recorded)")

    return work


def purge(dialect: Dialect, older_than: float) -> Work:
    """Delete calls started before the epoch time ``older_than`` (with their turns)."""
    select = dialect.sql("SELECT uuid FROM calls WHERE started_at < ?")
    # Children are deleted explicitly too: an old SQLite file may lack foreign_keys.
    deletes = [
        dialect.sql(f"DELETE FROM {table} WHERE call_uuid IN ({select})")
        for table in ("turns", "tool_calls")
    ]
    delete_calls = dialect.sql("DELETE FROM calls WHERE started_at < ?")

    def work(cur: Any) -> int:
        for statement in deletes:
            cur.execute(statement, (older_than,))
        cur.execute(delete_calls, (older_than,))
        return cur.rowcount

    return work
