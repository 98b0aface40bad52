"""Two of the conversation scenarios in real time, over loopback TCP, with the cloud stack.

The real AudioSocket server, the real caller over TCP, and the real provider
clients (Deepgram live, OpenAI-compatible streaming with tool calls, Cartesia
WebSocket) talking to their fake servers on loopback. The fake model answers
what the offline dialogue policy would answer to the request it receives, so
the tool-call round trips (the assistant's calls, the ``tool`` results) really
cross the wire. What the caller hears is tone-text, decoded to check it.
"""

from __future__ import annotations

import json

import pytest
import trio

from agent.base.config import ServerSettings
from agent.base.events import Message, TextDelta, ToolCall
from agent.business.bookingstore import BookingStore, open_database
from agent.business.company import EXAMPLE_COMPANIES, parse_directory
from agent.business.outbox import Outbox
from agent.conversation import conversation_brain_factory
from agent.conversation.toolrunner import BookingToolRunner
from agent.demo.scenarios import SCENARIOS, caller_steps, transcripts
from agent.demo.softphone import Caller, CallerParams
from agent.media.server import serve_audiosocket
from agent.providers.llm.offline_policy import OfflinePolicy
from agent.providers.llm.openai_compat import OpenAICompatibleLLM
from agent.providers.llm.openai_settings import LlmSettings
from agent.providers.stt.deepgram import DeepgramStt
from agent.providers.stt.deepgram_settings import DeepgramSettings
from agent.providers.tts.cartesia import CartesiaTts
from agent.providers.tts.cartesia_wire import CartesiaSettings
from tests.fakes.cartesia import FakeCartesia
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.openai import FakeOpenAIServer, ScriptedReply
from tests.fakes.tone_text import decode_tones

pytestmark = pytest.mark.realtime

DATA = json.loads(EXAMPLE_COMPANIES.read_text())
DIRECTORY = parse_directory(DATA)
COMPANY = DIRECTORY.get(DIRECTORY.default_id)


def _message(raw: dict) -> Message:
    calls = tuple(
        ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in raw.get("tool_calls") or ()
    )
    return Message(raw["role"], raw.get("content"), calls, raw.get("tool_call_id"))


class PolicyModel:
    """The fake server's brain: one offline policy per call, keyed by the system prompt
    (each call has its own history; these tests make one call at a time)."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.policy: OfflinePolicy | None = None

    def reply_for(self, body: dict) -> ScriptedReply:
        if self.policy is None:
            self.policy = OfflinePolicy(COMPANY, call_uuid="model", clock=self.clock)
        messages = [_message(m) for m in body["messages"]]
        events = self.policy.respond(messages)
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        calls = tuple(e for e in events if isinstance(e, ToolCall))
        return ScriptedReply(text=text, tool_calls=calls, first_token_delay=0.04)


async def run_realtime(name: str, tmp_path) -> tuple[Caller, object, list, FakeOpenAIServer]:
    s = SCENARIOS[name]
    start = s.start_epoch(COMPANY.timezone)
    t0 = trio.current_time()

    def epoch() -> float:
        return start + trio.current_time() - t0

    db = open_database(tmp_path / "agent.db")
    store, outbox = BookingStore(db, COMPANY), Outbox(db)
    model = PolicyModel(epoch)
    brains: list = []
    async with (
        open_fake_deepgram(script=transcripts(s), sample_rate=8000) as deepgram,
        trio.open_nursery() as nursery,
    ):
        openai = FakeOpenAIServer(reply_for=model.reply_for)
        await nursery.start(openai.serve)
        cartesia = await nursery.start(FakeCartesia().serve)
        stt_settings = DeepgramSettings(api_key=deepgram.api_key, url=deepgram.url)
        llm = OpenAICompatibleLLM(
            LlmSettings(provider="groq", base_url=openai.base_url, api_key=openai.api_key)
        )
        tts_settings = CartesiaSettings(api_key="test-key", voice_id="voice-1", url=cartesia.url)
        factory = conversation_brain_factory(
            stt=lambda call: DeepgramStt(stt_settings, call.sample_rate),
            llm=lambda call: llm,
            tts=lambda call: CartesiaTts(tts_settings, call.sample_rate),
            tools=lambda call, co: BookingToolRunner(co, store, outbox, None, str(call.uuid)),
            companies=DIRECTORY,
            epoch=epoch,
        )

        def make(call):
            brains.append(factory(call))
            return brains[-1]

        listeners = await nursery.start(serve_audiosocket, ServerSettings(port=0), make)
        port = listeners[0].socket.getsockname()[1]
        caller = Caller(caller_steps(s, linger_s=10.0), params=CallerParams(linger_s=10.0))
        with trio.fail_after(90):
            await caller.run(await trio.open_tcp_stream("127.0.0.1", port))
        nursery.cancel_scope.cancel()
    bookings = await store.bookings()
    db.close()
    openai.assert_clean()
    assert deepgram.violations == [] and cartesia.violations == []
    return caller, brains[0], bookings, openai


async def test_realtime_caller_asks_for_a_human(tmp_path):
    caller, brain, bookings, openai = await run_realtime("human", tmp_path)
    assert caller.agent_hung_up
    assert brain.outcome.kind == "transfer" and brain.outcome.target.name == "office"
    heard = decode_tones(caller.agent_audio())
    assert "85 pounds" in heard and "put you through to office" in heard
    # The model's transfer_to_human went over the wire and its result came back.
    sent = [json.loads(r.body) if isinstance(r.body, bytes) else r.body for r in openai.requests]
    tool_names = [
        c["function"]["name"]
        for body in sent
        for m in body["messages"]
        for c in (m.get("tool_calls") or ())
    ]
    assert "get_quote" in tool_names
    assert bookings == []


async def test_realtime_out_of_hours_emergency(tmp_path):
    caller, brain, bookings, _ = await run_realtime("emergency", tmp_path)
    assert caller.agent_hung_up
    outcome = brain.outcome
    assert outcome.kind == "transfer" and outcome.target.name == "on-call engineer"
    heard = decode_tones(caller.agent_audio())
    assert "We're closed at the moment" in heard
    assert "If you can smell gas, open the windows" in heard
    assert bookings == []
