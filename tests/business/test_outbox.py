"""The persistent outbox: backoff, final answers, notifications, restarts."""

from __future__ import annotations

import functools

import pytest
import trio

from agent.business.booking import BookingClient, Notifier
from agent.business.bookingstore import open_database
from agent.business.company import BookingApi
from agent.business.outbox import Backoff, Outbox
from agent.business.outbox_delivery import run_outbox
from agent.demo.booking_api import FakeBookingApi, Fault, fake_company, open_fake_booking
from agent.dialogue.tools import BookingRequest

PROFILE = fake_company()
NO_JITTER = Backoff(initial=1.0, factor=2.0, cap=8.0, jitter=0.0)


def body() -> dict:
    request = BookingRequest(
        "leak_repair",
        1909126800.0,
        1909134000.0,
        "Ann Lee",
        "+447700900123",
        "1 High St",
        "SW1A 1AA",
    )
    return request.body(PROFILE, "call-1")


@pytest.fixture
def db(tmp_path):
    # Inline SQLite calls: autojump would jump ahead while a worker thread runs.
    database = open_database(tmp_path / "agent.db", threaded=False)
    yield database
    database.close()


def backend_for(api: FakeBookingApi):
    client = BookingClient(BookingApi(api.base_url, "K"), env={"K": "test-key"})
    return lambda company_id: client if company_id == PROFILE.id else None


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter():
    assert [NO_JITTER.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    spread = Backoff(initial=10, cap=10, jitter=0.2)
    assert spread.delay(1, 0.0) == pytest.approx(8.0)
    assert spread.delay(1, 0.999999) == pytest.approx(12.0)
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=1.5)
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=0)


async def test_putting_a_key_twice_keeps_one_row(db):
    outbox = Outbox(db)
    first = await outbox.put_booking("call-1:1", "acme", body())
    again = await outbox.put_booking("call-1:1", "acme", {"other": True})
    assert again.payload == first.payload and again.status == "pending"
    assert [item.key for item in await outbox.items()] == ["call-1:1"]


async def test_retries_with_backoff_until_confirmed_then_notifies_once(db, autojump_clock):
    finals = []
    async with open_fake_booking() as api, trio.open_nursery() as nursery:
        api.fail(Fault.SERVER_ERROR, times=3)
        outbox = Outbox(db)
        await outbox.put_booking(
            "call-1:1", "acme", body(), notify_url=api.notify_url, call_uuid="call-1"
        )
        started = trio.current_time()
        await nursery.start(
            lambda task_status: run_outbox(
                outbox,
                backend_for(api),
                Notifier(),
                backoff=NO_JITTER,
                on_final=finals.append,
                task_status=task_status,
            )
        )
        with trio.fail_after(60):
            item = await outbox.wait_final("call-1:1")
            assert trio.current_time() - started == pytest.approx(1 + 2 + 4, abs=0.5)
            note = await outbox.wait_final("call-1:1:notify")
        nursery.cancel_scope.cancel()
    assert (item.status, item.attempts, item.result) == (
        "confirmed",
        4,
        {"booking_id": api.bookings["call-1:1"]["booking_id"]},
    )
    assert api.booking_posts == {"call-1:1": 4} and len(api.bookings) == 1
    assert note.status == "confirmed" and api.notify_posts == 1
    ((key, sent),) = api.notifications
    assert key == "call-1:1:notify" and sent["event"] == "booking"
    assert sent["data"]["booking_id"] == item.result["booking_id"]
    assert [f.key for f in finals] == ["call-1:1", "call-1:1:notify"]
    api.assert_clean()


async def test_slot_taken_is_final_failure_and_asks_for_a_callback(db, autojump_clock):
    async with open_fake_booking() as api, trio.open_nursery() as nursery:
        api.fail(Fault.SLOT_TAKEN)
        outbox = Outbox(db)
        await outbox.put_booking("call-1:1", "acme", body(), notify_url=api.notify_url)
        nursery.start_soon(run_outbox, outbox, backend_for(api), Notifier())
        with trio.fail_after(60):
            item = await outbox.wait_final("call-1:1")
            await outbox.wait_final("call-1:1:notify")
        nursery.cancel_scope.cancel()
    assert item.status == "failed" and item.last_error == "slot_taken"
    assert api.booking_posts == {"call-1:1": 1} and api.bookings == {}
    assert api.notifications[0][1]["event"] == "callback_requested"
    assert "slot_taken" in api.notifications[0][1]["data"]["reason"]


async def test_refused_notification_is_final(db, autojump_clock):
    async with open_fake_booking(notify_key="right") as api, trio.open_nursery() as nursery:
        outbox = Outbox(db)
        await outbox.put_notification("c:transfer:notify", "acme", api.notify_url, {"x": 1})
        nursery.start_soon(run_outbox, outbox, backend_for(api), Notifier(api_key="wrong"))
        with trio.fail_after(60):
            item = await outbox.wait_final("c:transfer:notify")
        nursery.cancel_scope.cancel()
    assert item.status == "failed" and "401" in item.last_error
    assert api.notify_posts == 0  # refused before it counted


async def test_pending_rows_are_retried_after_a_restart(tmp_path, autojump_clock):
    path = tmp_path / "agent.db"
    first_run = open_database(path, threaded=False)
    outbox = Outbox(first_run)
    await outbox.put_booking("call-1:1", "acme", body())
    await outbox.put_booking("call-2:1", "acme", body())
    await outbox.finish("call-2:1", "confirmed", {"booking_id": "old"})
    first_run.close()

    second_run = open_database(path, threaded=False)
    try:
        outbox = Outbox(second_run)
        async with open_fake_booking() as api, trio.open_nursery() as nursery:
            nursery.start_soon(run_outbox, outbox, backend_for(api), None)
            with trio.fail_after(60):
                item = await outbox.wait_final("call-1:1")
            nursery.cancel_scope.cancel()
        assert item.status == "confirmed"
        assert list(api.booking_posts) == ["call-1:1"]  # the confirmed row was left alone
    finally:
        second_run.close()


async def test_unknown_company_keeps_the_row_pending(db, autojump_clock):
    async with open_fake_booking() as api, trio.open_nursery() as nursery:
        outbox = Outbox(db)
        await outbox.put_booking("call-1:1", "someone-else", body())
        nursery.start_soon(run_outbox, outbox, backend_for(api), None)
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    item = await outbox.get("call-1:1")
    assert item is not None and item.status == "pending" and item.attempts >= 3
    assert "someone-else" in item.last_error


async def test_worker_thread_database_in_real_time(tmp_path):
    db = open_database(tmp_path / "agent.db")  # threaded, as in production
    fast = Backoff(initial=0.01, cap=0.02, jitter=0.0)
    try:
        async with open_fake_booking() as api, trio.open_nursery() as nursery:
            api.fail(Fault.SERVER_ERROR, times=2)
            outbox = Outbox(db)
            await outbox.put_booking("call-1:1", "acme", body())
            nursery.start_soon(
                functools.partial(run_outbox, outbox, backend_for(api), None, backoff=fast)
            )
            with trio.fail_after(5):
                item = await outbox.wait_final("call-1:1")
            nursery.cancel_scope.cancel()
        assert (item.status, item.attempts) == ("confirmed", 3)
        assert len(api.bookings) == 1
    finally:
        db.close()
