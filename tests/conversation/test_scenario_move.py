"""Whole calls in virtual time (the style of ``test_scenarios``): booked for
tomorrow, then "Can we make it Thursday instead?", Thursday's first free slot
offered, taken, and the booking moved: in the local store, through the fake booking
API, and with the API down at the move (kept in the outbox, the caller told it is
asked for, delivered once the API is back)."""

from __future__ import annotations

import json
from datetime import datetime

import attrs
import trio

from agent.business.booking import BookingClient, Notifier
from agent.business.bookingstore import BookingStore
from agent.business.company import BookingApi
from agent.business.outbox import Backoff
from agent.business.outbox_delivery import run_outbox
from agent.demo.booking_api import open_fake_booking
from agent.demo.offline import LocalSlotsRemoteBookings
from agent.demo.scenarios import SCENARIOS
from tests.conversation.test_scenarios import COMPANY, assert_ended_by_agent, db, run_scenario

__all__ = ["db"]  # the fixture, shared

MOVED = "Done, I've moved your booking to Thursday the 4th of July at eight in the morning"


def weekday(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%A")


async def test_the_caller_moves_the_booking_to_thursday_in_the_local_store(db, autojump_clock):
    r = await run_scenario(SCENARIOS["move"], db)
    assert_ended_by_agent(r)
    (row,) = await BookingStore(db, COMPANY).bookings()
    body = json.loads(row["body"])
    assert weekday(body["slot"]["start"]) == "Thursday"
    assert datetime.fromtimestamp(row["start"], COMPANY.timezone).strftime("%A %H:%M") == (
        "Thursday 08:00"
    )
    assert "I can do Thursday the 4th of July at eight in the morning instead" in r.heard
    assert MOVED in r.heard
    assert "office will call you to move it" not in r.heard


class _Remote(LocalSlotsRemoteBookings):
    """Slots from the local store, bookings and moves through the fake API; the API
    goes down just before the move when ``down_at_move``."""

    def __init__(self, store, client, api, *, down_at_move: bool) -> None:
        super().__init__(store, client)
        self.api, self.down_at_move = api, down_at_move

    async def amend(self, booking_id, changes, key):
        if self.down_at_move:
            self.api.down()
        return await super().amend(booking_id, changes, key)


async def _call(db, api, *, down_at_move: bool):
    company = attrs.evolve(COMPANY, notify_url=api.notify_url)
    client = BookingClient(BookingApi(api.base_url, "BOOKING_KEY"), env={"BOOKING_KEY": "test-key"})
    backend = _Remote(BookingStore(db, company), client, api, down_at_move=down_at_move)
    return await run_scenario(SCENARIOS["move"], db, backend=backend, company=company), client


async def test_the_caller_moves_the_booking_through_the_booking_api(db, autojump_clock):
    async with open_fake_booking() as api:
        r, _ = await _call(db, api, down_at_move=False)
        assert_ended_by_agent(r)
        (booking,) = api.bookings.values()
        assert weekday(booking["body"]["slot"]["start"]) == "Thursday"
        ((amend_key, patch),) = api.amendments
        assert amend_key == f"{r.call.uuid}:amend:1" and set(patch) == {"slot"}
        assert MOVED in r.heard
        api.assert_clean()


async def test_with_the_api_down_the_move_is_kept_told_truthfully_then_made(db, autojump_clock):
    async with open_fake_booking() as api, trio.open_nursery() as nursery:
        r, client = await _call(db, api, down_at_move=True)
        assert_ended_by_agent(r)
        assert "I've asked for your booking to be moved to Thursday the 4th of July" in r.heard
        assert "isn't changed yet" in r.heard and "You'll get a confirmation" in r.heard
        assert "Done, I've moved" not in r.heard
        ((key, booking),) = api.bookings.items()
        assert weekday(booking["body"]["slot"]["start"]) == "Wednesday"  # not moved yet
        (kept,) = [i for i in await r.outbox.items() if i.kind == "amend"]
        assert kept.status == "pending" and set(kept.payload["changes"]) == {"slot"}
        await api.up()
        nursery.start_soon(
            lambda: run_outbox(r.outbox, lambda cid: client, Notifier(), backoff=Backoff(cap=8))
        )
        with trio.fail_after(300):
            final = await r.outbox.wait_final(kept.key)
        nursery.cancel_scope.cancel()
    assert final.status == "confirmed"
    assert weekday(api.bookings[key]["body"]["slot"]["start"]) == "Thursday"
    assert [k for k, _ in api.amendments] == [kept.key]  # once, with the key kept
    api.assert_clean()
