"""Callbacks kept where no tool carries them reach the outbox: the offline policy's
(its own workflow keeps them, so the turn takes them from the policy after each run;
it knows the caller's own number from the call) and the person key's when there is
nobody to put the caller through to."""

from __future__ import annotations

from contextlib import asynccontextmanager

import attrs
import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.business.bookingstore import BookingStore
from agent.business.company import CompanyProfile
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

NOTIFY = "http://127.0.0.1:9/notify"
COMPANY = attrs.evolve(DIRECTORY.get(DIRECTORY.default_id), notify_url=NOTIFY)
CALLER_ID = "+447700900555"


@asynccontextmanager
async def greeted_call(db, company: CompanyProfile, stt: list[str], llm):  # noqa: F811
    """One call to ``company`` from CALLER_ID, past its greeting: (phone, brain, outbox)."""
    outbox, calls = Outbox(db), []
    factory = conversation_brain_factory(
        stt=lambda call: ScriptedStt(stt),
        llm=lambda call: llm,
        tts=lambda call: ToneTts(),
        tools=lambda call, co: BookingToolRunner(
            company, BookingStore(db, company), outbox, None, "call-kept"
        ),
        companies=DIRECTORY,
        company_for=lambda call: company,
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
        yield phone, calls[0].brain, outbox
        await phone.hang_up()
        nursery.cancel_scope.cancel()


async def until_kept(phone: Phone, outbox: Outbox, said: str):
    with trio.fail_after(60):
        while said not in phone.heard_text() or not await outbox.items():
            await trio.sleep(0.1)
    (item,) = await outbox.items()
    return item


async def test_a_callback_the_offline_policy_keeps_reaches_the_outbox(db, autojump_clock):  # noqa: F811
    policy = OfflinePolicy(COMPANY, call_uuid="call-off", clock=lambda: TUESDAY_10)
    lines = ["Can you call me back later? I'm driving."]
    async with greeted_call(db, COMPANY, lines, policy) as (phone, _brain, outbox):
        await phone.say(speechlike(1.0))
        item = await until_kept(phone, outbox, "call you back on 0 7 7 0 0, 9 0 0, 5 5 5")
    assert item.payload["event"] == "callback_requested"
    assert item.payload["data"]["phone"] == CALLER_ID  # the number it is calling from
    assert item.payload["data"]["reason"] == "callback"


async def test_the_person_key_with_nobody_to_put_through_keeps_a_callback(db, autojump_clock):  # noqa: F811
    lonely = attrs.evolve(LONELY, notify_url=NOTIFY)
    model = ScriptedLlm([])  # never asked: the key is the gate's
    async with greeted_call(db, lonely, [], model) as (phone, brain, outbox):
        await phone.stream.send(Dtmf("0"))
        item = await until_kept(phone, outbox, "call you back")
        (kept,) = brain.pending
    assert kept.kind == "callback" and kept.data["phone"] == CALLER_ID
    assert item.payload["event"] == "callback_requested"
