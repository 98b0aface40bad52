"""What callers do to a real call through Asterisk: talk over the agent
(barge-in), talk over the greeting. (A hang-up mid-answer: test_fastagi.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.observe.records import RecordStore
from tests.pbx.asterisk.conftest import FIGURES, THAMES_DID
from tests.pbx.asterisk.test_fastagi import uuid_of

pytestmark = [pytest.mark.pbx, pytest.mark.realtime, pytest.mark.offline]


async def barge_in(tier):
    """The caller talks over the quote; returns the stop time (s) and the turns."""
    async with tier.agent("main") as agent:
        phone = await tier.call("main", "voice-agent-inbound", THAMES_DID)
        uuid = await uuid_of(agent, phone)
        await phone.wait_agent_turn()
        await phone.say(tier.lines, "leak")
        await phone.wait_agent_speaking()  # the quote has started
        await phone.wait(1.0)
        said = await phone.say(tier.lines, "interrupt")
        await phone.wait_agent_turn()
        await phone.hang_up()
        await tier.finished(phone.number)
        await agent.wait_for(rf"\[{uuid}\] call ended:", timeout=10)
        with RecordStore.open_sqlite(Path(agent.workdir) / "voice-agent.sqlite3") as records:
            turns = records.turns(uuid)
    rec = await phone.recording()
    onset, _ = rec.spoken_between(said.start, said.end + 0.2)
    assert rec.heard_during(onset - 0.2, onset), "the agent was not talking at the onset"
    stop = rec.agent_stop(onset)
    assert stop is not None, "the agent never stopped"
    FIGURES.append(
        f"barge-in: agent audio stopped {1000 * (stop - onset):.0f} ms after the caller's onset"
    )
    return stop - onset, turns


# The target is 300 ms; through Asterisk the phone heard the agent stop after
# 280 ms in two runs (load average 3.5 on 2 cores) and 0.7-1.4 s in four (load
# average 6; the softphone then: 260 ms), so
# the tier reports the figure and fails only when barge-in is clearly broken (an
# agent that does not stop talks on to the end of its quote, seconds later).
BROKEN_S = 1.5


async def test_barge_in_stops_the_agent_and_hears_the_whole_sentence(tier):
    stop, turns = await barge_in(tier)
    texts = [t.caller_text.lower() for t in turns]
    assert any("wait" in t and "how much" in t for t in texts), texts
    assert stop < BROKEN_S


# Through Asterisk the start of this sentence was lost until the echo guard stopped
# learning the caller's first frames as echo (csrc/vad.c; tests/dsp/test_vad_onsets.py).
async def test_talking_over_the_greeting_keeps_the_whole_sentence(tier):
    async with tier.agent("main") as agent:
        phone = await tier.call("main", "voice-agent-inbound", THAMES_DID)
        uuid = await uuid_of(agent, phone)
        await phone.wait_agent_speaking()
        await phone.wait(0.6)  # the sentence starts ~1 s into the greeting (0.3 s lead-in)
        said = await phone.say(tier.lines, "leak")
        await phone.wait_agent_turn()
        await phone.hang_up()
        await tier.finished(phone.number)
        await agent.wait_for(rf"\[{uuid}\] call ended:", timeout=10)
        with RecordStore.open_sqlite(Path(agent.workdir) / "voice-agent.sqlite3") as records:
            texts = [t.caller_text.lower() for t in records.turns(uuid) if t.caller_text]
    assert texts, "nothing the caller said was transcribed"
    assert "my kitchen sink is leaking" in texts[0] and texts[0].startswith("hi"), texts
    rec = await phone.recording()
    onset, _ = rec.spoken_between(said.start, said.end + 0.2)
    assert rec.heard_during(onset - 0.2, onset), "the greeting was over at the onset"
    # After a barge-in the agent is quiet until its answer (Whisper takes a second):
    # a longer gap than a pause between the greeting's sentences.
    stop = rec.agent_stop(onset, quiet_s=0.6)
    assert stop is not None and stop - onset < BROKEN_S, "the greeting was not interrupted"
    into = onset - rec.first_heard(0.0)
    FIGURES.append(
        f"over the greeting ({into:.1f} s in): agent audio stopped"
        f" {1000 * (stop - onset):.0f} ms after the caller's onset"
    )
