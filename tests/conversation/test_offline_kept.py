"""The offline policy's callbacks, corrections and cancellations reach the outbox: no
tool call carries them (its own workflow keeps them), so the turn takes them from the
policy after each run; and the policy knows the caller's own number from the call."""

from __future__ import annotations

import attrs
import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.business.bookingstore import BookingStore
from agent.business.outbox import Outbox
from agent.conversation import conversation_brain_factory
from agent.conversation.toolrunner import BookingToolRunner
from agent.demo.signals import speechlike
from agent.media.server import handle_connection
from agent.providers.llm.offline_policy import OfflinePolicy
from agent.wire.audiosocket import Dtmf
from tests.conversation.call_rig import DIRECTORY, TUESDAY_10, Phone
from tests.conversation.test_callback import db  # noqa: F401  (the fixture)
from tests.dialogue.test_workflow import LONELY
from tests.fakes.inmem import ScriptedLlm, ScriptedStt, ToneTts

COMPANY = attrs.evolve(DIRECTORY.get(DIRECTORY.default_id), notify_url="http://127.0.0.1:9/notify")
CALLER_ID = "+447700900555"


async def test_a_callback_the_offline_policy_keeps_reaches_the_outbox(db, autojump_clock):  # noqa: F811
    outbox = Outbox(db)
    calls: list = []
    factory = conversation_brain_factory(
        stt=lambda call: ScriptedStt(["Can you call me back later? I'm driving."]),
        llm=lambda call: OfflinePolicy(COMPANY, call_uuid="call-off", clock=lambda: TUESDAY_10),
        tts=lambda call: ToneTts(),
        tools=lambda call, co: BookingToolRunner(
            COMPANY, BookingStore(db, COMPANY), outbox, None, "call-off"
        ),
        companies=DIRECTORY,
        caller_id_for=lambda call: CALLER_ID,
        epoch=lambda: TUESDAY_10,
    )

    def make(call):
        calls.append(call)
        return factory(call)

    client, server = trio.testing.memory_stream_pair()
    phone = Phone(client)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handle_connection, server, ServerSettings(brain="conversation"), make)
        nursery.start_soon(phone.run)
        with trio.fail_after(60):
            while not (calls and calls[0].brain and calls[0].brain.gate_opened_at):
                await trio.sleep(0.01)
            await phone.say(speechlike(1.0))
            while not await outbox.items():
                await trio.sleep(0.1)
        (item,) = await outbox.items()
        assert item.payload["event"] == "callback_requested"
        assert item.payload["data"]["phone"] == CALLER_ID  # the number it is calling from
        assert item.payload["data"]["reason"] == "callback"
        with trio.fail_after(60):
            while "call you back on 0 7 7 0 0, 9 0 0, 5 5 5" not in phone.heard_text():
                await trio.sleep(0.1)
        await phone.hang_up()
        nursery.cancel_scope.cancel()


async def test_the_person_key_with_nobody_to_put_through_keeps_a_callback(db, autojump_clock):  # noqa: F811
    lonely = attrs.evolve(LONELY, notify_url="http://127.0.0.1:9/notify")
    outbox = Outbox(db)

    calls: list = []
    factory = conversation_brain_factory(
        stt=lambda call: ScriptedStt([]),
        llm=lambda call: ScriptedLlm([]),  # the model is never asked: the key is the gate's
        tts=lambda call: ToneTts(),
        tools=lambda call, co: BookingToolRunner(
            lonely, BookingStore(db, lonely), outbox, None, "call-key"
        ),
        companies=DIRECTORY,
        company_for=lambda call: lonely,
        caller_id_for=lambda call: CALLER_ID,
        epoch=lambda: TUESDAY_10,
    )

    def make(call):
        calls.append(call)
        return factory(call)

    client, server = trio.testing.memory_stream_pair()
    phone = Phone(client)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handle_connection, server, ServerSettings(brain="conversation"), make)
        nursery.start_soon(phone.run)
        with trio.fail_after(60):
            while not (calls and calls[0].brain and calls[0].brain.gate_opened_at):
                await trio.sleep(0.01)
            await phone.stream.send(Dtmf("0"))
            brain = calls[0].brain
            while not brain.pending:
                await trio.sleep(0.1)
        (kept,) = brain.pending
        assert kept.kind == "callback" and kept.data["phone"] == CALLER_ID
        with trio.fail_after(60):
            while "call you back" not in phone.heard_text() or not await outbox.items():
                await trio.sleep(0.1)
        (item,) = await outbox.items()
        assert item.payload["event"] == "callback_requested"
        await phone.hang_up()
        nursery.cancel_scope.cancel()
