"""The outbox across two real ``serve`` hosts on one PostgreSQL, one SIGKILLed.

200 bookings wait in the shared outbox (calls the booking API could not take
at once). Two conversation hosts deliver them to the fake booking API, and host
b is SIGKILLed mid-run: host a finishes the rest (b's claims expire with their
lease). Every booking exists once at the API (one per Idempotency-Key, no slot
twice) and every notification is delivered once. Skipped without PostgreSQL.
"""

from __future__ import annotations

import json
import signal
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import trio

from agent.business.database import open_database
from agent.business.outbox import Outbox
from agent.demo.booking_api import fake_company, open_fake_booking
from agent.dialogue.tools import BookingRequest
from tests.serve_process import free_port, serve_process

pytestmark = pytest.mark.realtime

ROWS = 200
PROFILE = fake_company()
LONDON = ZoneInfo("Europe/London")


def company(api) -> dict:
    hours = {d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
    hours |= {"sat": ["09:00-13:00"], "sun": []}
    return {
        "id": "acme",
        "name": "Acme Plumbing",
        "timezone": "Europe/London",
        "hours": hours,
        "services": [
            {
                "id": "leak_repair",
                "name": "Leak repair",
                "description": "Leaks.",
                "price": {"call_out": 85},
            }
        ],
        "service_area": ["SW1"],
        "transfer_targets": [{"name": "office", "dial": "PJSIP/1001"}],
        "booking_api": {"url": api.base_url, "key_env": "ACME_BOOKING_KEY"},
        "notify": {"url": api.notify_url},
        "dids": ["+442071234567"],
    }


def body(n: int) -> dict:
    """Booking ``n``: its own one-hour slot (the fake refuses a slot twice)."""
    start = datetime(2031, 3, 3, 8, tzinfo=LONDON) + timedelta(days=n // 10, hours=n % 10)
    request = BookingRequest(
        "leak_repair",
        start.timestamp(),
        (start + timedelta(hours=1)).timestamp(),
        "Ann Lee",
        "+447700900123",
        "1 High St",
        "SW1A 1AA",
    )
    return request.body(PROFILE, f"call-{n}")


def posted(host) -> bool:
    """Whether ``host`` has logged a booking POST."""
    return any("POST http" in line and "/bookings" in line for line in host.lines)


async def test_two_hosts_deliver_every_booking_and_notification_once(pg_url, tmp_path):
    # 10 ms an answer: one host alone needs at least 4 s for the 400 requests, far
    # longer than the other host takes to see the rows (its poll is 2 s).
    async with open_fake_booking(api_key="k", latency_s=0.01) as api:
        companies = tmp_path / "companies.json"
        companies.write_text(json.dumps({"default": "acme", "companies": [company(api)]}))

        def env(name: str) -> dict[str, str]:
            return {
                "VOICE_AGENT_DB": pg_url,
                "VOICE_AGENT_HOST_NAME": name,
                "VOICE_AGENT_PORT": str(free_port()),
                "VOICE_AGENT_AGI_PORT": str(free_port()),
                "VOICE_AGENT_COMPANIES": str(companies),
                "ACME_BOOKING_KEY": "k",
                "VOICE_AGENT_STT": "deepgram",
                "DEEPGRAM_API_KEY": "unused",
                "VOICE_AGENT_LLM": "offline",
                "VOICE_AGENT_TTS": "cartesia",
                "CARTESIA_API_KEY": "unused",
                "CARTESIA_VOICE_ID": "voice-1",
                # b's claimed rows go to a this soon after b dies (the fake answers at once).
                "VOICE_AGENT_OUTBOX_LEASE_S": "1.5",
            }

        args = ["serve", "--brain", "conversation"]
        async with serve_process(args, env("host-a")) as a, serve_process(args, env("host-b")) as b:
            # The rows arrive once both hosts serve: neither has a head start.
            for host in (a, b):
                await host.wait_for(r"serving \(", timeout=30)
            db = open_database(pg_url)
            outbox = Outbox(db)
            for n in range(ROWS):
                await outbox.put_booking(f"call-{n}:1", "acme", body(n), notify_url=api.notify_url)
            db.close()
            with trio.fail_after(30):
                # b is killed once the delivery is under way on both hosts.
                while sum(api.booking_posts.values()) < ROWS // 4 or not posted(b):
                    await trio.sleep(0.01)
                b.signal(signal.SIGKILL)
                while len(api.bookings) < ROWS or len(api.notifications) < ROWS:
                    await trio.sleep(0.05)
            await trio.sleep(1.0)  # nothing more arrives: no late repeats
            a.signal(signal.SIGTERM)
            assert await a.wait(timeout=15) == 0
            assert posted(a)  # a delivered too (b's posts were awaited above)

    api.assert_clean()
    assert sorted(api.bookings) == sorted(f"call-{n}:1" for n in range(ROWS))
    starts = [b["body"]["slot"]["start"] for b in api.bookings.values()]
    assert len(set(starts)) == ROWS  # no slot booked twice
    keys = [key for key, _ in api.notifications]
    assert sorted(keys) == sorted(f"call-{n}:1:notify" for n in range(ROWS))
    # The one request b's worker had in flight when it died may be sent again by a
    # (its Idempotency-Key lets the API answer with the same booking); nothing else
    # is ever repeated.
    assert (sum(api.booking_posts.values()) - ROWS) + (api.notify_posts - ROWS) <= 1
    print(
        f"\noutbox across 2 hosts: {ROWS} bookings, {sum(api.booking_posts.values())} POSTs,"
        f" {api.notify_posts} notifications"
    )
