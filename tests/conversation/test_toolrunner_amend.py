"""amend_booking end to end: tool call -> BookingToolRunner -> store / booking API / outbox."""

from __future__ import annotations

import json

import trio

from agent.business.bookingstore import BookingStore
from agent.business.outbox import Outbox
from agent.conversation.toolrunner import BookingToolRunner
from agent.demo.booking_api import Fault, fake_company, open_fake_booking
from tests.conversation.test_toolrunner import BOOK_ARGS, NOW, SLOTS, call, db, remote

__all__ = ["db"]  # the fixture, shared
AMEND = {"address": "41 High St"}


async def booked_through(api, db) -> tuple[Outbox, BookingToolRunner]:
    """A runner on the fake booking API (its outbox in ``db``) whose call has booked."""
    profile, client = remote(api)
    outbox = Outbox(db)
    runner = BookingToolRunner(profile, client, outbox, None, "call-1")
    await runner.run(call("book_appointment", BOOK_ARGS), NOW)
    return outbox, runner


async def test_amends_the_local_booking(db):
    profile = fake_company()
    store = BookingStore(db, profile, clock=lambda: NOW)
    runner = BookingToolRunner(profile, store, Outbox(db), None, "call-1")
    refused = await runner.run(call("amend_booking", AMEND), NOW)
    assert refused.status == "refused" and "no booking" in refused.error
    booked = await runner.run(call("book_appointment", BOOK_ARGS), NOW)
    result = await runner.run(call("amend_booking", AMEND, 2), NOW)
    assert result.status == "ok" and result.data["booking_id"] == booked.data["booking_id"]
    (row,) = await store.bookings()
    assert '"address":"41 High St"' in row["body"]


async def test_amends_through_the_api_and_keeps_it_when_the_api_is_down(db, autojump_clock):
    async with open_fake_booking(slots=SLOTS) as api:
        outbox, runner = await booked_through(api, db)
        ok = await runner.run(call("amend_booking", AMEND, 2), NOW)
        assert ok.status == "ok" and api.amendments == [("call-1:amend:1", {"customer": AMEND})]
        api.fail(Fault.SERVER_ERROR, times=1)
        kept = await runner.run(call("amend_booking", {"name": "Anne Lee"}, 3), NOW)
        assert kept.status == "failed" and kept.data["pending"] is True
        (item,) = [i for i in await outbox.items() if i.kind == "amend"]
        assert item.key == "call-1:amend:2" and item.payload["changes"] == {
            "customer": {"name": "Anne Lee"}
        }
        assert item.payload["booking_id"] == api.bookings["call-1:1"]["booking_id"]
        await trio.sleep(0)
        api.assert_clean()


THURSDAY = {"slot_start": "2030-07-04T10:00:00+01:00", "slot_end": "2030-07-04T12:00:00+01:00"}
MOVED = {"start": THURSDAY["slot_start"], "end": THURSDAY["slot_end"]}


async def test_moves_the_local_booking_to_another_slot(db):
    profile = fake_company()
    store = BookingStore(db, profile, clock=lambda: NOW)
    runner = BookingToolRunner(profile, store, Outbox(db), None, "call-1")
    await runner.run(call("book_appointment", BOOK_ARGS), NOW)
    backwards = {"slot_start": THURSDAY["slot_end"], "slot_end": THURSDAY["slot_start"]}
    refused = await runner.run(call("amend_booking", backwards, 2), NOW)
    assert refused.status == "refused" and refused.field == "slot_end"
    moved = await runner.run(call("amend_booking", THURSDAY, 3), NOW)
    assert moved.status == "ok" and moved.data["slot"] == MOVED
    (row,) = await store.bookings()
    assert json.loads(row["body"])["slot"] == MOVED


async def test_a_move_through_the_api_is_told_to_the_business_and_a_taken_slot_said(
    db, autojump_clock
):
    async with open_fake_booking(slots=SLOTS) as api:
        outbox, runner = await booked_through(api, db)
        moved = await runner.run(call("amend_booking", THURSDAY, 2), NOW)
        assert moved.status == "ok" and api.bookings["call-1:1"]["body"]["slot"] == MOVED
        (note,) = [i for i in await outbox.items() if i.key == "call-1:amend:1:notify"]
        assert note.payload["event"] == "booking" and note.payload["data"]["slot"] == MOVED
        assert note.payload["data"]["customer"]["name"] == "Ann Lee"  # the whole booking
        api.fail(Fault.SLOT_TAKEN, times=1)
        taken = await runner.run(call("amend_booking", THURSDAY, 3), NOW)
        assert taken.status == "slot_taken"
        api.down()
        kept = await runner.run(call("amend_booking", THURSDAY, 4), NOW)
        assert kept.status == "failed" and kept.data["pending"] is True
        (item,) = [i for i in await outbox.items() if i.key == "call-1:amend:3"]
        assert item.payload["changes"] == {"slot": MOVED} and item.target == api.notify_url
        assert item.payload["booking"]["slot"] == MOVED  # as it stood when kept
        api.assert_clean()
