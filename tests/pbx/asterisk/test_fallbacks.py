"""When the agent cannot take the call: not running, at VOICE_AGENT_MAX_CALLS,
stopped with SIGTERM in the middle of a call. Callers never get silence."""

from __future__ import annotations

import re
import signal

import pytest
import trio

from tests.pbx.asterisk.conftest import THAMES_DID
from tests.pbx.asterisk.test_fastagi import uuid_of

pytestmark = [pytest.mark.pbx, pytest.mark.realtime, pytest.mark.offline]


def fallback_taken(log: str, number: str, status: str) -> bool:
    """The shipped [voice-agent-fallback] ran for this phone's call."""
    pattern = (
        rf'\[s@voice-agent-fallback-\w+:1\] NoOp\("Local/{number}@tier-phone-\S+;1",'
        rf' "voice-agent fallback: {status}'
    )
    return re.search(pattern, log) is not None


async def down_and_busy(tier):
    # Nothing listens on the "down" slot's ports: Asterisk's FastAGI connect fails.
    tier.allowed.append(r"res_agi\.c: .*(Connection refused|Couldn't connect|failed)")
    async with tier.agent("busy", VOICE_AGENT_MAX_CALLS="1") as agent:
        holder = await tier.call("busy", "voice-agent-inbound", THAMES_DID)
        await uuid_of(agent, holder)
        await holder.wait_agent_speaking()  # the one call the agent may take is up
        # The fallback has no VoiceMail in this build: the phones never get to ring.
        down = tier.place("down", "voice-agent-inbound")
        await tier.finished(down)
        busy = tier.place("busy", "voice-agent-inbound")
        await tier.finished(busy)
        await agent.wait_for(r"setup Local/\S+: busy, 1 of 1 calls in use")
        await holder.hang_up()
        await tier.finished(holder.number)
    log = tier.asterisk.log_since(0)
    assert fallback_taken(log, down, "AGISTATUS=FAILURE")
    assert fallback_taken(log, busy, "AGISTATUS=SUCCESS status=busy")
    assert not fallback_taken(log, holder.number, "")


async def sigterm(tier):
    env = {"VOICE_AGENT_DRAIN_S": "1", "VOICE_AGENT_GOODBYE_S": "6"}
    async with tier.agent("term", **env) as agent:
        phone = await tier.call("term", "voice-agent-inbound", THAMES_DID)
        uuid = await uuid_of(agent, phone)
        await phone.wait_agent_turn()  # the greeting is over; the caller thinks
        signalled = phone.now()
        agent.signal(signal.SIGTERM)
        await phone.wait_gone(30)
        await tier.finished(phone.number)
        assert await agent.wait(15) == 0
    rec = await phone.recording()
    goodbye = rec.first_heard(signalled)
    assert goodbye is not None, "the caller heard nothing after the agent was stopped"
    log = tier.asterisk.log_since(0)
    # AudioSocket() returned and the dialplan asked the agent what to do next.
    assert re.search(
        rf'\[s@voice-agent-after-term:1\] AGI\("Local/{phone.number}@tier-phone-\S+;1",'
        rf' "agi://127\.0\.0\.1:\d+/next,{uuid}"',
        log,
    )
    assert any("next " in line and uuid in line for line in agent.lines)


async def test_down_busy_and_sigterm_never_leave_the_caller_in_silence(tier):
    """Two agents at once: one at its call limit (and a slot nobody serves), one
    stopped with SIGTERM in the middle of a call."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(down_and_busy, tier)
        nursery.start_soon(sigterm, tier)
