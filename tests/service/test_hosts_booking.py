"""Two real ``serve`` hosts booking real calls on one PostgreSQL; one SIGKILLed mid-booking.

The multi-host test (``test_hosts_multi``) with the receptionist instead of the
echo brain: both hosts run the conversation brain with the offline dialogue
policy, the real Deepgram and Cartesia clients (against their fakes on loopback:
the caller speaks tone-text and the fake recogniser decodes each connection's
own audio, so 26 calls at once each get their own words), the real booking
client against the fake booking API, and the shared PostgreSQL outbox for the
notifications. Every caller books its own slot in one breath ("... Monday at 9
am"), says yes twice and hangs up once the agent has read the booking back (a
slow tool's filler is waited out; a question asked again, as when a loaded line
loses a word, is answered again).

Setup goes to host a, which keeps calls while it has room (20) and sends the rest
to b. b's six calls start 1.5 s apart. Once a's first 20 are booked, the next
booking POST (one of b's) gets a 500, so it waits in the shared outbox, and the
outbox's first try of it stalls; b is SIGKILLed with that try in flight and one
of its calls booked, the others dying at every step of the booking. a closes
them ``interrupted``, takes the outbox row over when its lease ends and books it
under the same Idempotency-Key (when a's worker claimed the row first, its own
try stalls and its retry books it); the calls after the kill all go to a. Every
booking exists once at the API (one per call, no slot twice, one POST each but
the outboxed one's three; a booking b had in flight at the kill is kept in the
outbox before its POST, so a books it again under the same key: two POSTs, one
booking) and every booking's notification arrives once. Skipped without PostgreSQL.
"""

from __future__ import annotations

import json
import signal
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import trio

from agent.conversation.params import ConversationParams
from agent.demo.booking_api import Fault, open_fake_booking
from agent.demo.softphone import Caller, CallerParams, HangUp, Say
from tests.fakes.cartesia import FakeCartesia
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.tone_text import decode_tones, encode_tones
from tests.serve_process import serve_process
from tests.service.test_hosts_multi import ADDRESSES, Calls, host_env, records
from tests.service.test_hosts_outbox import company

# About 60-80 s of real calls: the slow tier (make test-slow, run by .ci/run).
pytestmark = [pytest.mark.realtime, pytest.mark.slow]

CAPACITY = 20
ON_B = 6  # b's calls, placed while a is full
AFTER = 40 - CAPACITY - ON_B  # the calls placed after b died
LONDON = ZoneInfo("Europe/London")
FILLER = ConversationParams().filler
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


def free_slots() -> list[dict[str, str]]:
    """Hourly slots, 08:00-18:00 on weekdays, for the next two weeks (London)."""
    today = datetime.now(LONDON).date()
    slots = []
    for ahead in range(1, 15):
        day = today + timedelta(days=ahead)
        for hour in range(8, 18) if day.weekday() < 5 else ():
            start = datetime(day.year, day.month, day.day, hour, tzinfo=LONDON)
            end = start + timedelta(hours=1)
            slots.append({"start": start.isoformat(), "end": end.isoformat()})
    return slots


def booking_call(n: int) -> list:
    """Caller ``n`` asks for its own weekday and hour (40 callers, 40 slots)."""
    hour = 8 + n // len(DAYS)
    clock = f"{hour} am" if hour < 12 else f"{hour - 12 or 12} pm"
    when = f"{DAYS[n % len(DAYS)]} at {clock}"
    request = (
        f"My sink is leaking. I'm Ann Lee, 22 Baker Street, SW1A 1AA, phone 07700 900123, {when}."
    )
    yes = encode_tones("Yes, please.")
    return [
        # After the greeting: a request said over it was heard in part on a loaded host.
        Say(encode_tones(request), label=request),
        Say(yes, label="yes to the quote"),
        Say(yes, label="yes to the slot"),
        Say(b"", label="hears the booking out"),  # "You're booked. That's ..."
        HangUp(),
    ]


# What a caller says when the agent asks again (a word lost on a loaded line):
# (words of the agent's question, the answer).
ANSWERS = (
    (("Can I take your name", "getting your name"), "I'm Ann Lee."),
    (("address of the job", "missing the address"), "It's 22 Baker Street."),
    (("And the postcode?", "valid postcode", "getting the postcode"), "SW1A 1AA."),
    (("best number", "number doesn't look", "whole number", "number isn't"), "07700 900123."),
    (("When would suit", "get a day"), None),  # the caller's own day and hour
    (("Was that ",), "Yes, that's right."),
)


def react(caller: Caller) -> list:
    """Before each step, what the agent said since the caller's last words: the
    filler of a slow tool ("One moment, please.") is waited out, not answered; a
    question asked again is answered again; anything else: the script goes on."""
    ends = [u.end_at for u in caller.utterances if u.end_at is not None]
    since = max(ends, default=0.0)
    said = decode_tones(b"".join(r.pcm for r in caller.received if r.at >= since)).strip()
    if said in ("", FILLER):
        return [Say(b"", label="waits out the filler")]
    for asks, answer in ANSWERS:
        if any(ask.lower() in said.lower() for ask in asks):  # "Just to check, was that ..."
            text = answer or caller.script[0].label.rsplit(", ", 1)[1]  # "Monday at 9 am."
            return [Say(encode_tones(text), label=text)]
    return []


def provider_env(deepgram, cartesia, companies) -> dict[str, str]:
    return {
        "VOICE_AGENT_COMPANIES": str(companies),
        "ACME_BOOKING_KEY": "k",
        "VOICE_AGENT_STT": "deepgram",
        "DEEPGRAM_API_KEY": deepgram.api_key,
        "DEEPGRAM_URL": deepgram.url,
        "VOICE_AGENT_LLM": "offline",
        "VOICE_AGENT_TTS": "cartesia",
        "CARTESIA_API_KEY": "test-key",
        "CARTESIA_VOICE_ID": "voice-1",
        "CARTESIA_URL": cartesia.url,
        "VOICE_AGENT_TTS_FALLBACK": "none",
        # b's claimed outbox rows go to a this soon after b dies (above the booking
        # client's 3 s timeout, so a stalled try is never doubled by another worker).
        "VOICE_AGENT_OUTBOX_LEASE_S": "4",
    }


async def test_two_hosts_book_calls_and_one_dies_mid_booking(pg_url, tmp_path):
    began = time.monotonic()
    async with (
        open_fake_booking(api_key="k", slots=free_slots()) as api,
        open_fake_deepgram(hear=decode_tones, sample_rate=8000) as deepgram,
        trio.open_nursery() as fakes,
    ):
        cartesia = await fakes.start(FakeCartesia().serve)
        companies = tmp_path / "companies.json"
        companies.write_text(json.dumps({"default": "acme", "companies": [company(api)]}))
        providers = provider_env(deepgram, cartesia, companies)
        env_a, ports_a = host_env("host-a", pg_url, CAPACITY)
        env_b, ports_b = host_env("host-b", pg_url, CAPACITY)
        addr_a = f"127.0.0.2:{ports_a['audiosocket']}"
        addr_b = f"127.0.0.3:{ports_b['audiosocket']}"
        args = ["serve"]
        async with (
            serve_process(args, env_a | providers) as a,
            serve_process(args, env_b | providers) as b,
        ):
            for served, name in ((a, "host-a"), (b, "host-b")):
                await served.wait_for(rf"host {name} joined the registry", timeout=30)
                await served.wait_for(
                    r"serving \(conversation stt=deepgram llm=offline", timeout=30
                )
            # A pause of the agent's voice this long ends its turn: longer than the
            # default, so a loaded host's stalled playout is not taken for the end.
            params = CallerParams(linger_s=0, agent_quiet_ms=1500, max_answers=6)
            calls = Calls(ports_a["agi"], react, params)
            numbers = iter(range(40))

            def script(addr: str) -> list:
                return booking_call(next(numbers))

            def booked(uuids) -> list[str]:
                made = {b["body"]["call_uuid"] for b in api.bookings.values()}
                return [u for u in uuids if u in made]

            def notified(uuids) -> list[str]:
                told = {body["call_uuid"] for _, body in api.notifications}
                return [u for u in uuids if u in told]

            def heard(uuids) -> str:
                """What the callers who did not book heard (a failure's evidence)."""
                return "\n".join(
                    f"{u}: {decode_tones(calls.dialled[u].agent_audio())!r}\n"
                    + "\n".join(line for line in a.lines + b.lines if u in line and "WARN" in line)
                    for u in uuids
                )

            async with trio.open_nursery() as nursery:
                on_a = [await calls.place(nursery, script) for _ in range(CAPACITY)]
                on_b = []
                for _ in range(ON_B):  # a is full: b gets them, one every 1.5 s
                    on_b.append(await calls.place(nursery, script))
                    await trio.sleep(1.5)
                assert [calls.routed[u] for u in on_a] == [addr_a] * CAPACITY
                assert [calls.routed[u] for u in on_b] == [addr_b] * ON_B
                with trio.move_on_after(60):
                    while len(booked(on_a)) < CAPACITY:
                        await trio.sleep(0.02)
                assert booked(on_a) == on_a, heard(set(on_a) - set(booked(on_a)))
                # a's calls are booked; b's later ones are still talking. The next
                # booking POST (a call on b) gets a 500: the booking waits in the
                # shared outbox, and the outbox's first try of it stalls. b is killed
                # with that try in flight (or a's, if a's worker claimed the row).
                api.fail(Fault.SERVER_ERROR)
                api.fail(Fault.STALL)

                def outboxed() -> list[str]:
                    return [k for k, n in api.booking_posts.items() if n >= 2]

                def in_flight() -> list[str]:  # the outboxed booking's stalled try
                    return [k for k in outboxed() if k not in api.bookings]

                with trio.fail_after(40):  # one of b's calls booked and notified
                    while not (notified(booked(on_b)) and in_flight()):
                        await trio.sleep(0.02)
                b_booked_at_kill, notified_at_kill = len(booked(on_b)), notified(on_b)
                up_at_kill = [u for u in on_b if u not in calls.callers]
                b.signal(signal.SIGKILL)
                await a.wait_for(r"host host-b is silent", timeout=10)

                with trio.fail_after(40):  # a's calls end by themselves, b's were cut
                    while not all(u in calls.nexts for u in on_a + on_b):
                        await trio.sleep(0.05)
                assert {calls.nexts[u] for u in on_b} == {"no-decision"}
                after = [await calls.place(nursery, script) for _ in range(AFTER)]
                assert {calls.routed[u] for u in after} == {addr_a}
                with trio.fail_after(60):
                    while not all(u in calls.nexts for u in after):
                        await trio.sleep(0.05)
                # The outbox delivers the last notifications within a poll or two.
                with trio.move_on_after(15):
                    while len(notified(booked(calls.routed))) < len(api.bookings):
                        await trio.sleep(0.05)
                await trio.sleep(1.0)  # nothing more arrives: no late repeats
            a.signal(signal.SIGTERM)
            assert await a.wait(timeout=15) == 0
        fakes.cancel_scope.cancel()

    api.assert_clean()
    deepgram.check()
    assert cartesia.violations == []
    rows = {r[0]: r for r in records(pg_url)}
    assert len(calls.routed) == len(rows) == 40
    per_host = {name: sum(1 for r in rows.values() if r[1] == name) for name in ADDRESSES}
    assert per_host == {"host-a": CAPACITY + AFTER, "host-b": ON_B}
    assert len(up_at_kill) >= 2  # b died in the middle of calls
    for u in on_b:  # b died with them: closed by a, not left open
        # A call hung up just before the kill may not have been recorded by b yet.
        ended = {("interrupted", "host-lost")}
        if u not in up_at_kill:
            ended |= {("booked", "hangup"), ("booking-pending", "hangup")}
        assert rows[u][2:4] in ended, rows[u]
        assert rows[u][4] is not None
    survivors = on_a + after
    for u in survivors:  # every call on a booked (its booking tool answered ok) and ended
        assert rows[u][2] == "booked" and rows[u][4] is not None, (rows[u], heard([u]))

    # Every booking once at the API: one per call, each call's own slot, no repeats.
    by_call = [b["body"]["call_uuid"] for b in api.bookings.values()]
    assert len(by_call) == len(set(by_call))
    assert set(survivors) <= set(by_call) <= set(survivors + on_b)
    starts = [b["body"]["slot"]["start"] for b in api.bookings.values()]
    assert len(set(starts)) == len(starts)
    assert all(key == f"{b['body']['call_uuid']}:1" for key, b in api.bookings.items())
    # The outboxed booking: the 500, the stalled try, then one try that made it,
    # all under its one Idempotency-Key; every other booking is one POST.
    [key] = outboxed()
    assert key in api.bookings
    # Whose worker stalled on it: a logs the failed try and retries; b died with it.
    stalled_on = "a" if any(key in line and "failed (try" in line for line in a.lines) else "b"
    # A call keeps its booking in the outbox before it POSTs it: one b had in flight
    # at the kill is POSTed again by a under the same key (the API returns the same
    # booking) when the call's lease ends, and notified then.
    cut = set(on_b) - set(notified_at_kill)
    again = [k for k, n in api.booking_posts.items() if k != key and n == 2]
    assert api.booking_posts == {
        k: 3 if k == key else 2 if k in again else 1 for k in api.booking_posts
    }
    assert {api.bookings[k]["body"]["call_uuid"] for k in again} <= cut
    posts = sum(api.booking_posts.values())
    # Every booking's notification, once, through the shared outbox (whoever sent it).
    keys = [key for key, _ in api.notifications]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted(f"{key}:notify" for key in api.bookings)
    assert api.notify_posts - len(keys) <= 1
    on_b_booked = len(booked(on_b))
    print(
        f"\nbooking over 2 hosts: {per_host}; bookings {len(api.bookings)}"
        f" (b: {b_booked_at_kill} at the kill, {on_b_booked} in all),"
        f" {posts} booking POSTs, {api.notify_posts} notify POSTs"
        f" ({len(again)} booked again after the kill),"
        f" the outboxed booking's stalled try on {stalled_on},"
        f" {len(up_at_kill)} of b's calls up at the kill,"
        f" interrupted {sum(1 for r in rows.values() if r[2] == 'interrupted')},"
        f" {time.monotonic() - began:.1f} s"
    )
