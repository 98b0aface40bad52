"""The local SQLite booking store: slots from opening hours, idempotent bookings."""

from __future__ import annotations

from datetime import datetime

import pytest
import trio

from agent.business.bookingstore import MAX_SLOTS, BookingStore, open_database
from agent.business.company import CompanyProfile
from agent.demo.booking_api import fake_company
from agent.dialogue.tools import BookingRequest

PROFILE = fake_company()
MONDAY_7AM = datetime.fromisoformat("2030-07-01T07:00:00+01:00").timestamp()  # BST


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.fixture
def db(engine_db):
    return engine_db  # the same contract on both engines (tests/conftest.py)


def store_at(db, now: float = MONDAY_7AM, profile: CompanyProfile = PROFILE, **kw) -> BookingStore:
    return BookingStore(db, profile, clock=lambda: now, **kw)


def query(start: str, end: str, service: str = "leak_repair") -> dict[str, str]:
    return {"service": service, "postcode": "SW1A 1AA", "from": start, "to": end}


def body(start: str, end: str, profile: CompanyProfile = PROFILE, **changes) -> dict:
    request = BookingRequest(
        service_id="leak_repair",
        slot_start=ts(start),
        slot_end=ts(end),
        name="Ann Lee",
        phone="+447700900123",
        address="1 High St",
        postcode="SW1A 1AA",
        problem="leaking tap",
    )
    data = request.body(profile, "call-1")
    data.update(changes)
    return data


async def test_slots_follow_opening_hours_in_local_time(db):
    found = await store_at(db).availability(
        query("2030-07-01T00:00:00+01:00", "2030-07-01T23:59:00+01:00")
    )
    assert found.error == ""
    assert [(s["start"], s["end"]) for s in found.slots] == [
        ("2030-07-01T08:00:00+01:00", "2030-07-01T10:00:00+01:00"),
        ("2030-07-01T10:00:00+01:00", "2030-07-01T12:00:00+01:00"),
        ("2030-07-01T12:00:00+01:00", "2030-07-01T14:00:00+01:00"),
        ("2030-07-01T14:00:00+01:00", "2030-07-01T16:00:00+01:00"),
        ("2030-07-01T16:00:00+01:00", "2030-07-01T18:00:00+01:00"),
    ]


async def test_other_timezone_and_short_tail_slot(db):
    profile = fake_company(
        timezone="America/New_York", hours={"mon": ["09:00-12:00"]}, service_area=[]
    )
    store = store_at(db, profile=profile, now=0.0)
    # The window is asked in UTC; the slots come back in the company's own time.
    found = await store.availability(
        query("2030-07-01T00:00:00+00:00", "2030-07-02T00:00:00+00:00")
    )
    assert [(s["start"], s["end"]) for s in found.slots] == [
        ("2030-07-01T09:00:00-04:00", "2030-07-01T11:00:00-04:00"),
        ("2030-07-01T11:00:00-04:00", "2030-07-01T12:00:00-04:00"),
    ]


async def test_closed_days_and_saturday_hours(db):
    store = store_at(db)
    sunday = await store.availability(
        query("2030-07-07T00:00:00+01:00", "2030-07-07T23:00:00+01:00")
    )
    assert sunday.slots == ()
    saturday = await store.availability(
        query("2030-07-06T00:00:00+01:00", "2030-07-06T23:00:00+01:00")
    )
    assert [s["start"][11:16] for s in saturday.slots] == ["09:00", "11:00"]


async def test_dst_change_keeps_wall_clock_hours(db):
    # BST ends on Sunday 27 Oct 2030: Saturday is +01:00, Monday +00:00, both start at 08/09.
    store = store_at(db, now=0.0)
    found = await store.availability(
        query("2030-10-26T00:00:00+01:00", "2030-10-28T09:00:00+00:00")
    )
    assert [s["start"] for s in found.slots] == [
        "2030-10-26T09:00:00+01:00",
        "2030-10-26T11:00:00+01:00",
        "2030-10-28T08:00:00+00:00",
    ]


async def test_at_most_twenty_earliest_first_and_none_in_the_past(db):
    store = store_at(db, now=ts("2030-07-01T11:00:00+01:00"))
    found = await store.availability(
        query("2030-07-01T00:00:00+01:00", "2030-07-31T00:00:00+01:00")
    )
    starts = [ts(s["start"]) for s in found.slots]
    assert len(starts) == MAX_SLOTS
    assert starts == sorted(starts)
    assert found.slots[0]["start"] == "2030-07-01T12:00:00+01:00"  # 10:00 has begun


async def test_bad_questions_are_invalid_with_the_field(db):
    store = store_at(db)
    bad_service = await store.availability(query("2030-07-01T08:00", "2030-07-02T08:00", "nope"))
    assert bad_service.field == "service_id"
    outside = await store.availability(
        {**query("2030-07-01T08:00", "2030-07-02T08:00"), "postcode": "N1 9GU"}
    )
    assert outside.field == "postcode"
    bad_time = await store.availability(query("tomorrow", "2030-07-02T08:00"))
    assert bad_time.field == "from" and "ISO 8601" in bad_time.error


async def test_booking_is_idempotent_by_key(db):
    store = store_at(db)
    request = body("2030-07-01T10:00:00+01:00", "2030-07-01T12:00:00+01:00")
    first = await store.book(request, "call-1:1")
    again = await store.book(request, "call-1:1")
    assert first.confirmed and not first.replayed
    assert again.confirmed and again.replayed and again.booking_id == first.booking_id
    rows = await store.bookings()
    assert [r["idempotency_key"] for r in rows] == ["call-1:1"]


async def test_booked_and_overlapping_slots_are_taken(db):
    store = store_at(db)
    assert (
        await store.book(body("2030-07-01T10:00:00+01:00", "2030-07-01T12:00:00+01:00"), "a:1")
    ).confirmed
    same = await store.book(body("2030-07-01T10:00:00+01:00", "2030-07-01T12:00:00+01:00"), "b:1")
    overlap = await store.book(
        body("2030-07-01T11:00:00+01:00", "2030-07-01T12:00:00+01:00"), "c:1"
    )
    assert same.status == overlap.status == "slot_taken"
    found = await store.availability(
        query("2030-07-01T08:00:00+01:00", "2030-07-01T13:00:00+01:00")
    )
    assert [s["start"][11:16] for s in found.slots] == ["08:00", "12:00"]
    assert len(await store.bookings()) == 1


async def test_concurrent_bookings_of_one_slot_make_one_row(db):
    store = store_at(db)
    request = body("2030-07-01T14:00:00+01:00", "2030-07-01T16:00:00+01:00")
    outcomes = []

    async def book(key: str) -> None:
        outcomes.append(await store.book(request, key))

    async with trio.open_nursery() as nursery:
        for n in range(6):
            nursery.start_soon(book, f"call-{n}:1")
    assert sorted(o.status for o in outcomes) == ["confirmed"] + ["slot_taken"] * 5
    assert len(await store.bookings()) == 1


@pytest.mark.parametrize(
    ("start", "end", "changes", "field"),
    [
        ("2030-07-01T17:00:00+01:00", "2030-07-01T19:00:00+01:00", {}, "when"),  # after 18:00
        ("2030-07-07T10:00:00+01:00", "2030-07-07T12:00:00+01:00", {}, "when"),  # Sunday
        ("2030-07-01T06:00:00+01:00", "2030-07-01T08:00:00+01:00", {}, "when"),  # the past
        (
            "2030-07-01T10:00:00+01:00",
            "2030-07-01T12:00:00+01:00",
            {"company_id": "x"},
            "company_id",
        ),
        (
            "2030-07-01T10:00:00+01:00",
            "2030-07-01T12:00:00+01:00",
            {"service_id": "x"},
            "service_id",
        ),
    ],
)
async def test_invalid_bookings_name_the_field(db, start, end, changes, field):
    outcome = await store_at(db).book(body(start, end, **changes), "k:1")
    assert (outcome.status, outcome.field) == ("invalid", field)
    assert await store_at(db).bookings() == []


async def test_invalid_customer_field(db):
    request = body("2030-07-01T10:00:00+01:00", "2030-07-01T12:00:00+01:00")
    request["customer"] = {**request["customer"], "postcode": "N1 9GU"}
    outcome = await store_at(db).book(request, "k:1")
    assert (outcome.status, outcome.field) == ("invalid", "postcode")
    request["customer"] = {**request["customer"], "name": " "}
    assert (await store_at(db).book(request, "k:1")).field == "name"


async def test_bookings_survive_reopening_in_wal_mode(tmp_path):
    path = tmp_path / "agent.db"
    db = open_database(path)
    request = body("2030-07-01T10:00:00+01:00", "2030-07-01T12:00:00+01:00")
    first = await store_at(db).book(request, "call-1:1")
    db.close()
    db = open_database(path)
    try:
        mode = db.run_sync(lambda conn: conn.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
        again = await store_at(db).book(request, "call-1:1")
        assert again.replayed and again.booking_id == first.booking_id
    finally:
        db.close()


async def test_two_hosts_booking_one_slot_at_once_get_one_booking(pg_url):
    """Two hosts' connections race for the same slot: one confirmed, one slot_taken."""
    first, second = open_database(pg_url), open_database(pg_url)
    request = body("2030-07-01T10:00:00+01:00", "2030-07-01T12:00:00+01:00")
    outcomes = []
    try:
        async with trio.open_nursery() as nursery:
            for n, db in enumerate((first, second) * 3):

                async def book(db=db, n=n):
                    outcomes.append((await store_at(db).book(request, f"call-{n}:1")).status)

                nursery.start_soon(book)
        assert sorted(outcomes) == ["confirmed"] + ["slot_taken"] * 5
    finally:
        first.close()
        second.close()
