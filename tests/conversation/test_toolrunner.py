"""The five tools end to end: workflow -> BookingToolRunner -> booking API/store -> outbox."""

from __future__ import annotations

import functools
import json
from datetime import datetime

import attrs
import pytest
import trio

from agent.base.events import ToolCall
from agent.business.booking import BookingClient, Notifier
from agent.business.bookingstore import BookingStore, open_database
from agent.business.company import TransferTarget
from agent.business.outbox import Backoff, Outbox
from agent.business.outbox_delivery import run_outbox
from agent.conversation.toolrunner import HELD_BOOKING_LEASE_S, BookingToolRunner
from agent.demo.booking_api import FakeBookingApi, Fault, fake_company, open_fake_booking
from agent.dialogue.tools import TransferRequest
from agent.dialogue.workflow import BookingWorkflow, CallTool, KeepPending

SLOTS = [{"start": "2030-07-01T10:00:00+01:00", "end": "2030-07-01T12:00:00+01:00"}]
NOW = datetime.fromisoformat("2030-07-01T07:00:00+01:00").timestamp()  # a Monday
BOOK_ARGS = {
    "service_id": "leak_repair",
    "slot_start": "2030-07-01T10:00:00+01:00",
    "slot_end": "2030-07-01T12:00:00+01:00",
    "name": "Ann Lee",
    "phone": "07700 900123",
    "address": "1 High St",
    "postcode": "sw1a 1aa",
    "problem": "the kitchen tap is leaking",
}
AVAILABILITY_ARGS = {
    "service_id": "leak_repair",
    "postcode": "SW1A 1AA",
    "earliest": "2030-07-01T08:00:00+01:00",
    "latest": "2030-07-01T18:00:00+01:00",
}


def call(name: str, args: dict, n: int = 1) -> ToolCall:
    return ToolCall(f"call_{n}", name, json.dumps(args))


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "agent.db", threaded=False)  # virtual-time tests
    yield database
    database.close()


def remote(api: FakeBookingApi):
    profile = fake_company(
        booking_api={"url": api.base_url, "key_env": "ACME_KEY"}, notify={"url": api.notify_url}
    )
    client = BookingClient(profile.booking_api, env={"ACME_KEY": "test-key"})
    return profile, client


async def test_api_down_booking_kept_caller_told_then_confirmed_once(db, autojump_clock):
    """Scenario 6: the booking API is down when the caller books."""
    async with open_fake_booking(slots=SLOTS) as api, trio.open_nursery() as nursery:
        profile, client = remote(api)
        outbox = Outbox(db)
        runner = BookingToolRunner(profile, client, outbox, Notifier(), "uuid-6")
        flow = BookingWorkflow(profile, "uuid-6", NOW)
        flow.start(NOW)

        # The model checks availability (API up) and the workflow learns the offer.
        (availability,) = flow.authorize(call("check_availability", AVAILABILITY_ARGS), NOW)
        result = await runner.run(availability, NOW)
        assert result.status == "ok" and result.data["slots"] == SLOTS
        flow.handle(result, NOW)

        # The API goes down; the model books the offered slot.
        api.down_for(30.0)
        (book,) = flow.authorize(call("book_appointment", BOOK_ARGS, 2), NOW)
        assert isinstance(book, CallTool) and book.idempotency_key == "uuid-6:1"
        with trio.fail_after(10):
            result = await runner.run(book, NOW)
        told = json.loads(result.for_model())
        assert told["status"] == "failed" and told["pending"] is True
        assert "will be confirmed" in told["note"]

        # The workflow keeps the booking too (same key: still one row) and says so.
        actions = flow.handle(result, NOW)
        kept = [a for a in actions if isinstance(a, KeepPending)]
        assert [k.idempotency_key for k in kept] == ["uuid-6:1"]
        for action in kept:
            await runner.keep_pending(action, NOW)
        assert [(i.key, i.status) for i in await outbox.items()] == [("uuid-6:1", "pending")]
        assert api.booking_posts == {}  # nothing reached the API yet

        # The outbox retries until the API is back: exactly one booking, one notification.
        backoff = Backoff(initial=1.0, cap=8.0)
        nursery.start_soon(
            lambda: run_outbox(outbox, lambda cid: client, Notifier(), backoff=backoff)
        )
        with trio.fail_after(120):
            final = await outbox.wait_final("uuid-6:1")
            await outbox.wait_final("uuid-6:1:notify")
        assert trio.current_time() >= 30.0
        nursery.cancel_scope.cancel()
    assert final.status == "confirmed"
    assert list(api.bookings) == ["uuid-6:1"] and api.booking_posts == {"uuid-6:1": 1}
    assert final.result["booking_id"] == api.bookings["uuid-6:1"]["booking_id"]
    assert api.notify_posts == 1
    ((_, note),) = api.notifications
    assert note["event"] == "booking" and note["data"]["booking_id"] == final.result["booking_id"]
    assert api.bookings["uuid-6:1"]["body"]["customer"]["phone"] == "+447700900123"
    api.assert_clean()


async def test_confirmed_booking_notifies_and_allows_only_one(db, autojump_clock):
    async with open_fake_booking(slots=SLOTS) as api:
        profile, client = remote(api)
        outbox = Outbox(db)
        runner = BookingToolRunner(profile, client, outbox, Notifier(), "uuid-1")
        with trio.fail_after(10):
            result = await runner.run(call("book_appointment", BOOK_ARGS), NOW)
            again = await runner.run(call("book_appointment", BOOK_ARGS, 2), NOW)
        assert result.status == "ok" and result.data["booking_id"] == runner.booking_id
        assert again.status == "refused" and "already has a booking" in again.error
        assert len(api.bookings) == 1
        # The booking was kept before it was tried; its confirmation and its
        # notification were recorded together.
        booking, note = await outbox.items()
        assert (booking.key, booking.status, booking.result) == (
            "uuid-1:1",
            "confirmed",
            {"booking_id": runner.booking_id},
        )
        assert (note.key, note.kind, note.status, note.payload["event"]) == (
            "uuid-1:1:notify",
            "notify",
            "pending",
            "booking",
        )


async def test_a_host_dying_mid_booking_leaves_it_to_any_worker(db, autojump_clock):
    """The API made the booking but the call's host died before the answer: a worker
    (here: another host's, after the call's lease) books it under the same key,
    gets the same booking back, and sends the one notification."""
    async with open_fake_booking(slots=SLOTS) as api, trio.open_nursery() as nursery:
        profile, client = remote(api)
        outbox = Outbox(db, clock=trio.current_time)  # leases in virtual time
        runner = BookingToolRunner(profile, client, outbox, Notifier(), "uuid-9")
        api.fail(Fault.LOST_REPLY)
        with trio.move_on_after(1):  # the host dies while it waits for the answer
            await runner.run(call("book_appointment", BOOK_ARGS), NOW)
        assert list(api.bookings) == ["uuid-9:1"] and api.notify_posts == 0
        (held,) = await outbox.items()
        assert (held.key, held.status) == ("uuid-9:1", "pending")
        nursery.start_soon(
            functools.partial(
                run_outbox, outbox, lambda cid: client, Notifier(), owner="other-host"
            )
        )
        with trio.fail_after(300):
            final = await outbox.wait_final("uuid-9:1")
            await outbox.wait_final("uuid-9:1:notify")
        # Not before the call's lease was up: its own request might have been in flight.
        assert trio.current_time() >= HELD_BOOKING_LEASE_S
        nursery.cancel_scope.cancel()
    assert final.status == "confirmed"
    assert final.result["booking_id"] == api.bookings["uuid-9:1"]["booking_id"]
    assert api.booking_posts == {"uuid-9:1": 2} and len(api.bookings) == 1
    assert api.notify_posts == 1


async def test_slot_taken_moves_to_the_next_key(db, autojump_clock):
    async with open_fake_booking(slots=SLOTS) as api:
        profile, client = remote(api)
        runner = BookingToolRunner(profile, client, Outbox(db), None, "uuid-2")
        api.fail(Fault.SLOT_TAKEN)
        with trio.fail_after(10):
            taken = await runner.run(call("book_appointment", BOOK_ARGS), NOW)
            booked = await runner.run(call("book_appointment", BOOK_ARGS, 2), NOW)
        assert taken.status == "slot_taken" and booked.status == "ok"
        assert list(api.booking_posts) == ["uuid-2:1", "uuid-2:2"]
        assert list(api.bookings) == ["uuid-2:2"]
        # The refused try was settled in the call: nothing of it is left to deliver.
        assert [(i.key, i.status) for i in await runner.outbox.items()] == [
            ("uuid-2:2", "confirmed"),
            ("uuid-2:2:notify", "pending"),
        ]


async def test_invalid_from_the_api_names_the_field(db, autojump_clock):
    async with open_fake_booking() as api:
        profile, client = remote(api)
        api.fail(Fault.INVALID)
        runner = BookingToolRunner(profile, client, Outbox(db), None, "uuid-3")
        with trio.fail_after(10):
            result = await runner.run(call("book_appointment", BOOK_ARGS), NOW)
        assert (result.status, result.field) == ("invalid", "postcode")


async def test_failures_without_an_outbox_are_results(autojump_clock):
    async with open_fake_booking() as api:
        profile, client = remote(api)
        api.down()
        runner = BookingToolRunner(profile, client, None, None, "uuid-4")
        with trio.fail_after(10):
            slots = await runner.run(call("check_availability", AVAILABILITY_ARGS), NOW)
            book = await runner.run(call("book_appointment", BOOK_ARGS), NOW)
        assert slots.status == "failed" and book.status == "failed"
        assert "pending" not in book.data


async def test_quote_is_local_and_bad_calls_are_refused(db):
    runner = BookingToolRunner(
        fake_company(), BookingStore(db, fake_company()), None, None, "uuid-5"
    )
    quote = await runner.run(call("get_quote", {"service_id": "drain_unblock"}), NOW)
    assert quote.status == "ok" and quote.data["fixed"] == 120.0
    unknown = await runner.run(call("get_quote", {"service_id": "roofing"}), NOW)
    assert (unknown.status, unknown.field) == ("refused", "service_id")
    outside = await runner.run(
        call("check_availability", {**AVAILABILITY_ARGS, "postcode": "N1 9GU"}), NOW
    )
    assert (outside.status, outside.field) == ("refused", "postcode")
    ended = await runner.run(call("end_call", {"reason": "done"}), NOW)
    assert ended.status == "ok"


async def test_local_store_availability_and_booking(tmp_path):
    db = open_database(tmp_path / "agent.db")  # worker threads, real time
    try:
        profile = fake_company()
        store = BookingStore(db, profile, clock=lambda: NOW)
        runner = BookingToolRunner(profile, store, Outbox(db), None, "uuid-7")
        with trio.fail_after(5):
            found = await runner.run(call("check_availability", AVAILABILITY_ARGS), NOW)
            booked = await runner.run(call("book_appointment", BOOK_ARGS), NOW)
            after = await runner.run(call("check_availability", AVAILABILITY_ARGS), NOW)
        assert [s["start"][11:16] for s in found.data["slots"]] == [
            "08:00",
            "10:00",
            "12:00",
            "14:00",
            "16:00",
        ]
        assert booked.status == "ok" and booked.data["booking_id"].startswith("BK-")
        assert "10:00" not in [s["start"][11:16] for s in after.data["slots"]]
    finally:
        db.close()


async def test_transfer_only_to_the_allowlist_and_the_business_is_told(db):
    profile = fake_company(notify={"url": "http://127.0.0.1:9/notify"})
    outbox = Outbox(db)
    runner = BookingToolRunner(profile, BookingStore(db, profile), outbox, None, "uuid-8")
    refused = await runner.run(call("transfer_to_human", {"target": "PJSIP/6666"}), NOW)
    assert (refused.status, refused.field) == ("refused", "target")
    forged = CallTool("transfer_to_human", TransferRequest(TransferTarget("boss", "PJSIP/6666")))
    refused_too = await runner.run(forged, NOW)
    assert refused_too.status == "refused" and "not an allowed target" in refused_too.error
    assert await outbox.items() == []
    ok = await runner.run(call("transfer_to_human", {"target": "Office", "reason": "asks"}), NOW)
    assert ok.status == "ok" and ok.data == {"target": "office"}
    (note,) = await outbox.items()
    assert note.payload["event"] == "transfer" and note.payload["data"]["dial"] == "PJSIP/1001"


async def test_callback_request_goes_to_the_outbox(db):
    profile = fake_company(notify={"url": "http://127.0.0.1:9/notify"})
    outbox = Outbox(db)
    runner = BookingToolRunner(profile, BookingStore(db, profile), outbox, None, "uuid-9")
    await runner.keep_pending(KeepPending("callback", {"phone": "+447700900123"}), NOW)
    (note,) = await outbox.items()
    assert note.payload["event"] == "callback_requested"
    assert note.payload["data"] == {"reason": "callback", "phone": "+447700900123"}


def test_runner_needs_a_call_uuid():
    with pytest.raises(ValueError, match="call_uuid"):
        BookingToolRunner(attrs.evolve(fake_company()), None, None, None, "")  # type: ignore[arg-type]
