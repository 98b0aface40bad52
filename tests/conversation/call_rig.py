"""A whole conversation in virtual time, for tests: the real Call over an in-memory
stream, a scripted phone that speaks and records (``Phone``), fake tools, and the
in-memory provider fakes (tests.fakes.inmem), opened by ``open_call``."""

from __future__ import annotations

import json
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import attrs
import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.base.events import ToolCall
from agent.business.company import EXAMPLE_COMPANIES, parse_directory
from agent.conversation import (
    ConversationBrain,
    conversation_brain_factory,
)
from agent.dialogue.tools import ToolResult
from agent.media.server import handle_connection
from agent.media.stream import AudioSocketStream
from agent.wire.audiosocket import Audio, Hangup, Identify, Role
from tests.fakes.inmem import ScriptedLlm, ScriptedStt, ToneTts
from tests.fakes.tone_text import decode_tones

DATA = json.loads(EXAMPLE_COMPANIES.read_text())
DIRECTORY = parse_directory(DATA)
TUESDAY_10 = datetime(2025, 5, 13, 10, 0, tzinfo=ZoneInfo("Europe/London")).timestamp()
FRAME = 320


class Phone:
    """Sends 20 ms frames (silence unless told to speak); records what the agent sends."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = AudioSocketStream(stream, Role.CLIENT)
        self.heard: list[tuple[float, bytes]] = []
        self.agent_hung_up = False
        self.closed = trio.Event()
        self._pcm = b""
        self._played = trio.Event()
        self._played.set()
        self.stalled = False  # True: no frames go (a stream that stalls, not a hang-up)

    async def run(self) -> None:
        await self.stream.send(Identify(uuid.uuid4()))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive, nursery.cancel_scope)
            next_at = trio.current_time()
            while True:
                frame, self._pcm = self._pcm[:FRAME], self._pcm[FRAME:]
                if not self._pcm:
                    self._played.set()
                try:
                    if not self.stalled:
                        await self.stream.send(Audio(frame.ljust(FRAME, b"\0")))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                next_at += 0.02
                await trio.sleep_until(next_at)

    async def _receive(self, scope: trio.CancelScope) -> None:
        while True:
            try:
                event = await self.stream.receive_event()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                event = None
            if isinstance(event, Audio):
                self.heard.append((trio.current_time(), event.pcm))
            elif isinstance(event, Hangup):
                self.agent_hung_up = True
            elif event is None:
                self.closed.set()
                scope.cancel()
                return

    async def say(self, pcm: bytes) -> None:
        self._pcm, self._played = pcm, trio.Event()
        await self._played.wait()

    def voiced_times(self, since: float = 0.0) -> list[float]:
        return [t for t, pcm in self.heard if t >= since and any(pcm)]

    def heard_text(self, since: float = 0.0, until: float = float("inf")) -> str:
        return decode_tones(b"".join(pcm for t, pcm in self.heard if since <= t < until))

    async def hang_up(self) -> None:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self.stream.stream)


class FakeTools:
    def __init__(self, results: dict[str, ToolResult], delay_s: float = 0.0) -> None:
        self.results, self.delay_s = results, delay_s
        self.calls: list[ToolCall] = []
        self.cancelled: list[ToolCall] = []

    async def run(self, call: ToolCall, now: float) -> ToolResult:
        self.calls.append(call)
        try:
            await trio.sleep(self.delay_s)
        except trio.Cancelled:
            self.cancelled.append(call)
            raise
        return self.results[call.name]


@attrs.define
class Rig:
    phone: Phone
    stt: ScriptedStt
    llm: ScriptedLlm
    tts: ToneTts
    tools: FakeTools
    calls: list

    @property
    def brain(self) -> ConversationBrain:
        return self.calls[0].brain

    async def until(self, predicate, timeout: float = 60.0) -> None:
        with trio.fail_after(timeout):
            while not predicate():
                await trio.sleep(0.01)

    async def greeted(self) -> float:
        """Wait until the greeting has played; returns when it finished."""
        await self.until(lambda: self.calls and self.calls[0].brain is not None)
        await self.until(lambda: self.brain.gate_opened_at is not None)
        return self.brain.gate_opened_at


QUOTE = ToolResult("get_quote", "ok", {"service": "Leak repair", "currency": "GBP", "fixed": 85.0})


def scripted_factory(stt, llm, tts, tools, params=None, turn_taking=None):
    """The conversation's brain factory on these fakes: every call gets the same ones,
    the example companies, and Tuesday 10:00 as the time of day."""
    return conversation_brain_factory(
        stt=lambda call: stt,
        llm=lambda call: llm,
        tts=lambda call: tts,
        tools=lambda call, company: tools,
        companies=DIRECTORY,
        params=params,
        turn_taking=turn_taking,
        epoch=lambda: TUESDAY_10,
    )


@asynccontextmanager
async def open_call(
    stt_script,
    replies,
    *,
    tools=None,
    params=None,
    stt_kwargs=None,
    stt=None,
    turn_taking=None,
    llm=None,
):
    client, server = trio.testing.memory_stream_pair()
    stt = stt if stt is not None else ScriptedStt(stt_script, **(stt_kwargs or {}))
    llm = llm if llm is not None else ScriptedLlm(replies)
    tts = ToneTts()
    tools = tools or FakeTools({"get_quote": QUOTE})
    factory = scripted_factory(stt, llm, tts, tools, params, turn_taking)
    calls: list = []
    phone = Phone(client)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_serve_into, server, factory, calls)
        nursery.start_soon(phone.run)
        yield Rig(phone, stt, llm, tts, tools, calls)
        with trio.move_on_after(30):
            await phone.closed.wait()
        await phone.hang_up()


async def _serve_into(server, factory, calls):
    def make(call):
        calls.append(call)
        return factory(call)

    await handle_connection(server, ServerSettings(brain="conversation"), make)


def user_texts(run) -> list[str]:
    return [m.content for m in run.messages if m.role == "user"]
