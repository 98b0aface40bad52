"""A finished conversation is freed by reference counting alone.

Every object of a call that sits in a reference cycle waits for the cyclic
collector; with 100 calls a process would hold the dead ones until the next
collection (the service used to force one after the last call). So after one
whole observed call, with the collector disabled, weak references to the call,
its brain, its turns and its observer must be dead.
"""

from __future__ import annotations

import gc
import weakref

import trio

from agent.demo.signals import speechlike
from agent.wire.audiosocket import Dtmf
from tests.fakes.inmem import LlmReply
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
