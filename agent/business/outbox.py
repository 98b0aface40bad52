"""The persistent outbox: bookings and webhook notifications that still need an answer.

A booking the API did not confirm (5xx, timeout, unreachable) and every
notification is written to the ``outbox`` table (in the agent's store,
``agent.business.database``: SQLite or the PostgreSQL that several hosts share)
with its idempotency key, before anyone is told "it will be confirmed".
``run_outbox`` retries pending rows with capped exponential backoff until a
final answer: a booking is ``confirmed`` (201/200) or ``failed`` (409 slot
taken, 422 invalid; the reason is recorded and the business is asked to call
the customer back); a notification is ``confirmed`` on a 2xx and ``failed`` on
a final 4xx. Because the key never changes, a retry after a lost answer can
never create a second booking.

Rows survive restarts: ``run_outbox`` retries every pending row when it starts.
A live call learns the end of its booking through ``Outbox.wait_final(key)`` or
the ``on_final`` callback.

Many workers on many hosts may run ``run_outbox`` on one store: a worker
*claims* a row before each try (``Outbox.claim``: ``SELECT ... FOR UPDATE SKIP
LOCKED`` on PostgreSQL, a conditional ``UPDATE`` under ``BEGIN IMMEDIATE`` on
SQLite) with a lease, so exactly one worker tries a row at a time. A failed try
keeps the lease until the row's next retry (the backoff holds on every host);
a worker that dies mid-try loses its lease after ``lease_s`` and another takes
the row over. The Idempotency-Key makes that second try of a booking harmless.

Scheduling uses Trio's clock (so tests run in virtual time); stored times are
wall-clock epoch seconds, for people reading the table.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs
import trio

from agent.business.database import Database

log = logging.getLogger(__name__)

Kind = Literal["booking", "notify", "amend"]
Status = Literal["pending", "confirmed", "failed"]


@attrs.frozen
class Backoff:
    """Retry delays: ``initial * factor**(attempt-1)``, capped, spread by ``jitter``
    (a fraction) so many rows do not hit a recovering API at the same instant."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.1

    def __attrs_post_init__(self) -> None:
        if not (self.initial > 0 and self.factor >= 1 and self.cap >= self.initial):
            raise ValueError(f"bad backoff {self!r}: need initial > 0, factor >= 1, cap >= initial")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"backoff jitter must be in [0, 1), got {self.jitter}")

    def delay(self, attempts: int, rand: float = 0.5) -> float:
        """Seconds to wait after ``attempts`` failed tries; ``rand`` in [0, 1)."""
        base = min(self.cap, self.initial * self.factor ** max(0, attempts - 1))
        return base * (1 + self.jitter * (2 * rand - 1))


@attrs.frozen
class OutboxItem:
    key: str  # the idempotency key: "<call uuid>:<n>" for a booking
    kind: Kind
    company_id: str
    payload: dict[str, Any] = attrs.field(hash=False)
    target: str | None = None  # the URL of a notification; a booking's (an amendment's) notify URL
    call_uuid: str = ""
    status: Status = "pending"
    attempts: int = 0
    last_error: str = ""
    result: dict[str, Any] = attrs.field(factory=dict, hash=False)

    @property
    def final(self) -> bool:
        return self.status != "pending"


def _item(row: Any) -> OutboxItem:
    return OutboxItem(
        key=row["key"],
        kind=row["kind"],
        company_id=row["company_id"],
        payload=json.loads(row["payload"]),
        target=row["target"],
        call_uuid=row["call_uuid"],
        status=row["status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        result=json.loads(row["result"]),
    )


class Outbox:
    """The ``outbox`` table plus in-process signals (new work, final answers)."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock
        self._changed = trio.Event()
        self._finals: dict[str, trio.Event] = {}

    async def put_booking(
        self,
        key: str,
        company_id: str,
        body: Mapping[str, Any],
        *,
        notify_url: str | None = None,
        call_uuid: str = "",
    ) -> OutboxItem:
        """Keep a booking for retry; a key already kept returns its row unchanged."""
        return await self._put(key, "booking", company_id, body, notify_url, call_uuid)

    async def hold_booking(
        self,
        key: str,
        company_id: str,
        body: Mapping[str, Any],
        *,
        notify_url: str | None,
        call_uuid: str,
        owner: str,
        lease_s: float,
    ) -> OutboxItem:
        """Keep a booking that its call is about to try itself, leased to ``owner``:
        no worker tries it for ``lease_s``. Written before the call's own request, so
        a host that dies mid-request leaves the row to a worker on any host, which
        books it (same key, so at most once) and sends its notification."""
        now = self.clock()

        def insert(conn: Any) -> OutboxItem:
            _insert(conn, key, "booking", company_id, body, notify_url, call_uuid, now)
            conn.execute(
                "UPDATE outbox SET lease_owner = ?, lease_until = ?"
                " WHERE key = ? AND status = 'pending'",
                (owner, now + lease_s, key),
            )
            return _item(conn.execute("SELECT * FROM outbox WHERE key = ?", (key,)).fetchone())

        return await self.db.run(self.db.transaction(insert))

    async def discard(self, key: str, owner: str) -> None:
        """Forget a pending row ``owner`` holds and settled itself (its call heard the
        API's final no and goes on with the caller: nothing is left to deliver)."""
        await self.db.run(
            self.db.transaction(
                lambda conn: conn.execute(
                    "DELETE FROM outbox WHERE key = ? AND status = 'pending' AND lease_owner = ?",
                    (key, owner),
                )
            )
        )

    async def put_amendment(
        self,
        key: str,
        company_id: str,
        changes: Mapping[str, Any],
        *,
        booking_id: str | None = None,
        booking_key: str | None = None,
        call_uuid: str = "",
        notify_url: str | None = None,
        booking: Mapping[str, Any] | None = None,
    ) -> OutboxItem:
        """Keep an amendment (``PATCH`` body ``changes``) for the booking ``booking_id``,
        or, while that booking itself waits here, for the booking kept as ``booking_key``:
        it is delivered after that booking is confirmed. With ``notify_url`` the business
        hears how it ended (``booking``: the booking body before the change)."""
        if booking_id is None and booking_key is None:
            raise ValueError("an amendment needs the booking id or the kept booking's key")
        payload = {"booking_id": booking_id, "booking_key": booking_key, "changes": dict(changes)}
        if booking is not None:
            payload["booking"] = dict(booking)
        return await self._put(key, "amend", company_id, payload, notify_url, call_uuid)

    async def put_notification(
        self,
        key: str,
        company_id: str,
        url: str,
        payload: Mapping[str, Any],
        *,
        call_uuid: str = "",
    ) -> OutboxItem:
        return await self._put(key, "notify", company_id, payload, url, call_uuid)

    async def _put(self, key, kind, company_id, payload, target, call_uuid) -> OutboxItem:
        if not key:
            raise ValueError("an outbox item needs an idempotency key")
        now = self.clock()

        def insert(conn: Any) -> OutboxItem:
            _insert(conn, key, kind, company_id, payload, target, call_uuid, now)
            return _item(conn.execute("SELECT * FROM outbox WHERE key = ?", (key,)).fetchone())

        item = await self.db.run(self.db.transaction(insert))
        self._changed.set()
        return item

    async def get(self, key: str) -> OutboxItem | None:
        row = await self.db.run(
            lambda conn: conn.execute("SELECT * FROM outbox WHERE key = ?", (key,)).fetchone()
        )
        return None if row is None else _item(row)

    async def items(self, status: Status | None = None) -> list[OutboxItem]:
        """Rows in the order they were kept (all, or one status)."""
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = await self.db.run(
            lambda conn: conn.execute(
                f"SELECT * FROM outbox {where} ORDER BY created_at, key", args
            ).fetchall()
        )
        return [_item(r) for r in rows]

    async def claim(self, owner: str, keys: list[str], lease_s: float) -> list[OutboxItem]:
        """Take the lease of those ``keys`` still pending that no other worker holds
        (an expired lease is free); returns the rows this ``owner`` now holds."""
        if not keys:
            return []
        now = self.clock()
        marks = ", ".join("?" * len(keys))
        # SKIP LOCKED: a row another host is claiming right now is passed over, not
        # waited for; SQLite's BEGIN IMMEDIATE serialises the claims instead.
        lock = " FOR UPDATE SKIP LOCKED" if self.db.engine == "postgresql" else ""
        sql = (
            "UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE key IN ("
            f"SELECT key FROM outbox WHERE key IN ({marks}) AND status = 'pending'"
            f" AND (lease_until <= ? OR lease_owner = ?){lock}) RETURNING *"
        )
        args = (owner, now + lease_s, *keys, now, owner)
        rows = await self.db.run(self.db.transaction(lambda c: c.execute(sql, args).fetchall()))
        return sorted((_item(r) for r in rows), key=lambda item: keys.index(item.key))

    async def record_failure(
        self, key: str, error: str, *, owner: str = "", retry_in: float = 0.0
    ) -> int:
        """Count a failed attempt; returns the attempts so far. ``owner`` keeps its
        lease for ``retry_in`` seconds: no other host tries the row before then."""
        now = self.clock()

        def update(conn: Any) -> int:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, updated_at = ?,"
                " lease_owner = ?, lease_until = ? WHERE key = ?",
                (error, now, owner, now + retry_in if owner else 0.0, key),
            )
            return conn.execute("SELECT attempts FROM outbox WHERE key = ?", (key,)).fetchone()[0]

        attempts = await self.db.run(self.db.transaction(update))
        if not owner:
            self._changed.set()  # the row is free now: this process's worker may take it
        return attempts

    async def finish(
        self,
        key: str,
        status: Status,
        result: Mapping[str, Any],
        *,
        error: str = "",
        then_notify: tuple[str, Mapping[str, Any]] | None = None,
    ) -> OutboxItem:
        """Record the final answer and wake whoever waits for it. ``then_notify``
        (url, payload) keeps the notification of that answer in the same
        transaction: a worker that dies between the two never loses it."""
        if status == "pending":
            raise ValueError("finish() needs a final status")
        now = self.clock()

        def update(conn: Any) -> OutboxItem:
            conn.execute(
                "UPDATE outbox SET status = ?, result = ?, attempts = attempts + 1,"
                " last_error = ?, updated_at = ?, lease_owner = '', lease_until = 0"
                " WHERE key = ?",
                (status, json.dumps(dict(result)), error, now, key),
            )
            item = _item(conn.execute("SELECT * FROM outbox WHERE key = ?", (key,)).fetchone())
            if then_notify is not None:
                url, payload = then_notify
                notify_key = f"{key}:notify"
                _insert(
                    conn, notify_key, "notify", item.company_id, payload, url, item.call_uuid, now
                )
            return item

        item = await self.db.run(self.db.transaction(update))
        if then_notify is not None:
            self._changed.set()
        self._finals.pop(key, trio.Event()).set()
        return item

    async def wait_final(self, key: str, *, poll_s: float = 1.0) -> OutboxItem:
        """Wait until the row with ``key`` has a final answer (now, if it has one).
        A worker of this process wakes the waiter at once; one on another host is
        seen at the next look, every ``poll_s``."""
        while True:
            event = self._finals.setdefault(key, trio.Event())
            item = await self.get(key)
            if item is None:
                raise KeyError(f"no outbox item {key!r}")
            if item.final:
                return item
            with trio.move_on_after(poll_s):
                await event.wait()

    async def wait_changed(self) -> None:
        """Return once something was put in since the last call."""
        await self._changed.wait()
        self._changed = trio.Event()


def _insert(conn: Any, key, kind, company_id, payload, target, call_uuid, now: float) -> None:
    conn.execute(
        "INSERT INTO outbox (key, kind, company_id, call_uuid, target, payload,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (key) DO NOTHING",
        (key, kind, company_id, call_uuid, target, json.dumps(dict(payload)), now, now),
    )
