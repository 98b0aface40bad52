"""A correction after the booking changes the booking: the local store, the fake
booking API over HTTP (``PATCH /bookings/{id}``) and, with the API down, the outbox
(after the booking it amends)."""

from __future__ import annotations

import json

import pytest
import trio

from agent.business.booking import BookingClient, Notifier
from agent.business.bookingstore import BookingStore, open_database
from agent.business.company import BookingApi
from agent.business.outbox import Backoff, Outbox
from agent.business.outbox_delivery import run_outbox
from agent.demo.booking_api import open_fake_booking
from tests.business.test_outbox import PROFILE, backend_for, body

NO_JITTER = Backoff(initial=1.0, factor=2.0, cap=8.0, jitter=0.0)
CHANGE = {"customer": {"address": "41 Baker Street"}}


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "agent.db", threaded=False)
    yield database
    database.close()


async def test_local_store_amends_only_the_changed_field(db):
    store = BookingStore(db, PROFILE, clock=lambda: 1909000000.0)
    booked = await store.book(body(), "call-1:1")
    outcome = await store.amend(booked.booking_id, CHANGE, "call-1:amend:1")
    assert outcome.confirmed and outcome.booking_id == booked.booking_id
    (row,) = await store.bookings()
    customer = json.loads(row["body"])["customer"]
    assert customer == {**body()["customer"], "address": "41 Baker Street"}


async def test_local_store_refuses_an_unknown_booking_or_field(db):
    store = BookingStore(db, PROFILE, clock=lambda: 1909000000.0)
    assert (await store.amend("BK-NOPE", CHANGE, "k")).field == "booking_id"
    booked = await store.book(body(), "call-1:1")
    refused = await store.amend(booked.booking_id, {"customer": {"colour": "red"}}, "k")
    assert refused.status == "invalid" and refused.field == "colour"
    outside = await store.amend(booked.booking_id, {"customer": {"postcode": "N1 9GU"}}, "k")
    assert outside.field == "postcode"


async def test_booking_api_amends_with_patch():
    async with open_fake_booking() as api:
        client = BookingClient(BookingApi(api.base_url, "K"), env={"K": "test-key"})
        booked = await client.book(body(), "call-1:1")
        outcome = await client.amend(booked.booking_id, CHANGE, "call-1:amend:1")
        assert outcome.confirmed
        assert api.bookings["call-1:1"]["body"]["customer"]["address"] == "41 Baker Street"
        assert api.amendments == [("call-1:amend:1", CHANGE)]
        assert (await client.amend("FK-NOPE", CHANGE, "k")).field == "booking_id"
        api.assert_clean()


async def test_api_down_keeps_the_amendment_after_its_booking(db, autojump_clock):
    async with open_fake_booking() as api, trio.open_nursery() as nursery:
        api.down()
        outbox = Outbox(db)
        await outbox.put_booking("call-1:1", PROFILE.id, body(), call_uuid="call-1")
        await outbox.put_amendment(
            "call-1:amend:1", PROFILE.id, CHANGE, booking_key="call-1:1", call_uuid="call-1"
        )
        await nursery.start(
            lambda task_status: run_outbox(
                outbox, backend_for(api), Notifier(), backoff=NO_JITTER, task_status=task_status
            )
        )
        await trio.sleep(5)
        assert api.bookings == {} and api.amendments == []
        await api.up()
        with trio.fail_after(60):
            booking = await outbox.wait_final("call-1:1")
            amendment = await outbox.wait_final("call-1:amend:1")
        nursery.cancel_scope.cancel()
    assert booking.status == amendment.status == "confirmed"
    assert amendment.result == {"booking_id": booking.result["booking_id"]}
    assert api.bookings["call-1:1"]["body"]["customer"]["address"] == "41 Baker Street"
    api.assert_clean()
