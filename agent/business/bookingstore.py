"""The embedded booking store: the booking contract on the agent's own store.

Used when a company has no ``booking_api``. ``open_database(target)``
(``agent.business.database``) opens the SQLite file or the PostgreSQL database
that ``VOICE_AGENT_DB`` names; the outbox keeps its table in the same store.
``BookingStore(db, profile)`` is a ``BookingBackend``:

- availability: slots derived from the company's opening hours in its own
  timezone, ``slot_minutes`` long (a shorter tail of at least an hour fills
  the end of a period), at most 20, earliest first, starting inside the asked
  window and not in the past, minus the ones a booking overlaps;
- book: idempotent by key (a known key returns its booking, ``replayed``, and
  never adds a row; the key is a UNIQUE column), ``slot_taken`` when a booking
  overlaps, ``invalid`` with the field when the body is wrong;
- amend: customer details and the slot (a move: the same checks as a booking, and
  ``slot_taken`` when another booking overlaps the new slot).

Database calls block, so every one runs in a worker thread
(``trio.to_thread.run_sync``); a booking is one transaction, so two hosts booking
the same slot at once get one ``confirmed`` and one ``slot_taken``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from agent.business.amendments import amended_body
from agent.business.booking import Availability, BookingOutcome
from agent.business.company import CompanyProfile
from agent.business.database import Database, open_database

__all__ = ["BookingStore", "Database", "open_database"]

MAX_SLOTS = 20
_CUSTOMER_FIELDS = ("name", "phone", "address", "postcode")
MAX_DAYS_AHEAD = 62  # a longer window is cut: nobody books months ahead on the phone


class _Invalid(Exception):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field, self.problem = field, problem


class BookingStore:
    """``BookingBackend`` for one company on the local database."""

    def __init__(
        self,
        db: Database,
        profile: CompanyProfile,
        *,
        slot_minutes: int = 120,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 60 <= slot_minutes <= 24 * 60:
            raise ValueError(f"slot_minutes must be 60..1440, got {slot_minutes}")
        self.name = "local-bookings"
        self.db, self.profile, self.slot_minutes, self.clock = db, profile, slot_minutes, clock

    # --- the contract -----------------------------------------------------------

    async def availability(self, query: Mapping[str, str]) -> Availability:
        try:
            service = self._text(query, "service")
            if self.profile.service(service) is None:
                raise _Invalid("service_id", f"unknown service {service!r}")
            postcode = query.get("postcode", "")
            if postcode and not self.profile.serves_postcode(postcode):
                raise _Invalid("postcode", f"{postcode} is outside the service area")
            earliest, latest = self._time(query, "from"), self._time(query, "to")
        except _Invalid as exc:
            return Availability(error=exc.problem, field=exc.field)
        earliest = max(earliest, self.clock())
        busy = await self.db.run(lambda conn: self._busy(conn, earliest, latest))
        slots = []
        for start, end in self.opening_slots(earliest, latest):
            if any(b_start < end and start < b_end for b_start, b_end in busy):
                continue
            slots.append({"start": self._iso(start), "end": self._iso(end)})
            if len(slots) == MAX_SLOTS:
                break
        return Availability(tuple(slots))

    async def book(self, body: Mapping[str, Any], idempotency_key: str) -> BookingOutcome:
        if not idempotency_key:
            raise ValueError("a booking needs an idempotency key")
        try:
            start, end = self._check_body(body)
        except _Invalid as exc:
            return BookingOutcome("invalid", error=exc.problem, field=exc.field)
        row = {
            "booking_id": "BK-" + uuid.uuid4().hex[:12].upper(),
            "idempotency_key": idempotency_key,
            "company_id": self.profile.id,
            "service_id": str(body["service_id"]),
            "start": start,
            "end": end,
            "body": json.dumps(dict(body), separators=(",", ":")),
            "created_at": self.clock(),
        }
        return await self.db.run(self.db.transaction(lambda conn: self._insert(conn, row)))

    async def amend(
        self, booking_id: str, changes: Mapping[str, Any], idempotency_key: str
    ) -> BookingOutcome:
        """Change a booking's customer details or move it to another slot (the contract's
        ``PATCH``). A new slot is checked as a booking's is (opening hours, not past) and
        must be free of every other booking, else ``slot_taken``. Applying the same change
        twice leaves the same booking, so the key needs no bookkeeping."""
        try:
            slot = self._check_changes(changes)
        except _Invalid as exc:
            return BookingOutcome("invalid", error=exc.problem, field=exc.field)

        def update(conn: Any) -> BookingOutcome:
            if slot is not None and self.db.engine == "postgresql":
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (self.profile.id,))
            row = conn.execute(
                "SELECT body FROM bookings WHERE booking_id = ? AND company_id = ?",
                (booking_id, self.profile.id),
            ).fetchone()
            if row is None:
                return BookingOutcome("invalid", error="unknown booking", field="booking_id")
            body = amended_body(json.loads(row["body"]), changes)
            if slot is not None:
                clash = conn.execute(
                    'SELECT 1 FROM bookings WHERE company_id = ? AND start < ? AND "end" > ?'
                    " AND booking_id != ?",
                    (self.profile.id, slot[1], slot[0], booking_id),
                ).fetchone()
                if clash is not None:
                    return BookingOutcome("slot_taken", error="slot_taken")
                conn.execute(
                    'UPDATE bookings SET start = ?, "end" = ? WHERE booking_id = ?',
                    (slot[0], slot[1], booking_id),
                )
            conn.execute(
                "UPDATE bookings SET body = ? WHERE booking_id = ?",
                (json.dumps(body, separators=(",", ":")), booking_id),
            )
            return BookingOutcome("confirmed", booking_id)

        return await self.db.run(self.db.transaction(update))

    def _check_changes(self, changes: Mapping[str, Any]) -> tuple[float, float] | None:
        """Checks a ``PATCH`` body; its new slot (epoch start, end), if it moves one."""
        if not changes or set(changes) - {"customer", "slot"}:
            raise _Invalid("booking", "only customer details and the slot can change")
        customer = changes.get("customer", {})
        if not isinstance(customer, Mapping) or ("customer" in changes and not customer):
            raise _Invalid("customer", "customer must be an object of the fields that change")
        bad = next((k for k in customer if k not in _CUSTOMER_FIELDS), None)
        if bad is not None:
            raise _Invalid(bad, f"unknown field {bad!r}")
        for key in customer:
            self._text(customer, key)
        if "postcode" in customer and not self.profile.serves_postcode(customer["postcode"]):
            raise _Invalid("postcode", "outside the service area")
        return self._check_slot(changes["slot"]) if "slot" in changes else None

    def _check_slot(self, slot: Any) -> tuple[float, float]:
        """A slot's epoch (start, end): whole, in the future, inside opening hours."""
        if not isinstance(slot, Mapping):
            raise _Invalid("when", "slot is missing")
        start, end = self._time(slot, "start", "when"), self._time(slot, "end", "when")
        if end <= start:
            raise _Invalid("when", "the slot ends before it starts")
        if start < self.clock():
            raise _Invalid("when", "the slot is in the past")
        if not self._within_hours(start, end):
            raise _Invalid("when", "the slot is outside opening hours")
        return start, end

    async def bookings(self) -> list[dict[str, Any]]:
        """Every booking of this company, earliest slot first (for tests and tools)."""
        rows = await self.db.run(
            lambda conn: conn.execute(
                "SELECT * FROM bookings WHERE company_id = ? ORDER BY start", (self.profile.id,)
            ).fetchall()
        )
        return [dict(r) for r in rows]

    # --- slots ------------------------------------------------------------------

    def opening_slots(self, earliest: float, latest: float) -> list[tuple[float, float]]:
        """Slots (epoch start, end) inside opening hours whose start is in [earliest, latest]."""
        tz = self.profile.timezone
        first_day = datetime.fromtimestamp(earliest, tz).date()
        last_day = min(
            datetime.fromtimestamp(latest, tz).date(), first_day + timedelta(days=MAX_DAYS_AHEAD)
        )
        out: list[tuple[float, float]] = []
        day = first_day
        while day <= last_day:
            midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
            for lo, hi in self.profile.hours.periods[day.weekday()]:
                for s_min, e_min in self._split(lo, hi):
                    # Aware datetime + timedelta is wall-clock arithmetic: 08:00 stays
                    # 08:00 local across a DST change.
                    start = (midnight + timedelta(minutes=s_min)).timestamp()
                    end = (midnight + timedelta(minutes=e_min)).timestamp()
                    if earliest <= start <= latest:
                        out.append((start, end))
            day += timedelta(days=1)
        return sorted(out)

    def _split(self, lo: int, hi: int) -> list[tuple[int, int]]:
        parts, start = [], lo
        while start + self.slot_minutes <= hi:
            parts.append((start, start + self.slot_minutes))
            start += self.slot_minutes
        if hi - start >= 60:
            parts.append((start, hi))
        return parts

    def _within_hours(self, start: float, end: float) -> bool:
        local = datetime.fromtimestamp(start, self.profile.timezone)
        midnight = datetime(local.year, local.month, local.day, tzinfo=self.profile.timezone)
        for lo, hi in self.profile.hours.periods[local.weekday()]:
            if (midnight + timedelta(minutes=lo)).timestamp() <= start and end <= (
                midnight + timedelta(minutes=hi)
            ).timestamp():
                return True
        return False

    # --- storage ----------------------------------------------------------------

    def _busy(self, conn: Any, earliest: float, latest: float) -> list[tuple]:
        rows = conn.execute(
            'SELECT start, "end" FROM bookings WHERE company_id = ? AND "end" > ? AND start < ?',
            (self.profile.id, earliest, latest + 24 * 3600),
        ).fetchall()
        return [(r["start"], r["end"]) for r in rows]

    def _insert(self, conn: Any, row: dict[str, Any]) -> BookingOutcome:
        if self.db.engine == "postgresql":
            # READ COMMITTED lets two hosts both see a free slot; one lock per company
            # makes their bookings take turns (SQLite's BEGIN IMMEDIATE already does).
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (row["company_id"],))
        seen = conn.execute(
            "SELECT booking_id FROM bookings WHERE idempotency_key = ?", (row["idempotency_key"],)
        ).fetchone()
        if seen is not None:
            return BookingOutcome("confirmed", seen["booking_id"], replayed=True)
        clash = conn.execute(
            'SELECT 1 FROM bookings WHERE company_id = ? AND start < ? AND "end" > ?',
            (row["company_id"], row["end"], row["start"]),
        ).fetchone()
        if clash is not None:
            return BookingOutcome("slot_taken", error="slot_taken")
        conn.execute(
            "INSERT INTO bookings (booking_id, idempotency_key, company_id, service_id, start,"
            ' "end", body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            tuple(row.values()),
        )
        return BookingOutcome("confirmed", row["booking_id"])

    # --- checks -----------------------------------------------------------------

    @staticmethod
    def _text(data: Mapping[str, Any], key: str, field: str | None = None) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise _Invalid(field or key, f"{field or key} is missing")
        return value.strip()

    def _time(self, data: Mapping[str, Any], key: str, field: str | None = None) -> float:
        raw = self._text(data, key, field)
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise _Invalid(field or key, f"{raw!r} is not an ISO 8601 date-time") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.profile.timezone)
        return value.timestamp()

    def _check_body(self, body: Mapping[str, Any]) -> tuple[float, float]:
        if body.get("company_id") != self.profile.id:
            raise _Invalid("company_id", f"this store books for {self.profile.id!r}")
        if self.profile.service(str(body.get("service_id"))) is None:
            raise _Invalid("service_id", f"unknown service {body.get('service_id')!r}")
        customer = body.get("customer")
        if not isinstance(customer, Mapping):
            raise _Invalid("name", "customer is missing")
        for key in ("name", "phone", "address", "postcode"):
            self._text(customer, key)
        if not self.profile.serves_postcode(str(customer["postcode"])):
            raise _Invalid("postcode", f"{customer['postcode']} is outside the service area")
        return self._check_slot(body.get("slot"))

    def _iso(self, epoch: float) -> str:
        return datetime.fromtimestamp(epoch, self.profile.timezone).isoformat(timespec="seconds")
