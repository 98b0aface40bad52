"""Moving a booked slot (``PATCH /bookings/{id}`` with ``{"slot": ...}``): the local
store, the fake booking API (409 for a taken slot, the contract's checks) and the
outbox (a move kept while the API is down, and the business told how it ended)."""

from __future__ import annotations

import json

import pytest
import trio

from agent.business.amendments import amended_body
from agent.business.booking import BookingClient, Notifier
from agent.business.bookingstore import BookingStore, open_database
from agent.business.company import BookingApi
from agent.business.outbox import Backoff, Outbox
from agent.business.outbox_delivery import run_outbox
from agent.demo.booking_api import open_fake_booking
from tests.business.test_outbox import PROFILE, backend_for, body

NO_JITTER = Backoff(initial=1.0, factor=2.0, cap=8.0, jitter=0.0)
NOW = 1909000000.0  # the Saturday before; the booking is Monday 10:00-12:00
THURSDAY = {"start": "2030-07-04T10:00:00+01:00", "end": "2030-07-04T12:00:00+01:00"}
MOVE = {"slot": THURSDAY}


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "agent.db", threaded=False)
    yield database
    database.close()


def other_body() -> dict:
    """Another caller's booking, on Thursday 10:00-12:00."""
    return {**body(), "slot": THURSDAY, "call_uuid": "call-2"}


async def keep_move(db, api, booking_id: str, nursery: trio.Nursery) -> Outbox:
    """Call 1's move to Thursday, kept in the outbox, whose worker then runs."""
    outbox = Outbox(db)
    await outbox.put_amendment(
        "call-1:amend:1",
        PROFILE.id,
        MOVE,
        booking_id=booking_id,
        call_uuid="call-1",
        notify_url=api.notify_url,
        booking=body(),
    )
    await nursery.start(
        lambda task_status: run_outbox(
            outbox, backend_for(api), Notifier(), backoff=NO_JITTER, task_status=task_status
        )
    )
    return outbox


def test_amended_body_merges_customer_and_replaces_slot():
    before = body()
    after = amended_body(before, {"customer": {"address": "41 High St"}, **MOVE})
    assert after["slot"] == THURSDAY and after["customer"]["address"] == "41 High St"
    assert after["customer"]["name"] == before["customer"]["name"]
    assert before["slot"] != THURSDAY  # the original is left alone


async def test_local_store_moves_the_slot(engine_db):
    store = BookingStore(engine_db, PROFILE, clock=lambda: NOW)
    booked = await store.book(body(), "call-1:1")
    monday = await store.availability(_day_query("2030-07-01"))
    assert body()["slot"] not in monday.slots  # the booked slot is taken
    outcome = await store.amend(booked.booking_id, MOVE, "call-1:amend:1")
    assert outcome.confirmed and outcome.booking_id == booked.booking_id
    (row,) = await store.bookings()
    assert json.loads(row["body"])["slot"] == THURSDAY
    assert row["start"] == 1909386000.0 and row["end"] == 1909393200.0
    freed = await store.availability(_day_query("2030-07-01"))
    assert body()["slot"] in freed.slots  # the old slot is free again
    again = await store.amend(booked.booking_id, MOVE, "call-1:amend:1")  # a retry
    assert again.confirmed and len(await store.bookings()) == 1


@pytest.mark.parametrize(
    ("slot", "field", "problem"),
    [
        (
            {"start": "2030-07-06T16:00:00+01:00", "end": "2030-07-06T18:00:00+01:00"},
            "when",
            "hours",
        ),
        (
            {"start": "2030-06-28T10:00:00+01:00", "end": "2030-06-28T12:00:00+01:00"},
            "when",
            "past",
        ),
        (
            {"start": "2030-07-04T12:00:00+01:00", "end": "2030-07-04T10:00:00+01:00"},
            "when",
            "ends",
        ),
        ({"start": "Thursday", "end": "2030-07-04T12:00:00+01:00"}, "when", "ISO"),
        ("Thursday", "when", "missing"),
    ],
)
async def test_local_store_refuses_a_slot_it_would_not_book(db, slot, field, problem):
    store = BookingStore(db, PROFILE, clock=lambda: NOW)
    booked = await store.book(body(), "call-1:1")
    refused = await store.amend(booked.booking_id, {"slot": slot}, "call-1:amend:1")
    assert refused.status == "invalid" and refused.field == field and problem in refused.error
    (row,) = await store.bookings()
    assert json.loads(row["body"])["slot"] == body()["slot"]  # nothing moved


async def test_local_store_says_slot_taken_when_another_booking_holds_it(engine_db):
    store = BookingStore(engine_db, PROFILE, clock=lambda: NOW)
    booked = await store.book(body(), "call-1:1")
    await store.book(other_body(), "call-2:1")
    taken = await store.amend(booked.booking_id, MOVE, "call-1:amend:1")
    assert taken.status == "slot_taken"
    rows = {r["idempotency_key"]: json.loads(r["body"]) for r in await store.bookings()}
    assert rows["call-1:1"]["slot"] == body()["slot"]
    # its own slot is no clash: "moving" to where it is changes nothing
    same = await store.amend(booked.booking_id, {"slot": body()["slot"]}, "call-1:amend:2")
    assert same.confirmed


async def test_two_hosts_moving_two_bookings_onto_one_slot_get_one_move(pg_url):
    """Two hosts' connections move two bookings onto the same free slot at once: one
    is moved, the other is told the slot is taken (the company's lock on PostgreSQL)."""
    first, second = open_database(pg_url), open_database(pg_url)
    try:
        stores = [BookingStore(db, PROFILE, clock=lambda: NOW) for db in (first, second)]
        monday = body()
        tuesday = {
            **monday,
            "slot": {"start": "2030-07-02T10:00:00+01:00", "end": "2030-07-02T12:00:00+01:00"},
        }
        ids = [
            (await stores[0].book(b, f"call-{n}:1")).booking_id
            for n, b in enumerate((monday, tuesday))
        ]
        outcomes = []
        async with trio.open_nursery() as nursery:
            for store, booking_id in zip(stores, ids, strict=True):

                async def move(store=store, booking_id=booking_id):
                    outcomes.append((await store.amend(booking_id, MOVE, "k")).status)

                nursery.start_soon(move)
        assert sorted(outcomes) == ["confirmed", "slot_taken"]
        starts = sorted(r["start"] for r in await stores[0].bookings())
        assert 1909386000.0 in starts and len(set(starts)) == 2
    finally:
        first.close()
        second.close()


async def test_local_store_refuses_unknown_changes(db):
    store = BookingStore(db, PROFILE, clock=lambda: NOW)
    booked = await store.book(body(), "call-1:1")
    for changes in ({"service_id": "drain_unblock"}, {}, {"customer": {}}):
        assert (await store.amend(booked.booking_id, changes, "k")).status == "invalid"


async def test_booking_api_moves_with_patch_and_answers_409_for_a_taken_slot():
    async with open_fake_booking() as api:
        client = BookingClient(BookingApi(api.base_url, "K"), env={"K": "test-key"})
        booked = await client.book(body(), "call-1:1")
        moved = await client.amend(booked.booking_id, MOVE, "call-1:amend:1")
        assert moved.confirmed and api.bookings["call-1:1"]["body"]["slot"] == THURSDAY
        assert api.amendments == [("call-1:amend:1", MOVE)]
        other = await client.book(body(), "call-2:1")  # Monday is free again
        assert other.confirmed
        taken = await client.amend(other.booking_id, MOVE, "call-2:amend:1")
        assert taken.status == "slot_taken" and taken.error == "slot_taken"
        assert api.bookings["call-2:1"]["body"]["slot"] == body()["slot"]
        assert len(api.amendments) == 1  # a refused move is no amendment
        api.assert_clean()


@pytest.mark.parametrize(
    "changes",
    [
        {"slot": {"start": "2030-07-04T10:00:00"}},  # no end
        {"slot": {"start": "2030-07-04T10:00:00", "end": "2030-07-04T12:00:00"}},  # no offset
        {"slot": {"start": THURSDAY["end"], "end": THURSDAY["start"]}},
        {"slot": "Thursday"},
        {"customer": {}},
    ],
)
async def test_booking_api_flags_a_malformed_move(changes):
    async with open_fake_booking() as api:
        client = BookingClient(BookingApi(api.base_url, "K"), env={"K": "test-key"})
        booked = await client.book(body(), "call-1:1")
        with pytest.raises(Exception, match="HTTP 400"):
            await client.amend(booked.booking_id, changes, "call-1:amend:1")
        assert len(api.violations) == 1 and api.amendments == []


async def test_api_down_keeps_the_move_then_tells_the_business(db, autojump_clock):
    async with open_fake_booking() as api, trio.open_nursery() as nursery:
        client = BookingClient(BookingApi(api.base_url, "K"), env={"K": "test-key"})
        booked = await client.book(body(), "call-1:1")
        api.down()
        outbox = await keep_move(db, api, booked.booking_id, nursery)
        await trio.sleep(5)
        assert api.amendments == []
        await api.up()
        with trio.fail_after(60):
            moved = await outbox.wait_final("call-1:amend:1")
            await outbox.wait_final("call-1:amend:1:notify")
        nursery.cancel_scope.cancel()
    assert moved.status == "confirmed" and moved.result == {"booking_id": booked.booking_id}
    assert api.bookings["call-1:1"]["body"]["slot"] == THURSDAY
    ((_, note),) = api.notifications
    assert note["event"] == "booking" and note["data"]["slot"] == THURSDAY
    assert note["data"]["booking_id"] == booked.booking_id and note["data"]["amendment"] == MOVE
    api.assert_clean()


async def test_a_kept_move_whose_slot_went_meanwhile_asks_for_a_call_back(db, autojump_clock):
    async with open_fake_booking() as api, trio.open_nursery() as nursery:
        client = BookingClient(BookingApi(api.base_url, "K"), env={"K": "test-key"})
        booked = await client.book(body(), "call-1:1")
        await client.book(other_body(), "call-2:1")  # Thursday went to someone else
        outbox = await keep_move(db, api, booked.booking_id, nursery)
        with trio.fail_after(60):
            failed = await outbox.wait_final("call-1:amend:1")
            await outbox.wait_final("call-1:amend:1:notify")
        nursery.cancel_scope.cancel()
    assert failed.status == "failed" and failed.last_error == "slot_taken"
    ((_, note),) = api.notifications
    assert note["event"] == "callback_requested"
    assert "slot_taken" in note["data"]["reason"] and note["data"]["amendment"] == MOVE
    api.assert_clean()


def _day_query(day: str) -> dict[str, str]:
    return {
        "service": "leak_repair",
        "postcode": "SW1A 1AA",
        "from": f"{day}T00:00:00+01:00",
        "to": f"{day}T23:59:00+01:00",
    }
