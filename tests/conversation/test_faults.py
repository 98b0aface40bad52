"""Fault injection on whole calls: what breaks, and that only what broke is affected.

Each test is a whole call (the real ``Call`` and conversation brain, the real
softphone) with the failing part real too (the Deepgram / OpenAI-compatible /
Cartesia client against its wire-faithful fake on loopback, or a real TCP
socket), in virtual time unless said otherwise.

Already proven elsewhere (not repeated here):

* STT: drops, refused handshakes, outages longer than the buffer, malformed
  frames, stalls: ``tests/test_deepgram.py`` (``test_drop_mid_call_reconnects_and_
  replays_buffered_audio``, ``test_outage_with_failed_handshakes_loses_no_audio``,
  ``test_outage_longer_than_the_buffer_drops_only_the_oldest_audio``).
* LLM chain policy (retry once before content, next provider, nothing of a failed
  attempt leaks, errors after content propagate): ``tests/test_fallback.py``,
  including ``test_loopback_chain_moves_to_the_second_server_after_429s``; the
  spoken apology for a failed model: ``tests/test_conversation.py::
  test_llm_error_before_audio_gives_a_spoken_apology``.
* TTS: the Cartesia client's own error mapping and reconnects:
  ``tests/test_cartesia.py``; the fallback voice: ``tests/test_tts_fallback.py``.
* Booking API down -> the booking is kept in the outbox, the caller is told, and
  it is confirmed exactly once when the API is back: ``tests/test_toolrunner.py::
  test_api_down_booking_kept_caller_told_then_confirmed_once`` (and
  ``tests/test_outbox.py`` for the retry policy and restarts).
* Bad input on the AudioSocket (each ends only its own call), including a
  connection that never sends its UUID, in real time with a good call beside:
  ``tests/test_server_loopback.py::test_each_bad_input_ends_only_its_own_call``.

Caller audio lost when the STT socket drops: none. The brain hands caller
frames to the Deepgram session's ledger whatever the socket's state, and the
session replays from the end of the last final transcript on the new socket;
only an outage longer than ``DEEPGRAM_MAX_BUFFER_S`` (10 s) drops audio, the
oldest first (``test_deepgram.py`` measures that case).
"""

from __future__ import annotations

import functools
import json
import socket
import uuid

import httpx
import pytest
import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.business.company import EXAMPLE_COMPANIES, parse_directory
from agent.conversation import conversation_brain_factory
from agent.conversation.echo import EchoBrain
from agent.demo.signals import speechlike
from agent.demo.softphone import Caller, CallerParams, HangUp, Say, Silence, WaitAgent
from agent.dialogue.tools import ToolResult
from agent.media.server import CallRegistry, handle_connection
from agent.media.stream import AudioSocketStream
from agent.providers.llm.fallback import FallbackChain
from agent.providers.llm.openai_compat import LlmSettings, OpenAICompatibleLLM
from agent.providers.stt.deepgram import DeepgramSettings, DeepgramStt
from agent.providers.tts.cartesia import CartesiaSettings, CartesiaTts
from agent.providers.tts.fallback import FallbackTts
from agent.wire.audiosocket import Audio, Identify, Role
from tests.fakes.cartesia import FakeCartesia
from tests.fakes.deepgram import Fault as DeepgramFault
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.inmem import LlmReply, ScriptedLlm, ScriptedStt, ToneTts
from tests.fakes.openai import Fault as LlmFault
from tests.fakes.openai import ScriptedReply, open_fake_openai
from tests.fakes.tone_text import decode_tones

DIRECTORY = parse_directory(json.loads(EXAMPLE_COMPANIES.read_text()))
EPOCH = 1747126800.0  # a Tuesday, 10:00 in London: the company is open
APOLOGY = "having a bit of trouble"
LIMIT = 120  # virtual seconds for any one call


class NoTools:
    async def run(self, call, now: float) -> ToolResult:
        return ToolResult(call.name, "refused", error="no tools here")


def factory_for(stt, llm, tts):
    return conversation_brain_factory(
        stt=lambda call: stt,
        llm=lambda call: llm,
        tts=lambda call: tts,
        tools=lambda call, company: NoTools(),
        companies=DIRECTORY,
        epoch=lambda: EPOCH,
    )


async def whole_call(factory, script, **params):
    """The real caller and the real call over an in-memory stream; returns when the
    server has finished the call (cleanup included)."""
    client, server = trio.testing.memory_stream_pair()
    calls, times = [], {}
    caller = Caller(
        script, params=CallerParams(agent_quiet_ms=600, agent_timeout_s=20, linger_s=2, **params)
    )

    async def serve() -> None:
        calls.append(await handle_connection(server, ServerSettings(brain="conversation"), factory))

    async def phone() -> None:
        await caller.run(client)
        times["caller_gone"] = trio.current_time()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            nursery.start_soon(phone)
    return caller, calls[0], times["caller_gone"]


def user_turns(llm: ScriptedLlm) -> list[str]:
    return [run.messages[-1].content for run in llm.runs if run.messages[-1].role == "user"]


# --- STT ----------------------------------------------------------------------------


async def test_stt_socket_drop_mid_utterance_reconnects_and_loses_no_audio(autojump_clock):
    texts = ["I need a plumber.", "The kitchen tap is leaking.", "Tomorrow is fine."]
    # The first socket is closed by the server once 3.4 s of audio came in: in the
    # middle of the second utterance (checked below).
    faults = [DeepgramFault(close_after_audio_ms=3400)]
    async with open_fake_deepgram(script=texts, sample_rate=8000, faults=faults) as fake:
        stt = DeepgramStt(DeepgramSettings(api_key=fake.api_key, url=fake.url), 8000)
        llm = ScriptedLlm([])
        script = [Say(speechlike(1.0)), Say(speechlike(1.2)), Say(speechlike(0.8))]
        caller, call, _ = await whole_call(
            factory_for(stt, llm, ToneTts()), [*script, WaitAgent(10), HangUp()]
        )
        fake.check()
    report = caller.report()
    first, second = fake.connections
    # The drop came while the caller was talking.
    talking = caller.utterances[1]
    assert talking.start_at < first.closed_at < talking.end_at
    # The call went on: every utterance was understood and answered.
    assert user_turns(llm) == texts
    assert all(u.response_ms is not None for u in report.utterances)
    assert call.end_reason == "hangup"
    # Nothing was lost: no frame dropped on the way to the session or in it, and
    # the second socket got everything from the last final on (replayed), so the
    # two sockets together cover all the audio the session took.
    stats = stt.statistics()
    assert call.brain.feed.dropped == 0 and stats.audio_bytes_dropped == 0
    assert len(first.audio) + len(second.audio) >= stats.audio_bytes_in
    assert len(second.audio) > stats.audio_bytes_in - len(first.audio)  # some was replayed
    # Every frame reached the session, which sent batches (frames one by one only
    # around the endpointing time of a pause).
    feed = call.brain.feed
    assert feed.to_stt * 320 == stats.audio_bytes_in
    assert stats.audio_messages_sent < feed.to_stt * 0.5


# --- LLM ----------------------------------------------------------------------------


def chain_of(servers, client, *, timeout_s: float = 2.0) -> FallbackChain:
    """Groq, then Cerebras: both presets pointed at loopback fakes."""
    return FallbackChain(
        [
            OpenAICompatibleLLM(
                LlmSettings(
                    provider=name,
                    base_url=server.base_url,
                    api_key=server.api_key,
                    timeout_s=timeout_s,
                ),
                client,
            )
            for name, server in zip(("groq", "cerebras"), servers, strict=True)
        ]
    )


@pytest.mark.parametrize(
    ("fault", "attempts"),
    [
        (LlmFault.RATE_LIMIT, 2),  # 429: retried once (after Retry-After), then next
        (LlmFault.SERVER_ERROR, 2),  # 500: retried once, then next
        (LlmFault.STALL, 2),  # no data within LLM_TIMEOUT: retried once, then next
        (LlmFault.MALFORMED_JSON, 1),  # garbage: not retried, next at once
    ],
)
async def test_llm_failure_retries_then_next_provider_then_a_spoken_apology(
    fault, attempts, autojump_clock
):
    bad = ScriptedReply(fault=fault, fault_after=0, retry_after=0.5)
    async with (
        open_fake_openai(default_reply=bad) as groq,
        open_fake_openai(default_reply=bad) as cerebras,
        httpx.AsyncClient() as client,
    ):
        stt = ScriptedStt(["hello there"])
        script = [Say(speechlike(1.0)), WaitAgent(20), HangUp()]
        caller, call, _ = await whole_call(
            factory_for(stt, chain_of((groq, cerebras), client), ToneTts()), script
        )
        groq.assert_clean()
        cerebras.assert_clean()
    assert (len(groq.requests), len(cerebras.requests)) == (attempts, attempts)
    heard = decode_tones(caller.agent_audio())
    assert APOLOGY in heard
    assert caller.report().utterances[0].response_ms is not None
    assert call.end_reason == "hangup"


async def test_llm_rate_limited_provider_is_replaced_by_the_next_one(autojump_clock):
    limited = ScriptedReply(fault=LlmFault.RATE_LIMIT, retry_after=0.2)
    async with (
        open_fake_openai(default_reply=limited) as groq,
        open_fake_openai(default_reply=ScriptedReply(text="Cerebras here.")) as cerebras,
        httpx.AsyncClient() as client,
    ):
        stt = ScriptedStt(["hello there"])
        script = [Say(speechlike(1.0)), WaitAgent(20), HangUp()]
        caller, _, _ = await whole_call(
            factory_for(stt, chain_of((groq, cerebras), client), ToneTts()), script
        )
    assert (len(groq.requests), len(cerebras.requests)) == (2, 1)
    heard = decode_tones(caller.agent_audio())
    assert "Cerebras here." in heard and APOLOGY not in heard


# --- TTS ----------------------------------------------------------------------------


async def test_tts_error_mid_call_is_spoken_by_the_fallback_voice(nursery, autojump_clock):
    fake = await nursery.start(FakeCartesia().serve)
    fake.error_context = 2  # the greeting (context 1) works; the reply's context fails
    cartesia = CartesiaTts(CartesiaSettings(api_key="test-key", voice_id="v", url=fake.url))
    backup = ToneTts()
    tts = FallbackTts([cartesia, backup])
    llm = ScriptedLlm([LlmReply.say("A plumber can come today.")])
    script = [Say(speechlike(1.0)), WaitAgent(20), HangUp()]
    caller, call, _ = await whole_call(factory_for(ScriptedStt(["hi"]), llm, tts), script)
    heard = decode_tones(caller.agent_audio())
    assert "How can I help you today?" in heard  # the greeting, from Cartesia
    assert "A plumber can come today." in heard  # the reply, from the fallback voice
    assert [s.text for s in backup.speaks] == ["A plumber can come today."]
    assert tts.current == 1 and fake.contexts and fake.violations == []
    assert call.end_reason == "hangup"


# --- the caller goes away -----------------------------------------------------------


async def test_caller_vanishing_mid_turn_closes_every_provider_within_a_second(
    nursery, autojump_clock
):
    """The caller hangs up while the reply is being generated and spoken: the
    STT socket, the LLM stream and the TTS socket are all closed within 1 s and
    the call is finalised."""
    slow = ScriptedReply(text="word " * 40, first_token_delay=0.05, token_gap=0.2)
    cartesia_fake = await nursery.start(FakeCartesia().serve)
    async with (
        open_fake_deepgram(script=["Tell me everything."], sample_rate=8000) as deepgram_fake,
        open_fake_openai(default_reply=slow) as llm_fake,
    ):
        stt = DeepgramStt(DeepgramSettings(api_key=deepgram_fake.api_key, url=deepgram_fake.url))
        llm = OpenAICompatibleLLM(
            LlmSettings(provider="groq", base_url=llm_fake.base_url, api_key=llm_fake.api_key)
        )
        tts = CartesiaTts(CartesiaSettings(api_key="test-key", voice_id="v", url=cartesia_fake.url))
        script = [Say(speechlike(1.0)), Silence(2.0), HangUp()]
        caller, call, gone = await whole_call(factory_for(stt, llm, tts), script)
        # Mid-turn: the agent was talking and the model still writing.
        assert caller.report().utterances[0].response_ms is not None
        (request,) = llm_fake.requests
        assert request.client_disconnected and request.disconnected_at <= gone + 1.0
        (stt_socket,) = deepgram_fake.connections
        assert stt_socket.closed_at is not None and stt_socket.closed_at <= gone + 1.0
        (tts_socket,) = cartesia_fake.connections
        assert tts_socket.closed_at is not None and tts_socket.closed_at <= gone + 1.0
        deepgram_fake.check()
    assert call.end_reason == "hangup" and call.ended_at <= gone + 1.0
    assert cartesia_fake.violations == []


async def test_stt_session_ends_without_waiting_for_its_goodbye_timeout(autojump_clock):
    """The call's end cancels the session: the socket's close handshake completes
    (the reader task survives the cancellation) instead of timing out."""
    async with open_fake_deepgram(sample_rate=8000) as fake:
        stt = DeepgramStt(DeepgramSettings(api_key=fake.api_key, url=fake.url), 8000)
        audio_send, audio_recv = trio.open_memory_channel[bytes](10)
        events_send, _events_recv = trio.open_memory_channel(100)
        async with trio.open_nursery() as nursery:
            await nursery.start(stt.run, audio_recv, events_send)
            await audio_send.send(bytes(320))
            await trio.sleep(0.5)
            cancelled_at = trio.current_time()
            nursery.cancel_scope.cancel()  # the call ends
        assert fake.connections[0].closed_at <= cancelled_at + 0.1  # the server saw it
    assert trio.current_time() - cancelled_at < 0.5


# --- Asterisk stops reading ---------------------------------------------------------


async def test_peer_that_stops_reading_ends_only_its_own_call(nursery, autojump_clock):
    """Our send buffer fills (tiny socket buffers); the send watchdog ends that
    call cleanly while another call on the same server goes on."""
    registry = CallRegistry()
    settings = ServerSettings(brain="echo")
    calls = []

    async def handler(stream: trio.SocketStream) -> None:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        calls.append(await handle_connection(stream, settings, EchoBrain, registry=registry))

    listeners = await nursery.start(functools.partial(trio.serve_tcp, host="127.0.0.1"), handler, 0)
    port = listeners[0].socket.getsockname()[1]

    # Asterisk that stops reading: a tiny receive buffer, a UUID, then silence
    # frames sent but nothing ever read.
    sock = trio.socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    deaf = AudioSocketStream(trio.SocketStream(sock), Role.CLIENT)
    await deaf.send(Identify(uuid.uuid4()))

    closed_on_us = trio.Event()

    async def keep_talking() -> None:
        with trio.move_on_after(30):
            while True:
                try:
                    await deaf.send(Audio(bytes(320)))
                except trio.BrokenResourceError:
                    closed_on_us.set()  # the server closed the stalled call
                    return
                await trio.sleep(0.02)

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as inner:
            inner.start_soon(keep_talking)
            good = Caller(
                [Say(speechlike(1.0)), WaitAgent(5), Say(speechlike(0.8)), WaitAgent(5), HangUp()],
                params=CallerParams(agent_quiet_ms=600, linger_s=2),
            )
            report = await good.run(await trio.open_tcp_stream("127.0.0.1", port))
            await registry.wait_idle()
            await closed_on_us.wait()
            inner.cancel_scope.cancel()
    stalled = next(c for c in calls if c.end_reason != "hangup")
    assert stalled.end_reason == "send-stalled"
    assert stalled.ended_at - stalled.started_at < 5.0
    assert registry.ended_by_reason == {"send-stalled": 1, "hangup": 1}
    # The other call heard both of its echoes, without a hole.
    assert all(u.response_ms is not None for u in report.utterances)
    assert report.gaps == 0
    await deaf.aclose()


# --- no UUID ----------------------------------------------------------------------


async def test_connection_without_a_uuid_is_closed_at_the_timeout(autojump_clock):
    client, server = trio.testing.memory_stream_pair()
    settings = ServerSettings(brain="echo", uuid_timeout_s=2.0)
    started = trio.current_time()
    call = await handle_connection(server, settings, EchoBrain)
    assert call.end_reason == "uuid-timeout"
    assert trio.current_time() - started == pytest.approx(2.0)
    assert call.brain is None  # no brain, no providers were ever made
    # The peer sees the connection closed.
    assert await client.receive_some(100) == b""
