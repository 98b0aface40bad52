"""A finished conversation is freed by reference counting alone.

Every object of a call that sits in a reference cycle waits for the cyclic
collector; with 100 calls a process would hold the dead ones until the next
collection (the service used to force one after the last call). So after one
whole call, with the collector disabled, weak references to the call, its brain,
its turns and its observer (or its Deepgram session, after a reconnect) must be
dead.
"""

from __future__ import annotations

import gc
import logging
import weakref

import trio

from agent.demo.signals import speechlike
from agent.demo.softphone import HangUp, Say, WaitAgent
from agent.providers.stt.deepgram import DeepgramSettings, DeepgramStt
from agent.wire.audiosocket import Dtmf
from tests.conversation.test_faults import factory_for, user_turns, whole_call
from tests.fakes.deepgram import Fault as DeepgramFault
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.inmem import LlmReply, ScriptedLlm, ToneTts
from tests.observe.rig import observability, observed_call


async def test_a_whole_observed_call_leaves_no_reference_cycle(tmp_path, autojump_clock):
    obs = observability(tmp_path)
    replies = [LlmReply.say("Hello to you."), LlmReply.say("Booked for tomorrow.")]
    gc.collect()
    gc.disable()  # what is left must be freed without the collector
    try:
        async with observed_call(obs, ["hello there", "tomorrow please"], replies) as rig:
            await rig.greeted()
            await rig.phone.say(speechlike(1.0))
            await rig.until(lambda: len(rig.llm.runs) == 1 and rig.brain._turn is None)
            await rig.phone.stream.send(Dtmf("5"))  # a key entry: the keypad's pause task
            await rig.phone.say(speechlike(1.0))
            await rig.until(lambda: len(rig.llm.runs) >= 2 and rig.brain._turn is None)
            await rig.phone.hang_up()
            await rig.ended()
        call = rig.calls.pop()
        brain, observer = call.brain, call.observer
        assert len(brain.turns) >= 3 and observer.turns_recorded >= 2
        refs = [weakref.ref(x) for x in (call, brain, observer, *brain.turns)]
        refs += [weakref.ref(brain.feed), weakref.ref(call.playout)]
        del call, brain, observer  # the rig keeps none of them (its list was emptied)
        await trio.sleep(0)
        alive = [type(ref()).__name__ for ref in refs if ref() is not None]
        assert alive == []
    finally:
        gc.enable()


async def test_a_call_whose_deepgram_socket_dropped_leaves_no_reference_cycle(
    caplog, autojump_clock
):
    # The error path too: a reconnect handles exceptions, whose tracebacks hold
    # frames. Not logged here: pytest keeps each log record, whose arguments (the
    # error, its traceback) would keep the session alive without any cycle.
    caplog.set_level(logging.ERROR, logger="agent.providers.stt.deepgram")
    texts = ["I need a plumber.", "Tomorrow is fine."]
    faults = [DeepgramFault(close_after_audio_ms=1400)]
    async with open_fake_deepgram(script=texts, sample_rate=8000, faults=faults) as fake:
        gc.collect()
        gc.disable()
        try:
            stt = DeepgramStt(DeepgramSettings(api_key=fake.api_key, url=fake.url), 8000)
            llm = ScriptedLlm([LlmReply.say("Sure, when?"), LlmReply.say("Booked.")])
            script = [Say(speechlike(1.0)), WaitAgent(10), Say(speechlike(1.0)), WaitAgent(10)]
            _, call, _ = await whole_call(factory_for(stt, llm, ToneTts()), [*script, HangUp()])
            assert len(fake.connections) == 2 and user_turns(llm) == texts
            refs = [weakref.ref(x) for x in (call, call.brain, call.brain.feed, stt)]
            refs += [weakref.ref(turn) for turn in call.brain.turns]
            del call, stt
            alive = [type(ref()).__name__ for ref in refs if ref() is not None]
            assert alive == []
        finally:
            gc.enable()
