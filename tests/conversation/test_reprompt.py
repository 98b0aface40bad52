"""The "are you still there?" reprompt asks the question the caller last heard."""

from __future__ import annotations

from agent.demo.scenarios import Line, Quiet, Scenario
from tests.conversation.test_scenarios import db, run_scenario  # noqa: F401 (fixture)


async def test_a_reprompt_repeats_the_open_question_of_the_booking(db, autojump_clock):  # noqa: F811
    silent_at_address = Scenario(
        "silent-at-address",
        "gives the problem and the name, then goes quiet",
        (Line("leak"), Line("sounds_fine"), Line("name"), Quiet(40.0)),
        "silence",
    )
    r = await run_scenario(silent_at_address, db)
    agent = r.said("agent")
    reprompts = [line for line in agent if line.startswith("Are you still there?")]
    assert reprompts, agent
    # the question asked last, not the first step's ("How can I help you today?")
    assert all(line.endswith("What's the address of the job?") for line in reprompts), agent
