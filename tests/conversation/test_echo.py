"""A whole echo call in virtual time: the real caller and the real call code over
an in-memory stream under MockClock."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.conversation.echo import EchoBrain
from agent.demo.signals import silence, speechlike
from agent.demo.softphone import Caller, CallerParams, HangUp, PressKeys, Say, Silence, WaitAgent
from agent.media.server import CallRegistry, handle_connection


def without_silent_frames(pcm: bytes) -> bytes:
    frames = (pcm[i : i + 320] for i in range(0, len(pcm), 320))
    return b"".join(f for f in frames if any(f))


async def echo_call(script, *, registry=None):
    client, server = trio.testing.memory_stream_pair()
    settings = ServerSettings(brain="echo")
    calls = []
    registry = registry or CallRegistry()
    async with trio.open_nursery() as nursery:

        async def serve():
            calls.append(await handle_connection(server, settings, EchoBrain, registry=registry))

        nursery.start_soon(serve)
        caller = Caller(script, params=CallerParams(agent_quiet_ms=600))
        report = await caller.run(client)
    return caller, report, calls[0]


async def test_caller_hears_its_utterance_back(autojump_clock):
    speech = speechlike(1.2)
    caller, report, call = await echo_call(
        [Say(silence(0.2) + speech, label="hello"), WaitAgent(timeout_s=5), HangUp()]
    )
    agent_audio = caller.agent_audio()
    # The echo is the caller's own frames, byte for byte.
    assert speech[:16000] in agent_audio
    assert call.brain.echoed == 1
    (hello,) = report.utterances
    # End of speech -> echo: the VAD's stop hangover plus at most a frame.
    assert hello.response_ms is not None and 100 <= hello.response_ms <= 600
    assert call.end_reason == "hangup"
    assert report.gaps == 0
    assert report.interarrival_p50_ms == pytest.approx(20.0)


async def test_interruption_stops_the_echo(autojump_clock):
    long_speech = speechlike(3.0)
    caller, report, call = await echo_call(
        [
            Say(long_speech, label="long"),
            Say(speechlike(1.0), label="talk over", interrupt_after_ms=500),
            WaitAgent(timeout_s=5),
            HangUp(),
        ]
    )
    assert call.brain.barge_ins == 1
    # The first echo was cut: its tail never reached the caller.
    assert long_speech[-3200:] not in caller.agent_audio()
    talk_over = report.utterances[1]
    assert talk_over.interrupt
    # Onset decision (~60 ms) + confirm window (200 ms): the agent went quiet
    # well before the caller finished its 1 s sentence.
    assert talk_over.barge_in_stop_ms is not None and talk_over.barge_in_stop_ms <= 300


async def test_short_cough_pauses_then_resumes(autojump_clock):
    long_speech = speechlike(2.0)
    caller, report, call = await echo_call(
        [
            Say(long_speech, label="long"),
            Say(speechlike(0.1), label="cough", interrupt_after_ms=400),
            WaitAgent(timeout_s=5),
            HangUp(),
        ]
    )
    assert call.brain.barge_ins == 0
    # Paused (silence frames inserted) and resumed: every frame of the echo
    # still reached the caller, in order.
    assert without_silent_frames(long_speech) in without_silent_frames(caller.agent_audio())
    assert report.utterances[1].barge_in_stop_ms is not None


async def test_dtmf_and_agent_side_hangup_are_clean(autojump_clock):
    registry = CallRegistry()
    _caller, _report, call = await echo_call(
        [Silence(1.0), PressKeys("12#", wait_for_agent=False), HangUp()], registry=registry
    )
    assert call.end_reason == "hangup"
    assert registry.statistics()["active_calls"] == 0
    assert registry.ended_by_reason == {"hangup": 1}
