"""The consent gate: a caller who starts talking over the greeting.

Pure rules of ``ConsentGate`` first, then whole calls in virtual time: the STT
is wrapped so the test sees, at the STT boundary, every frame that reached it.
"""

from __future__ import annotations

import math
from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
import trio.testing

from agent.base.errors import ConfigError
from agent.conversation import ConversationParams
from agent.conversation.consent import ConsentGate
from agent.demo.signals import speechlike
from tests.conversation.call_rig import (
    FRAME,
    FakeTools,
    Rig,
    user_texts,
)
from tests.conversation.call_rig import open_call as brain_call
from tests.fakes.inmem import LlmReply, ScriptedStt, _dbfs

# --- the pure gate ------------------------------------------------------------------


def frames(gate: ConsentGate, start: float, count: int, tag: bytes = b"x") -> None:
    for i in range(count):
        gate.hold(tag + bytes([i % 256]), start + 0.02 * (i + 1))


def test_talk_over_releases_the_sentence_from_its_onset_with_pre_roll():
    gate = ConsentGate()
    frames(gate, 0.0, 100)  # 2 s of audio while the greeting plays
    gate.speech_started(1.5)
    released = gate.open(1.9, caller_speaking=True)
    # Frames ending after 1.5 - 0.3 s: 1.22 .. 2.0
    assert len(released) == 40 and released[0] == b"x" + bytes([60])
    assert gate.is_open and gate.released == 40 and not gate.half_heard


def test_the_ring_keeps_only_the_last_ring_s():
    gate = ConsentGate(ring_s=1.5)
    frames(gate, 0.0, 500)  # 10 s
    gate.speech_started(0.0)  # the onset is older than the ring
    assert len(gate.open(10.0, caller_speaking=True)) == 76


def test_speech_that_ended_before_the_gate_opened_is_not_sent():
    gate = ConsentGate()
    frames(gate, 0.0, 100)
    gate.speech_started(0.5)
    gate.speech_ended(0.8)  # a "hello?" under the greeting
    assert gate.open(2.0, caller_speaking=False) == []


def test_strict_never_releases_and_asks_again_once():
    gate = ConsentGate("strict")
    frames(gate, 0.0, 100)
    gate.speech_started(1.0)
    assert gate.open(2.0, caller_speaking=True) == []
    assert gate.half_heard and gate.take_half_heard() and not gate.take_half_heard()


def test_strict_with_a_quiet_caller_has_nothing_to_ask_again():
    gate = ConsentGate("strict")
    frames(gate, 0.0, 100)
    assert gate.open(2.0, caller_speaking=False) == [] and not gate.half_heard


def test_an_unknown_mode_is_one_clear_error():
    with pytest.raises(ConfigError, match="consent='lenient': use one of talk-over, strict"):
        ConsentGate("lenient")
    with pytest.raises(ConfigError, match="consent='lenient'"):
        ConversationParams(consent="lenient")


# --- whole calls ------------------------------------------------------------------------


class TeeStt:
    """The scripted STT, recording each frame it is given (the STT boundary)."""

    def __init__(self, inner: ScriptedStt) -> None:
        self.inner = inner
        self.frames: list[tuple[float, bytes]] = []
        self.started_at: float | None = None

    def finalize(self) -> None:
        self.inner.finalize()

    def caller_pausing(self) -> None:
        self.inner.caller_pausing()

    async def run(self, audio, out, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.started_at = trio.current_time()
        send, recv = trio.open_memory_channel[bytes](math.inf)

        async def tee() -> None:
            async with send, audio:
                async for pcm in audio:
                    self.frames.append((trio.current_time(), pcm))
                    await send.send(pcm)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tee)
            await nursery.start(partial(self.inner.run, recv, out))
            task_status.started()


def loud(pcm: bytes) -> bool:
    return _dbfs(pcm) >= -40.0


@asynccontextmanager
async def open_call(consent: str):
    stt = TeeStt(ScriptedStt(["I need a plumber urgently, there is water everywhere"]))
    replies = [LlmReply.say("Oh dear, let's get someone out to you.")]
    params = ConversationParams(consent=consent)
    async with brain_call([], replies, tools=FakeTools({}), params=params, stt=stt) as rig:
        yield rig, stt
        await rig.phone.hang_up()


async def talk_one_second_into_the_greeting(rig: Rig) -> tuple[float, bytes]:
    await rig.until(lambda: rig.phone.voiced_times())
    greeting_start = rig.phone.voiced_times()[0]
    await trio.sleep_until(greeting_start + 1.0)
    sentence = speechlike(2.5)
    spoke_at = trio.current_time()
    await rig.phone.say(sentence)
    return spoke_at, sentence


async def test_talk_over_the_whole_first_sentence_reaches_the_stt(autojump_clock):
    async with open_call("talk-over") as (rig, stt):
        spoke_at, sentence = await talk_one_second_into_the_greeting(rig)
        await rig.until(lambda: rig.llm.runs)
        brain = rig.brain
        gate = brain.gate_opened_at
        assert gate is not None and spoke_at < gate < spoke_at + 1.5  # opened at the barge-in
        said = [sentence[i : i + FRAME] for i in range(0, len(sentence), FRAME)]
        # Every loud frame of the sentence reached the STT, the first ones included.
        assert sum(loud(pcm) for _, pcm in stt.frames) >= sum(loud(pcm) for pcm in said)
        assert brain.consent.released > (gate - spoke_at) / 0.02
        assert user_texts(rig.llm.runs[0]) == [
            "I need a plumber urgently, there is water everywhere"
        ]


async def test_strict_sends_nothing_from_before_the_disclosure_and_asks_again(autojump_clock):
    async with open_call("strict") as (rig, stt):
        spoke_at, _ = await talk_one_second_into_the_greeting(rig)
        brain = rig.brain
        await rig.until(lambda: brain.gate_opened_at is not None)
        gate = brain.gate_opened_at
        await rig.until(lambda: rig.phone.heard_text(gate).strip().endswith("say it again?"))
        # At the STT boundary: only audio the caller sent after the disclosure ended.
        assert stt.started_at >= gate and brain.consent.released == 0
        assert len(stt.frames) == brain.feed.to_stt
        sent_after = sum(loud(pcm) for _, pcm in stt.frames)
        remaining = (spoke_at + 2.5 - gate) / 0.02
        assert 0 < sent_after <= remaining + 1
        # Half heard: asked again, not answered.
        assert rig.llm.runs == []
        assert "Sorry, I didn't quite catch that." in rig.phone.heard_text(gate)


# --- the recogniser gets the company's words -------------------------------------------


class VocabularyStt(ScriptedStt):
    def use_vocabulary(self, vocabulary) -> None:
        self.vocabulary = vocabulary


async def test_the_factory_gives_the_recogniser_the_company_vocabulary(autojump_clock):
    stt = VocabularyStt([])
    async with brain_call([], [], stt=stt) as rig:
        await rig.until(lambda: rig.calls and rig.calls[0].brain is not None)
        assert stt.vocabulary.prompt.startswith("Thanks for calling Thames Plumbing and Heating.")
        await rig.phone.hang_up()
