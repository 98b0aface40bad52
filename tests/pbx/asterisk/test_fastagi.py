"""FastAGI through real Asterisk: ``setup`` issues the UUID the AudioSocket leg
uses (the agent refuses any other, VOICE_AGENT_REQUIRE_SETUP=1), the DID picks
the company, the caller id is kept, ``next`` sends the call to a transfer target
that records it was reached, and a lone keypad 0 asks for a person."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trio

from agent.observe.records import RecordStore
from tests.pbx.asterisk.conftest import SPARKS_DID, THAMES_DID
from tests.pbx.asterisk.phone import CALLER_ID

pytestmark = [pytest.mark.pbx, pytest.mark.realtime, pytest.mark.offline]


async def uuid_of(agent, phone) -> str:
    (match,) = await agent.wait_for(rf"setup Local/{phone.number}@tier-phone-\S+;1: call (\S+)")
    return match.group(1)


async def test_setup_did_caller_id_next_transfer_and_a_lone_zero(tier):
    results = {}
    async with tier.agent("main") as agent:

        async def person_at_sparks():
            phone = await tier.call("main", "voice-agent-inbound", SPARKS_DID)
            results["sparks"] = (phone, await uuid_of(agent, phone))
            await phone.wait_agent_turn()
            await phone.say(tier.lines, "person")
            await phone.wait_gone(40)  # transferred: the target answers, then hangs up
            await tier.finished(phone.number)

        async def zero_at_thames():
            phone = await tier.call(
                "main", "voice-agent-inbound", THAMES_DID, caller_id="07700900555"
            )
            results["zero"] = (phone, await uuid_of(agent, phone))
            await phone.wait_agent_turn()
            await phone.keys("0")
            await phone.wait_gone(40)
            await tier.finished(phone.number)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(person_at_sparks)
            nursery.start_soon(zero_at_thames)
        for _, uuid in results.values():
            await agent.wait_for(rf"next .*call {uuid} -> transfer", timeout=10)
        with RecordStore.open_sqlite(Path(agent.workdir) / "voice-agent.sqlite3") as records:
            sparks = records.get_call(results["sparks"][1])
            zero = records.get_call(results["zero"][1])
        lines = list(agent.lines)
    log = tier.asterisk.log_since(0)
    for phone, uuid in results.values():
        # The AudioSocket leg carried the UUID that setup issued (else it was refused).
        assert re.search(rf'AudioSocket\("Local/{phone.number}@tier-phone-\S+;1", "{uuid},', log)
        assert any(f"call {uuid}: accepted" in line for line in lines)
    # The DID picked the company; the caller id reached the agent's records.
    assert (sparks.company, sparks.did, sparks.outcome) == (
        "brightspark",
        SPARKS_DID,
        "transferred",
    )
    assert sparks.caller_id.endswith(CALLER_ID[1:])
    assert (zero.company, zero.outcome) == ("thames-plumbing", "transferred")
    assert zero.caller_id.endswith("7700900555")
    # next: Asterisk dialled each company's office, which recorded the caller.
    reached = {p.name.split("-")[1]: p.read_text().strip() for p in tier.reached()}
    assert reached.get("brightoffice") == CALLER_ID, tier.asterisk.tail(60)
    assert reached.get("thamesoffice") == "07700900555"
