"""What the console's pages read from the records store (through ``RecordStore.query``,
so SQLite and PostgreSQL alike). Synchronous: the pages run them in a thread.

The store's indexes serve the common paths (a page of calls by start time, one call's
turns by its key); a transcript search scans the turns of the calls in the date range.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from agent.observe.console.latency import COLUMNS
from agent.observe.records import CallRecord, RecordStore, TurnRecord, call_from_row
from agent.observe.records_schema import CALL_COLUMNS

_COLUMNS = ", ".join(f"c.{name}" for name in CALL_COLUMNS)
# SQLite's LIKE ignores the case of ASCII letters already (and LOWER() would cost a
# scan its time); PostgreSQL's needs ILIKE for that.
_TURN_TEXT = "t.caller_text {like} ? ESCAPE '\\' OR t.agent_text {like} ? ESCAPE '\\'"


@attrs.frozen
class CallFilter:
    """The calls page's filters; None or "" is no filter. Times are epoch seconds."""

    since: float | None = None
    until: float | None = None
    company: str = ""
    outcome: str = ""
    text: str = ""  # found in what the caller or the agent said

    def where(self, dialect: str = "sqlite") -> tuple[str, list[Any]]:
        clauses, args = ["1 = 1"], []
        if self.since is not None:
            clauses.append("c.started_at >= ?")
            args.append(self.since)
        if self.until is not None:
            clauses.append("c.started_at < ?")
            args.append(self.until)
        if self.company:
            clauses.append("c.company = ?")
            args.append(self.company)
        if self.outcome == "-":  # calls still running, or that never got an outcome
            clauses.append("c.outcome IS NULL")
        elif self.outcome:
            clauses.append("c.outcome = ?")
            args.append(self.outcome)
        if self.text:
            like = "%" + _escape_like(self.text) + "%"
            text = _TURN_TEXT.format(like="ILIKE" if dialect == "postgresql" else "LIKE")
            clauses.append(f"c.uuid IN (SELECT t.call_uuid FROM turns t WHERE {text})")
            args += [like, like]
        return " AND ".join(clauses), args


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@attrs.frozen
class CallRow:
    call: CallRecord
    turns: int


def calls_page(
    store: RecordStore, selection: CallFilter, *, offset: int = 0, limit: int = 50
) -> tuple[list[CallRow], int]:
    """One page of calls, most recent first, and how many match in all."""
    where, args = selection.where(store.dialect.name)
    total = store.query(f"SELECT COUNT(*) FROM calls c WHERE {where}", args)[0][0]
    rows = store.query(
        f"SELECT {_COLUMNS}, (SELECT COUNT(*) FROM turns t WHERE t.call_uuid = c.uuid)"
        f" FROM calls c WHERE {where} ORDER BY c.started_at DESC LIMIT ? OFFSET ?",
        [*args, limit, offset],
    )
    width = len(CALL_COLUMNS)
    return [CallRow(call_from_row(r[:width]), int(r[width])) for r in rows], int(total)


def choices(store: RecordStore) -> tuple[list[str], list[str]]:
    """The companies and outcomes the filters offer (those present in the store)."""
    companies = store.query("SELECT DISTINCT company FROM calls WHERE company IS NOT NULL")
    outcomes = store.query("SELECT DISTINCT outcome FROM calls WHERE outcome IS NOT NULL")
    return sorted(r[0] for r in companies), sorted(r[0] for r in outcomes)


@attrs.frozen
class LiveCall:
    call: CallRecord
    turns: int
    last: TurnRecord | None  # the latest finished turn: where the call is now


def live_calls(store: RecordStore, *, now: float, max_call_s: float) -> list[LiveCall]:
    """Calls started and not ended, across every process writing to this store. A call
    older than the longest a call may last was cut off by a crash: it is not live.
    Two queries whatever the number of calls (the page polls every second)."""
    live = "SELECT uuid FROM calls WHERE ended_at IS NULL AND started_at >= ?"
    since = now - max_call_s
    rows = store.query(
        f"SELECT {_COLUMNS} FROM calls c WHERE c.uuid IN ({live}) ORDER BY c.started_at",
        [since],
    )
    last = store.query(
        "SELECT t.call_uuid, t.turn_index, t.caller_text, t.agent_text, x.n FROM turns t"
        " JOIN (SELECT call_uuid, MAX(turn_index) AS last, COUNT(*) AS n FROM turns"
        f" WHERE call_uuid IN ({live}) GROUP BY call_uuid) x"
        " ON x.call_uuid = t.call_uuid AND x.last = t.turn_index",
        [since],
    )
    turns = {r[0]: (TurnRecord(r[0], r[1], r[2], r[3]), int(r[4])) for r in last}
    out = []
    for row in rows:
        call = call_from_row(row)
        turn, count = turns.get(call.uuid, (None, 0))
        out.append(LiveCall(call, count, turn))
    return out


def latency_rows(
    store: RecordStore, since: float, until: float, *, max_call_s: float
) -> list[tuple[Any, ...]]:
    """(turn time, *latency.COLUMNS) of the turns whose time (their call's start plus
    the caller's end of speech; the call's start for a greeting) is in [since, until)."""
    at = "c.started_at + COALESCE(t.caller_speech_end_at, 0)"
    columns = ", ".join(f"t.{name}" for name in COLUMNS)
    return store.query(
        f"SELECT {at}, {columns} FROM turns t JOIN calls c ON c.uuid = t.call_uuid"
        f" WHERE c.started_at >= ? AND c.started_at < ? AND {at} >= ? AND {at} < ?",
        [since - max_call_s, until, since, until],
    )


def mask_caller(number: str | None, show: bool) -> str:
    """A caller's number with all but its last three digits hidden (unless shown)."""
    if not number:
        return ""
    if show or len(number) <= 3:
        return number
    return "•" * (len(number) - 3) + number[-3:]


def page_numbers(total: int, limit: int, offset: int) -> Sequence[int]:
    """The offsets of the previous and next pages (-1 where there is none)."""
    previous = max(0, offset - limit) if offset > 0 else -1
    following = offset + limit if offset + limit < total else -1
    return previous, following
