"""The model's request_callback through the whole conversation: the real Call and brain,
a scripted model, and the real tool runner over a booking store and an outbox. A
callback the model promises is in the outbox for the business, and the model is told
the number the office will call."""

from __future__ import annotations

import json

import attrs
import pytest
import trio

from agent.base.events import ToolCall
from agent.business.bookingstore import BookingStore, open_database
from agent.business.outbox import Outbox
from agent.conversation.toolrunner import BookingToolRunner
from agent.demo.signals import speechlike
from tests.conversation.call_rig import DIRECTORY, open_call
from tests.fakes.inmem import LlmReply

COMPANY = attrs.evolve(DIRECTORY.get(DIRECTORY.default_id), notify_url="http://127.0.0.1:9/notify")


@pytest.fixture
def db(tmp_path):
    database = open_database(tmp_path / "agent.db", threaded=False)  # virtual time
    yield database
    database.close()


async def test_a_callback_the_model_asks_for_reaches_the_outbox(db, autojump_clock):
    outbox = Outbox(db)
    tools = BookingToolRunner(COMPANY, BookingStore(db, COMPANY), outbox, None, "call-cb")
    args = {"phone": "07700 900123", "reason": "at work, call after five"}
    callback = ToolCall("c1", "request_callback", json.dumps(args))
    replies = [
        LlmReply(("I'll", " ask", " the office", " to ring you.", callback)),
        LlmReply.say("Done: the office will call you back on 07700 900123."),
    ]
    stt = ["can someone call me back after five on 07700 900123"]
    async with open_call(stt, replies, tools=tools) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(1.0))
        await rig.until(lambda: len(rig.llm.runs) == 2 and rig.brain._turn is None)
        await rig.until(lambda: rig.brain.pending)
        (kept,) = rig.brain.pending
        assert kept.kind == "callback" and kept.data["phone"] == "+447700900123"
        # The model was told what was kept, not left to guess.
        told = json.loads(rig.llm.runs[1].messages[-1].content)
        assert told == {
            "status": "ok",
            "kept": True,
            "phone": "+447700900123",
            "note": "kept: the office will call +447700900123",
        }
        with trio.fail_after(10):
            while not await outbox.items():
                await trio.sleep(0.1)
        (item,) = await outbox.items()
        assert item.kind == "notify" and item.target == COMPANY.notify_url
        assert item.key == "call-cb:callback:notify" and item.status == "pending"
        assert item.payload["event"] == "callback_requested"
        assert item.payload["data"]["phone"] == "+447700900123"
        assert item.payload["data"]["reason"] == "callback"
        assert "call you back on" in rig.phone.heard_text()
        await rig.phone.hang_up()
