"""The conversation scenarios, whole calls in virtual time.

The real ``Call`` (reader, VAD, paced playout) and the real caller
(``agent.demo.softphone.Caller``, playing the recorded caller lines of
``agent/data/caller``) over an in-memory stream; the STT and TTS are the
in-memory fakes (``ScriptedStt`` hears each line's transcript when that line's
audio ends; ``ToneTts`` speaks tone-text, so the test decodes what the caller
heard); the model is the offline dialogue policy, which calls the same tools a
cloud model would; the tools run against a real SQLite booking store or the
fake booking API. Everything runs under ``autojump_clock``.
"""

from __future__ import annotations

import json

import attrs
import pytest
import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.business.booking import BookingClient, Notifier
from agent.business.bookingstore import BookingStore, open_database
from agent.business.company import EXAMPLE_COMPANIES, parse_directory
from agent.business.outbox import Backoff, Outbox
from agent.business.outbox_delivery import run_outbox
from agent.conversation import TranscriptLine, conversation_brain_factory
from agent.conversation.toolrunner import BookingToolRunner
from agent.demo.booking_api import open_fake_booking
from agent.demo.offline import LocalSlotsRemoteBookings
from agent.demo.scenarios import SCENARIOS, Keys, Line, Scenario, caller_steps, transcripts
from agent.demo.softphone import Caller, CallerParams
from agent.media.server import handle_connection
from agent.providers.llm.offline_policy import OfflinePolicy
from tests.fakes.inmem import ScriptedStt, ToneTts
from tests.fakes.tone_text import decode_tones

DATA = json.loads(EXAMPLE_COMPANIES.read_text())
DIRECTORY = parse_directory(DATA)
COMPANY = DIRECTORY.get(DIRECTORY.default_id)
PHONE = "+447700900123"


@attrs.define
class Result:
    caller: Caller
    call: object
    brain: object
    stt: ScriptedStt
    lines: list[TranscriptLine]
    outbox: Outbox

    @property
    def heard(self) -> str:
        return decode_tones(self.caller.agent_audio())

    def said(self, role: str) -> list[str]:
        return [line.text for line in self.lines if line.role == role]


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "agent.db", threaded=False)  # virtual time
    yield database
    database.close()


async def run_scenario(s: Scenario, db, *, backend=None, company=COMPANY) -> Result:
    """One whole call of scenario ``s``; returns when the call has ended."""
    client, server = trio.testing.memory_stream_pair()
    outbox = Outbox(db)
    store = BookingStore(db, company)
    lines: list[TranscriptLine] = []
    made: dict[str, object] = {}
    start = s.start_epoch(company.timezone)
    t0 = trio.current_time()

    def epoch() -> float:
        return start + trio.current_time() - t0

    def stt(call):
        made["stt"] = ScriptedStt(transcripts(s), hangover_s=0.6)
        return made["stt"]

    factory = conversation_brain_factory(
        stt=stt,
        llm=lambda call: OfflinePolicy(company, call_uuid=str(call.uuid), clock=epoch),
        tts=lambda call: ToneTts(),
        tools=lambda call, co: BookingToolRunner(
            co, backend or store, outbox, Notifier(), str(call.uuid)
        ),
        companies=DIRECTORY,
        epoch=epoch,
        on_transcript=lambda call, line: lines.append(line),
    )

    def make(call):
        made["call"] = call
        return factory(call)

    caller = Caller(caller_steps(s), params=CallerParams(linger_s=30.0))
    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(handle_connection, server, ServerSettings(), make)
            await caller.run(client)
    call = made["call"]
    return Result(caller, call, call.brain, made.get("stt"), lines, outbox)


def assert_ended_by_agent(r: Result) -> None:
    assert r.caller.agent_hung_up, "the agent should end the call with a hangup message"
    assert r.call.end_reason == "agent"
    assert r.brain.outcome is not None


async def assert_one_booking(db, r: Result, company=COMPANY) -> dict:
    """The one booking row of the call; returns its body (the booking API's JSON)."""
    rows = await BookingStore(db, company).bookings()
    assert len(rows) == 1, rows
    assert rows[0]["idempotency_key"].startswith(str(r.call.uuid))
    return json.loads(rows[0]["body"])


# --- (1) happy path ------------------------------------------------------------------


async def test_booking_happy_path_leaves_one_row_in_the_booking_store(db, autojump_clock):
    r = await run_scenario(SCENARIOS["booking"], db)
    assert_ended_by_agent(r)
    assert r.brain.outcome.kind == "end"
    body = await assert_one_booking(db, r)
    assert body["customer"] == {
        "name": "John Smith",
        "phone": PHONE,
        "address": "22 Baker Street",
        "postcode": "SW1A 1AA",
    }
    assert body["service_id"] == "leak_repair" and body["quote"]["amount"] == 85.0
    # "Tomorrow morning" on a Tuesday: the first slot on Wednesday, company time.
    assert body["slot"]["start"] == "2030-07-03T08:00:00+01:00"
    heard = r.heard
    assert "85 pounds" in heard  # the quote, from the price list
    assert "S W 1 A, 1 A A" in heard  # the read-back, postcode letter by letter
    assert "Goodbye" in heard
    # Every caller line reached the model, in order.
    assert r.said("caller") == transcripts(SCENARIOS["booking"])
    # The caller measured each answer: end of its speech -> first agent audio.
    report = r.caller.report()
    assert all(u.response_ms is not None for u in report.utterances)


# --- (2) barge-in during the quote ----------------------------------------------------


async def test_barge_in_during_the_quote_stops_the_agent_and_the_call_goes_on(db, autojump_clock):
    r = await run_scenario(SCENARIOS["barge-in"], db)
    assert_ended_by_agent(r)
    cut = [line for line in r.lines if line.role == "agent" and line.interrupted]
    assert len(cut) == 1, r.lines
    quote = cut[0].text
    # The caller heard the start of the quote, not all of it.
    full = next(line.text for line in r.lines if line.role == "agent" and "an hour" in line.text)
    assert quote != full and full.startswith(quote.rstrip(" .-"))
    assert r.brain.statistics()["barge_ins"] == 1
    # Onset of the caller's speech -> the agent's last voiced frame: the VAD's 60 ms
    # start, the 200 ms minimum barge-in speech, and at most a frame.
    interrupt = next(u for u in r.caller.report().utterances if u.interrupt)
    assert interrupt.barge_in_stop_ms is not None and interrupt.barge_in_stop_ms <= 300
    # The price question was answered, and the booking still went through.
    assert r.said("caller")[1] == "Sorry, wait, how much is it?"
    after = r.said("agent")[r.said("agent").index(quote) + 1]
    assert "85 pounds" in after
    await assert_one_booking(db, r)


# --- (3) silent caller ----------------------------------------------------------------


async def test_silent_caller_is_reprompted_then_the_call_ends_politely(db, autojump_clock):
    r = await run_scenario(SCENARIOS["silent"], db)
    assert_ended_by_agent(r)
    assert (r.brain.outcome.kind, r.brain.outcome.reason) == ("end", "silence")
    agent = r.said("agent")
    assert len(agent) == 1 + 3 + 1, agent  # greeting, three reprompts, goodbye
    assert r.said("caller") == []
    assert await BookingStore(db, COMPANY).bookings() == []


# --- (4) out of area ------------------------------------------------------------------


async def test_out_of_area_postcode_is_declined_politely(db, autojump_clock):
    r = await run_scenario(SCENARIOS["out-of-area"], db)
    assert_ended_by_agent(r)
    assert r.brain.outcome.kind == "end"
    assert "outside the area" in r.heard and "E C 1 A, 1 B B" in r.heard
    assert await BookingStore(db, COMPANY).bookings() == []


# --- (5) ask for a human ------------------------------------------------------------


async def test_asking_for_a_human_records_the_transfer_decision(db, autojump_clock):
    r = await run_scenario(SCENARIOS["human"], db)
    assert_ended_by_agent(r)
    outcome = r.brain.outcome
    assert outcome.kind == "transfer" and outcome.target.name == "office"
    assert outcome.target.dial == "PJSIP/1001"
    assert "office" in r.heard


# --- (6) booking API down ----------------------------------------------------------


async def test_booking_api_down_keeps_the_booking_and_confirms_it_once(db, autojump_clock):
    s = SCENARIOS["api-down"]
    async with open_fake_booking() as api, trio.open_nursery() as nursery:
        company = attrs.evolve(COMPANY, notify_url=api.notify_url)
        client = BookingClient(
            attrs.evolve(COMPANY.booking_api or _api(api), url=api.base_url),
            env={"BOOKING_KEY": "test-key"},
        )
        # Availability from the local store's opening hours; bookings through the API.
        backend = LocalSlotsRemoteBookings(BookingStore(db, company), client)
        assert s.booking_api_down
        api.down()
        r = await run_scenario(s, db, backend=backend, company=company)
        assert_ended_by_agent(r)
        # The caller was told, and the call moved on to a normal goodbye.
        assert "the booking system isn't answering right now" in r.heard
        assert "I've kept your booking for tomorrow at eight in the morning" in r.heard
        assert r.brain.outcome.kind == "end"
        (item,) = [i for i in await r.outbox.items() if i.kind == "booking"]
        assert item.status == "pending" and item.call_uuid == str(r.call.uuid)
        assert api.bookings == {}
        await api.up()
        backoff = Backoff(initial=1.0, cap=8.0)
        nursery.start_soon(
            lambda: run_outbox(r.outbox, lambda cid: client, Notifier(), backoff=backoff)
        )
        with trio.fail_after(300):
            final = await r.outbox.wait_final(item.key)
        nursery.cancel_scope.cancel()
    assert final.status == "confirmed"
    assert list(api.bookings) == [item.key]
    assert final.result["booking_id"] == api.bookings[item.key]["booking_id"]
    assert api.bookings[item.key]["body"]["customer"]["phone"] == PHONE
    api.assert_clean()


def _api(api):
    from agent.business.company import BookingApi

    return BookingApi(api.base_url, "BOOKING_KEY")


# --- (7) phone number by DTMF -----------------------------------------------------------


async def test_phone_number_entered_by_dtmf(db, autojump_clock):
    r = await run_scenario(SCENARIOS["dtmf"], db)
    assert_ended_by_agent(r)
    assert "[keypad] 07700900123" in r.said("caller")
    # The caller waited for the agent's answer to the keys before speaking again.
    asked = next(x for x in r.lines if x.role == "agent" and "When would suit" in x.text)
    spoke = next(u for u in r.caller.utterances if u.label.startswith("Tomorrow"))
    assert spoke.start_at >= asked.at and not asked.interrupted
    body = await assert_one_booking(db, r)
    assert body["customer"]["phone"] == PHONE
    assert r.brain.outcome.kind == "end"  # the 0 that starts the number is not "a person"


# --- (8) out-of-hours emergency ------------------------------------------------------


async def test_out_of_hours_emergency_goes_to_the_on_call_engineer(db, autojump_clock):
    r = await run_scenario(SCENARIOS["emergency"], db)
    assert_ended_by_agent(r)
    outcome = r.brain.outcome
    assert outcome.kind == "transfer" and outcome.target.name == "on-call engineer"
    assert outcome.target.dial == "PJSIP/1099"
    greeting = r.said("agent")[0]
    assert "We're closed at the moment and open again today at eight in the morning" in greeting
    advice = r.said("agent")[1]
    assert "If you can smell gas, open the windows" in advice
    assert advice.endswith("I'm putting you straight through to on-call engineer. Please hold.")
    assert await BookingStore(db, COMPANY).bookings() == []


async def test_zero_alone_on_the_keypad_asks_for_a_person(db, autojump_clock):
    s = Scenario("zero", "press 0", (Line("leak"), Keys("0")), "transfer")
    r = await run_scenario(s, db)
    assert_ended_by_agent(r)
    assert r.brain.outcome.kind == "transfer" and r.brain.outcome.target.name == "office"
    assert "put you through to office" in r.heard
    assert "[keypad] 0" not in r.said("caller")  # a key press, not words for the model


# --- (9) a correction after the booking ------------------------------------------------


async def test_correction_after_booking_amends_the_booking(db, autojump_clock):
    r = await run_scenario(SCENARIOS["correction"], db)
    assert_ended_by_agent(r)
    body = await assert_one_booking(db, r)
    assert body["customer"]["address"] == "41 Baker Street"  # changed, not just noted
    assert body["customer"]["name"] == "John Smith"  # nothing else moved
    assert "changed the address to 41 Baker Street on your booking" in r.heard
    assert "made a note" not in r.heard
