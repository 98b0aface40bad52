"""The serving process on in-memory streams, for tests in virtual time: a listener
whose connections are stream pairs, a scripted conversation, FastAGI steps and calls."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.base.events import ToolCall
from agent.business.company import EXAMPLE_COMPANIES, parse_directory
from agent.conversation import conversation_brain_factory
from agent.demo.softphone import Caller, CallerParams
from agent.dialogue.tools import ToolResult
from agent.pbx.callflow import CallFlow
from agent.service.serve import BrainSetup, Service, ServiceSettings
from tests.fakes.inmem import ScriptedLlm, ScriptedStt, ToneTts
from tests.fakes.tone_text import decode_tones
from tests.pbx.test_fastagi import FakeAsterisk, env_block

DATA = json.loads(EXAMPLE_COMPANIES.read_text())
DIRECTORY = parse_directory(DATA)
THAMES, SPARKS = DIRECTORY.companies
TUESDAY_10 = datetime(2025, 5, 13, 10, 0, tzinfo=ZoneInfo("Europe/London")).timestamp()
SPARKS_DID = "01614960000"  # as an Asterisk extension would spell it


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener whose connections are in-memory stream pairs (for virtual time)."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](16)
        self.closed = False

    async def connect(self) -> trio.abc.Stream:
        client, server = trio.testing.memory_stream_pair()
        await self._send.send(server)  # BrokenResourceError once closed: "refused"
        return client

    async def accept(self) -> trio.abc.Stream:
        return await self._receive.receive()

    async def aclose(self) -> None:
        self.closed = True
        self._receive.close()
        await trio.lowlevel.checkpoint()


class NoTools:
    async def run(self, call: ToolCall, now: float) -> ToolResult:
        return ToolResult(call.name, "ok")


def conversation(flow: CallFlow, replies=(), stt_script=()) -> tuple[BrainSetup, ScriptedLlm]:
    llm = ScriptedLlm(list(replies))
    factory = conversation_brain_factory(
        stt=lambda call: ScriptedStt(list(stt_script)),
        llm=lambda call: llm,
        tts=lambda call: ToneTts(),
        tools=lambda call, company: NoTools(),
        companies=DIRECTORY,
        did_for=flow.did_for,
        caller_id_for=flow.caller_id_for,
        epoch=lambda: TUESDAY_10,
    )
    return BrainSetup(factory, None, "test conversation"), llm


def make_service(brain, **settings) -> tuple[Service, MemoryListener]:
    listener = MemoryListener()
    service = Service(
        ServerSettings(brain="conversation"),
        ServiceSettings(**settings),
        brain=brain,
        listeners=[listener],
        handle_signals=False,
    )
    return service, listener


async def agi_step(service, script, *args, callerid="07700900123", **env):
    """One FastAGI session against the store; returns the variables it set."""
    ours, theirs = trio.testing.memory_stream_pair()
    peer = FakeAsterisk(theirs)
    block = env_block(script, *args, **env)
    block = block.replace(b"agi_callerid: 15557654321", f"agi_callerid: {callerid}".encode())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(service.agi_session, ours)
        await theirs.send_all(block)
        await peer.answer_all()
    return peer.variables()


async def place_call(listener, call_uuid, script, params=None) -> Caller:
    caller = Caller(script, params=params or CallerParams(linger_s=60), call_uuid=call_uuid)
    await caller.run(await listener.connect())
    return caller


def heard(caller: Caller) -> str:
    return decode_tones(caller.agent_audio())
