"""The booking API client and notifier against the fake booking API over loopback."""

from __future__ import annotations

import httpx
import pytest
import trio

from agent.base.errors import (
    ConfigError,
    ProviderConnectError,
    ProviderStatusError,
    ProviderTimeout,
)
from agent.business.booking import BookingClient, Notifier, api_key_from_env, notification
from agent.business.company import BookingApi
from agent.demo.booking_api import FakeBookingApi, Fault, fake_company, open_fake_booking
from agent.dialogue.tools import BookingRequest

PROFILE = fake_company()
ENV = {"ACME_BOOKING_KEY": "test-key"}
SLOTS = [
    {"start": "2030-07-01T10:00:00+01:00", "end": "2030-07-01T12:00:00+01:00"},
    {"start": "2030-07-01T08:00:00+01:00", "end": "2030-07-01T10:00:00+01:00"},
    {"start": "2030-07-09T08:00:00+01:00", "end": "2030-07-09T10:00:00+01:00"},
]
QUERY = {
    "service": "leak_repair",
    "postcode": "SW1A 1AA",
    "from": "2030-07-01T00:00:00+01:00",
    "to": "2030-07-02T00:00:00+01:00",
}


def client_for(api: FakeBookingApi, env=ENV, **kw) -> BookingClient:
    return BookingClient(BookingApi(api.base_url, "ACME_BOOKING_KEY"), env=env, **kw)


def body(start: float = 1909126800.0) -> dict:  # 2030-07-01T10:00:00+01:00
    request = BookingRequest(
        "leak_repair", start, start + 7200, "Ann Lee", "+447700900123", "1 High St", "SW1A 1AA"
    )
    return request.body(PROFILE, "call-1")


async def test_availability_sends_the_query_and_the_key():
    async with open_fake_booking(slots=SLOTS) as api:
        with trio.fail_after(5):
            found = await client_for(api).availability(QUERY)
        assert [s["start"] for s in found.slots] == [
            "2030-07-01T08:00:00+01:00",
            "2030-07-01T10:00:00+01:00",
        ]
        assert api.requests[0].query == QUERY
        assert api.requests[0].headers["authorization"] == "Bearer test-key"
        api.assert_clean()


async def test_booking_twice_with_one_key_makes_one_booking():
    async with open_fake_booking(slots=SLOTS) as api:
        client = client_for(api)
        with trio.fail_after(5):
            first = await client.book(body(), "call-1:1")
            again = await client.book(body(), "call-1:1")
        assert (first.status, first.replayed) == ("confirmed", False)
        assert (again.booking_id, again.replayed) == (first.booking_id, True)
        assert list(api.bookings) == ["call-1:1"] and api.booking_posts == {"call-1:1": 2}
        assert api.requests[0].headers["idempotency-key"] == "call-1:1"
        api.assert_clean()


async def test_409_and_422_are_results_not_exceptions():
    async with open_fake_booking() as api:
        api.fail(Fault.SLOT_TAKEN)
        api.fail(Fault.INVALID)
        client = client_for(api)
        with trio.fail_after(5):
            taken = await client.book(body(), "call-1:1")
            invalid = await client.book(body(), "call-1:2")
        assert (taken.status, taken.error) == ("slot_taken", "slot_taken")
        assert (invalid.status, invalid.field) == ("invalid", "postcode")
        assert api.bookings == {}


async def test_server_error_is_retryable_status_error():
    async with open_fake_booking() as api:
        api.fail(Fault.SERVER_ERROR, path=None)
        with trio.fail_after(5), pytest.raises(ProviderStatusError) as caught:
            await client_for(api).availability(QUERY)
        assert caught.value.status == 500 and caught.value.retryable


async def test_refused_connection_is_retryable_connect_error():
    async with open_fake_booking() as api:
        api.down()
        with trio.fail_after(5), pytest.raises(ProviderConnectError) as caught:
            await client_for(api).book(body(), "call-1:1")
        assert caught.value.retryable
        await api.up()
        with trio.fail_after(5):
            assert (await client_for(api).book(body(), "call-1:1")).confirmed


async def test_stall_times_out_after_three_seconds(autojump_clock):
    async with open_fake_booking() as api:
        api.fail(Fault.STALL)
        started = trio.current_time()
        with trio.fail_after(30), pytest.raises(ProviderTimeout) as caught:
            await client_for(api).book(body(), "call-1:1")
        assert caught.value.retryable
        assert trio.current_time() - started == pytest.approx(3.0, abs=0.1)


async def test_lost_reply_then_retry_returns_the_same_booking(autojump_clock):
    async with open_fake_booking() as api:
        api.fail(Fault.LOST_REPLY)
        client = client_for(api)
        with trio.fail_after(30):
            with pytest.raises(ProviderTimeout):
                await client.book(body(), "call-1:1")
            retry = await client.book(body(), "call-1:1")
        assert retry.replayed and retry.booking_id == api.bookings["call-1:1"]["booking_id"]
        assert len(api.bookings) == 1


async def test_wrong_key_is_a_final_401_and_the_fake_complains():
    async with open_fake_booking() as api:
        with trio.fail_after(5), pytest.raises(ProviderStatusError) as caught:
            await client_for(api, env={"ACME_BOOKING_KEY": "wrong"}).availability(QUERY)
        assert caught.value.status == 401 and not caught.value.retryable
        with pytest.raises(AssertionError, match="Authorization"):
            api.assert_clean()


async def test_shared_httpx_client_is_used():
    async with open_fake_booking(slots=SLOTS) as api, httpx.AsyncClient() as shared:
        with trio.fail_after(5):
            found = await client_for(api, client=shared).availability(QUERY)
        assert len(found.slots) == 2


def test_missing_key_variable_is_a_config_error():
    with pytest.raises(ConfigError, match="ACME_BOOKING_KEY"):
        api_key_from_env(BookingApi("http://127.0.0.1:1", "ACME_BOOKING_KEY"), {})
    assert api_key_from_env(BookingApi("http://127.0.0.1:1"), {}) is None


async def test_notifier_posts_the_event_with_its_key():
    async with open_fake_booking(notify_key="hook-key") as api:
        payload = notification(
            "transfer", call_uuid="c", company_id="acme", at="2030-07-01T10:00:00+01:00", data={}
        )
        with trio.fail_after(5):
            await Notifier(api_key="hook-key").send(api.notify_url, payload, "c:transfer")
        assert api.notifications == [("c:transfer", payload)]
        api.assert_clean()
