"""The brain's side of a call for the offline policy tests: the real ``History``,
runs streamed into a memory channel, and a tool executor that answers each call
as the brain's tool runner would (with scripted overrides). Caller lines are
written as Whisper transcribes the fixtures of agent/data/caller/manifest.tsv."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import trio

from agent.base.events import Finish, LlmEvent, TextDelta, ToolCall
from agent.business.company import EXAMPLE_COMPANIES, parse_company
from agent.demo.scenarios import CALLER_LINES
from agent.dialogue.history import History
from agent.dialogue.tools import ToolResult as Result
from agent.dialogue.tools import (
    parse_tool_call,
    quote,
    tool_specs,
)
from agent.providers.llm.offline_policy import (
    OfflinePolicy,
)

TZ = ZoneInfo("Europe/London")
DATA = json.loads(EXAMPLE_COMPANIES.read_text())
PLUMBER = parse_company(DATA["companies"][0])
# The fixtures treat EC1A 1BB as outside the demo company's area.
LOCAL_PLUMBER = attrs.evolve(
    PLUMBER, service_area=tuple(a for a in PLUMBER.service_area if a != "EC")
)
TUESDAY_10 = datetime(2025, 5, 13, 10, 0, tzinfo=TZ).timestamp()  # open
SUNDAY_10 = datetime(2025, 5, 18, 10, 0, tzinfo=TZ).timestamp()  # closed
SLOT_A = ("2025-05-14T09:00:00+01:00", "2025-05-14T11:00:00+01:00")
SLOT_B = ("2025-05-14T11:00:00+01:00", "2025-05-14T13:00:00+01:00")
SLOTS = {"slots": [{"start": a, "end": b} for a, b in (SLOT_A, SLOT_B)]}


def _manifest() -> dict[str, str]:
    lines = (CALLER_LINES / "manifest.tsv").read_text().splitlines()
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")]
    return {row[0]: row[2] for row in rows}


LINE = _manifest()  # name -> Whisper's transcript


Answer = Result | list[Result]


class Executor:
    """Answers tool calls like the brain's tool runner would, with scripted overrides."""

    def __init__(self, profile=PLUMBER, **answers: Answer) -> None:
        self.profile, self.answers, self.calls = profile, answers, []

    def __call__(self, call: ToolCall) -> Result:
        self.calls.append(call)
        parse_tool_call(call, self.profile)  # every call must pass the real argument checks
        scripted = self.answers.get(call.name)
        if isinstance(scripted, list):
            return scripted.pop(0)
        if scripted is not None:
            return scripted
        if call.name == "get_quote":
            return Result(
                "get_quote", "ok", quote(self.profile, call.parsed_arguments()["service_id"])
            )
        if call.name == "check_availability":
            return Result(call.name, "ok", SLOTS)
        if call.name == "book_appointment":
            return Result(call.name, "ok", {"booking_id": "B7"})
        return Result(call.name, "ok")


class Call:
    """The brain's side of a call: history, runs, tool execution."""

    def __init__(self, policy: OfflinePolicy, executor: Executor) -> None:
        self.policy, self.executor = policy, executor
        self.history = History("You are the phone receptionist.")
        self.ended: ToolCall | None = None
        self.specs = tool_specs(policy.company)

    async def run_once(self) -> tuple[str, list[ToolCall], list[LlmEvent]]:
        send, receive = trio.open_memory_channel[LlmEvent](0)
        events: list[LlmEvent] = []
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.policy.run, self.history.for_llm(), self.specs, send)
                async with receive:
                    events = [event async for event in receive]
        assert isinstance(events[-1], Finish)
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        calls = [e for e in events if isinstance(e, ToolCall)]
        assert events[-1].reason == ("tool_calls" if calls else "stop")
        return text, calls, events

    async def turn(self, user: str | None = None) -> str:
        """Feed the caller's words (None: the call start); the spoken reply of the turn."""
        assert self.ended is None, "the call has ended"
        if user is not None:
            self.history.add_user(user)
        spoken: list[str] = []
        while True:
            text, calls, _ = await self.run_once()
            if text or calls:
                self.history.add_assistant(text or None, calls)
            spoken.append(text)
            for call in calls:
                result = self.executor(call)
                self.history.add_tool_result(call.id, result.for_model())
                if call.name in ("transfer_to_human", "end_call") and result.status == "ok":
                    self.ended = call
            if not calls or self.ended is not None:
                return " ".join(s for s in spoken if s)


def make(profile=PLUMBER, now: float = TUESDAY_10, **answers: Answer) -> Call:
    policy = OfflinePolicy(profile, call_uuid="call-1", clock=lambda: now)
    return Call(policy, Executor(profile, **answers))


def booking(call: Call) -> dict[str, Any]:
    (book,) = [c for c in call.executor.calls if c.name == "book_appointment"][-1:]
    return book.parsed_arguments()


async def to_phone_question(call: Call) -> None:
    await call.turn()
    await call.turn(LINE["leak"])
    await call.turn(LINE["sounds_fine"])
    await call.turn(LINE["name"])
    await call.turn(LINE["address"])
    assert "number" in await call.turn(LINE["postcode"])
