"""amend_booking end to end: tool call -> BookingToolRunner -> store / booking API / outbox."""

from __future__ import annotations

import trio

from agent.business.bookingstore import BookingStore
from agent.business.outbox import Outbox
from agent.conversation.toolrunner import BookingToolRunner
from agent.demo.booking_api import Fault, fake_company, open_fake_booking
from tests.conversation.test_toolrunner import BOOK_ARGS, NOW, SLOTS, call, db, remote

__all__ = ["db"]  # the fixture, shared
AMEND = {"address": "41 High St"}


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
        profile, client = remote(api)
        outbox = Outbox(db)
        runner = BookingToolRunner(profile, client, outbox, None, "call-1")
        await runner.run(call("book_appointment", BOOK_ARGS), NOW)
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
