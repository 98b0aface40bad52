"""The serving process in virtual time, at its end: the drain (calls finish, then a
goodbye and a hang-up; a second signal hurries) and ``next`` waiting for a call
that is still ending."""

from __future__ import annotations

import uuid

import pytest
import trio

from agent.conversation.echo import EchoBrain
from agent.demo.softphone import HangUp, Silence
from agent.pbx.callmeta import CallMetadata
from agent.service.serve import BrainSetup
from tests.fakes.tone_text import decode_tones
from tests.service.serve_rig import (
    SPARKS,
    SPARKS_DID,
    agi_step,
    conversation,
    make_service,
    place_call,
)

# --- graceful shutdown --------------------------------------------------------------------


async def test_drain_lets_calls_finish_then_says_goodbye_and_hangs_up(autojump_clock):
    service, listener = make_service(lambda flow: conversation(flow)[0], drain_s=5.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        setup = await agi_step(service, "setup", extension=SPARKS_DID)
        call_uuid = uuid.UUID(setup["VOICE_AGENT_UUID"])
        result = {}

        async def call():
            result["caller"] = await place_call(listener, call_uuid, [Silence(120)])

        nursery.start_soon(call)
        await trio.sleep(3.0)  # greeted, now quiet
        assert len(service.registry.active) == 1
        stopped_at = trio.current_time()
        service.shutdown()
        await trio.sleep(0.01)
        assert listener.closed  # no new calls
        with pytest.raises(trio.BrokenResourceError):
            await listener.connect()
        busy = await agi_step(service, "setup", extension=SPARKS_DID)
        assert busy == {"VOICE_AGENT_STATUS": "busy"}  # the dialplan takes the fallback
        while "caller" not in result:
            await trio.sleep(0.1)
    caller = result["caller"]
    ended_at = caller.received[-1].at
    assert stopped_at + 5.0 <= ended_at < stopped_at + 5.0 + 10.0
    assert caller.agent_hung_up  # the 0x00 after the goodbye
    after_drain = decode_tones(b"".join(r.pcm for r in caller.received if r.at >= stopped_at + 5))
    assert after_drain.strip() == f"Thanks for calling {SPARKS.name}. Goodbye."
    assert service.drain_result == "polite"


async def test_drain_ends_early_when_the_last_call_ends(autojump_clock):
    service, listener = make_service(lambda flow: BrainSetup(EchoBrain), drain_s=300.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        nursery.start_soon(place_call, listener, uuid.uuid4(), [Silence(4.0), HangUp()])
        await trio.sleep(1.0)
        service.shutdown()
        start = trio.current_time()
    # The caller hung up 3 s after the shutdown began: the service stopped then.
    assert trio.current_time() - start == pytest.approx(3.0, abs=0.1)
    assert service.drain_result == "idle"


async def test_echo_calls_are_hung_up_after_the_drain_and_a_second_signal_hurries(
    autojump_clock,
):
    service, listener = make_service(lambda flow: BrainSetup(EchoBrain), drain_s=300.0)
    callers = []

    async def call():
        callers.append(await place_call(listener, uuid.uuid4(), [Silence(600)]))

    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        nursery.start_soon(call)
        nursery.start_soon(call)
        await trio.sleep(1.0)
        service.shutdown("SIGTERM")
        await trio.sleep(30.0)
        assert len(service.registry.active) == 2  # still draining
        service.shutdown("SIGTERM")  # the impatient admin
        start = trio.current_time()
    assert trio.current_time() - start < 1.0
    assert [c.agent_hung_up for c in callers] == [True, True]
    assert service.drain_result == "polite"
    assert service.registry.ended_by_reason == {"shutdown": 2}


# --- next may come a moment before the decision is stored ---------------------------------


async def test_next_waits_for_a_call_still_ending(autojump_clock):
    service, _ = make_service(lambda flow: BrainSetup(EchoBrain))
    store = service.store
    late, stuck = uuid.uuid4(), uuid.uuid4()
    for call_uuid in (late, stuck):
        store.add(CallMetadata(call_uuid), now=trio.current_time())
        store.claim(call_uuid, trio.current_time())

    async def decide_later():
        await trio.sleep(0.05)
        store.set_decision(late, "transfer", "PJSIP/2001", now=trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(decide_later)
        start = trio.current_time()
        nxt = await agi_step(service, "next", str(late))
    assert nxt["VOICE_AGENT_ACTION"] == "transfer" and nxt["VOICE_AGENT_STATUS"] == "ok"
    assert trio.current_time() - start == pytest.approx(0.05, abs=0.02)
    # A call whose worker died never ends: next gives up after next_wait_s (2 s).
    start = trio.current_time()
    nxt = await agi_step(service, "next", str(stuck))
    assert nxt["VOICE_AGENT_STATUS"] == "no-decision"
    assert trio.current_time() - start == pytest.approx(2.0, abs=0.02)
