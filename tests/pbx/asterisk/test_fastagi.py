"""FastAGI through real Asterisk: ``setup`` issues the UUID the AudioSocket leg
uses (the agent refuses any other, VOICE_AGENT_REQUIRE_SETUP=1), the DID picks
the company, the caller id is kept, ``next`` sends the call to a transfer target
that records it was reached, and a lone keypad 0 asks for a person. A third call
at the same time hangs up while the agent is answering."""

from __future__ import annotations

import os
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


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_setup_did_caller_id_next_transfer_a_lone_zero_and_a_hang_up(tier):
    results = {}
    async with tier.agent("main") as agent:
        baseline = open_fds(agent.process.pid)

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

        async def hang_up_mid_answer():
            phone = await tier.call("main", "voice-agent-inbound", THAMES_DID)
            uuid = await uuid_of(agent, phone)
            await phone.wait_agent_turn()
            await phone.say(tier.lines, "leak")
            await phone.wait_agent_speaking()
            await phone.wait(0.5)  # the agent is answering
            await phone.hang_up()
            await tier.finished(phone.number)
            await agent.wait_for(rf"\[{uuid}\] call ended:", timeout=10)
            results["hangup"] = uuid

        async with trio.open_nursery() as nursery:
            nursery.start_soon(person_at_sparks)
            nursery.start_soon(zero_at_thames)
            nursery.start_soon(hang_up_mid_answer)
        hangup_uuid = results.pop("hangup")
        await trio.sleep(1.0)  # the records writer and sockets settle
        left_open = open_fds(agent.process.pid) - baseline
        for _, uuid in results.values():
            await agent.wait_for(rf"next .*call {uuid} -> transfer", timeout=10)
        with RecordStore.open_sqlite(Path(agent.workdir) / "voice-agent.sqlite3") as records:
            sparks = records.get_call(results["sparks"][1])
            zero = records.get_call(results["zero"][1])
            hung_up = records.get_call(hangup_uuid)
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
    # The hang-up mid-answer: a hang-up, not an error; its record is closed; and
    # after the three calls the agent holds no more file descriptors than before.
    assert hung_up.end_reason == "hangup" and hung_up.ended_at is not None, hung_up
    assert hung_up.outcome != "error"
    assert left_open <= 0, f"{left_open} more file descriptors open than before the calls"
