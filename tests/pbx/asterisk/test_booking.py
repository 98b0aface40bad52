"""Booking calls through real Asterisk with the shipped dialplan: the AudioSocket()
form, the Dial(AudioSocket/...) form, and a 16 kHz agent behind c(slin16)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import attrs
import numpy as np
import pytest
import trio

from agent.demo.readback import reply_to_agent
from agent.demo.scenarios import caller_lines
from tests.pbx.asterisk.conftest import FIGURES, THAMES_DID
from tests.pbx.asterisk.phone import Phone

pytestmark = [pytest.mark.pbx, pytest.mark.realtime, pytest.mark.offline]

BOOKING = ("leak", "sounds_fine", "name", "address", "postcode", "phone",
           "tomorrow", "thats_right", "thats_right", "goodbye")  # fmt: skip


# The agent's answers to a turn it did not understand: a real caller says it again;
# asked to confirm what it half heard ("Was that ...?"), the caller answers as the
# demo's caller does: yes when it is what they said, else their correction.
ASKED_AGAIN = re.compile(r"-> agent .(Sorry, I didn't|Are you still there|Sorry, that number)")
TEXTS = {name: line.text for name, line in caller_lines().items()}


async def book(tier, agent, phone: Phone, lines=BOOKING) -> int:
    """Say each line when the agent has had its turn; returns how many lines had
    to be said again because the agent asked for them again."""
    uuid = await call_uuid(agent, phone)
    again, said = 0, []
    await phone.wait_agent_turn()  # the greeting
    for i, line in enumerate(lines):
        for _ in range(3):
            turns = len(answers(agent, uuid))
            if line.startswith("keys:"):
                await phone.keys(line.removeprefix("keys:"))
            else:
                await phone.say(tier.lines, line)
                said.append(line)
            if i == len(lines) - 1:
                break
            await phone.wait_agent_turn()
            await agent.wait_for(rf"\[{uuid}\] turn ", count=turns + 1)
            last = answers(agent, uuid)[-1]
            reply = reply_to_agent(last.split("-> agent ", 1)[-1], said, TEXTS)
            if reply is not None:
                line = reply
            elif not ASKED_AGAIN.search(last):
                break
            again += 1
    await phone.wait_gone(60)  # the agent says goodbye and ends the call
    return again


async def call_uuid(agent, phone: Phone) -> str:
    (match,) = await agent.wait_for(rf"setup Local/{phone.number}@tier-phone-\S+;1: call (\S+)")
    return match.group(1)


def answers(agent, uuid: str) -> list[str]:
    """The call's turn lines in the agent's log (caller text -> agent text)."""
    return [line for line in agent.lines if f"[{uuid}] turn " in line]


async def mouth_to_ear(phone: Phone) -> list[float]:
    """For every caller line: end of the caller's speech -> first agent audio heard."""
    rec = await phone.recording()
    times = []
    for said, following in zip(phone.said, [*phone.said[1:], None], strict=True):
        speech = rec.spoken_between(said.start, said.end + 0.2)
        assert speech is not None, f"no caller speech recorded for {said.line}"
        answer = rec.first_heard(speech[1], following.start if following else None)
        assert answer is not None, f"no agent answer heard after {said.line}"
        times.append(answer - speech[1])
    return times


def bookings(workdir: str) -> list[dict]:
    with sqlite3.connect(Path(workdir) / "voice-agent.sqlite3") as db:
        rows = db.execute("SELECT company_id, service_id, body FROM bookings").fetchall()
    return [{"company": c, "service": s, **json.loads(b)} for c, s, b in rows]


def report(name: str, times: list[float], again: int) -> None:
    ms = np.array(times) * 1000
    FIGURES.append(
        f"{name}: mouth-to-ear over {len(ms)} answers p50 {np.median(ms):.0f} ms,"
        f" max {ms.max():.0f} ms ({', '.join(f'{t:.0f}' for t in ms)});"
        f" lines said again when asked: {again}"
    )


# Keys instead of the spoken phone number: the 16 kHz call also shows DTMF reaching the agent.
KEYED = tuple("keys:07700900123#" if line == "phone" else line for line in BOOKING)


@attrs.frozen
class Booking:
    name: str
    slot: str
    context: str
    lines: tuple[str, ...] = BOOKING


BOOKINGS = (
    Booking("booking via [voice-agent-inbound]", "main", "voice-agent-inbound"),
    Booking("booking via [voice-agent-inbound-dial] c(slin)", "dial", "voice-agent-inbound-dial"),
    Booking(
        "16 kHz booking via c(slin16), number keyed", "wide", "voice-agent-inbound-dial", KEYED
    ),
)


async def test_bookings_through_both_dialplan_forms_and_at_16_khz(tier):
    """Three calls at once, each to its own agent process (two offline calls in one
    process queue for Whisper): AudioSocket(), Dial(AudioSocket/...c(slin)), and a
    16 kHz agent behind c(slin16). Each ends in a booking with the caller's details."""
    results = {}
    async with (
        tier.agent("main") as main,
        tier.agent("dial") as dial,
        tier.agent("wide", VOICE_AGENT_SAMPLE_RATE="16000") as wide,
    ):
        agents = {"main": main, "dial": dial, "wide": wide}

        async def one(booking: Booking) -> None:
            agent = agents[booking.slot]
            phone = await tier.call(booking.slot, booking.context, THAMES_DID)
            uuid = await call_uuid(agent, phone)
            again = await book(tier, agent, phone, booking.lines)
            await agent.wait_for(rf"next .*call {uuid} -> hangup", timeout=10)
            results[booking.name] = (uuid, again, await mouth_to_ear(phone))

        async with trio.open_nursery() as nursery:
            for booking in BOOKINGS:
                nursery.start_soon(one, booking)
        rows = {name: bookings(agent.workdir) for name, agent in agents.items()}
    for booking in BOOKINGS:
        _, again, times = results[booking.name]
        report(booking.name, times, again)
    assert [len(r) for r in rows.values()] == [1, 1, 1], rows
    for (row,) in rows.values():
        assert row["company"] == "thames-plumbing" and row["service"] == "leak_repair"
        details = json.dumps(row).lower()
        for expected in ("john smith", "sw1a 1aa", "7700900123"):
            assert expected in details, (expected, row)
