"""The serving process in virtual time: setup -> call -> next through one store,
the company by DID, the UUID allowlist and outcomes as decisions (the drain:
test_serve_drain.py; the service on in-memory streams: serve_rig.py)."""

from __future__ import annotations

import gc
import logging
import uuid
import weakref

import pytest
import trio

from agent.base.events import ToolCall
from agent.business.company import TransferTarget
from agent.conversation import Outcome
from agent.demo.signals import speechlike
from agent.demo.softphone import CallerParams, Say, Silence, WaitAgent
from agent.pbx.callflow import CallFlow, decide
from agent.pbx.callmeta import CallMetadata, Decision
from agent.pbx.callmeta_store import CallMetadataStore
from agent.service.serve import BrainSetup
from tests.fakes.inmem import LlmReply
from tests.service.serve_rig import (
    DIRECTORY,
    SPARKS,
    SPARKS_DID,
    agi_step,
    conversation,
    heard,
    make_service,
    place_call,
)

# --- pure: outcome -> decision --------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "end_reason", "expected"),
    [
        (Outcome("transfer", "asked", TransferTarget("office", "PJSIP/2001")), "agent",
         Decision("transfer", "PJSIP/2001")),
        (Outcome("transfer", "asked", TransferTarget("x", "PJSIP/1,tT")), "agent",
         Decision("voicemail")),
        (Outcome("transfer", "asked", None), "agent", Decision("voicemail")),
        (Outcome("end", "done"), "agent", Decision("hangup")),
        (Outcome("end", "silence"), "agent", Decision("hangup")),
        (Outcome("end", "shutdown"), "agent", Decision("voicemail")),
        (None, "shutdown", Decision("voicemail")),
        (None, "hangup", None),
        (None, "error", None),
    ],
)  # fmt: skip
def test_outcome_becomes_the_decision_for_next(outcome, end_reason, expected):
    assert decide(outcome, end_reason) == expected


# --- the call flow ---------------------------------------------------------------------


class FakeCall:
    def __init__(self, call_uuid, brain=None, end_reason=None):
        self.uuid, self.brain, self.end_reason = call_uuid, brain, end_reason


def test_require_setup_refuses_unknown_expired_and_reused_uuids(caplog):
    store = CallMetadataStore.in_memory(pending_ttl_s=60)
    issued = uuid.uuid4()
    store.add(CallMetadata(issued, did="+441614960000", caller_id="07700900123"), now=0.0)
    clock = [10.0]
    flow = CallFlow(store, require_setup=True, clock=lambda: clock[0])
    caplog.set_level(logging.INFO, logger="agent.pbx.callflow")
    assert flow.accept(FakeCall(issued))
    assert flow.did_for(FakeCall(issued)) == "+441614960000"
    assert flow.caller_id_for(FakeCall(issued)) == "07700900123"
    stranger = uuid.uuid4()
    assert not flow.accept(FakeCall(stranger))  # never issued
    assert not flow.accept(FakeCall(issued))  # a second connection with the same UUID
    late = uuid.uuid4()
    store.add(CallMetadata(late), now=0.0)
    clock[0] = 61.0
    assert not flow.accept(FakeCall(late))  # expired before it connected
    refusals = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(refusals) == 3 and flow.refused == 3
    assert str(stranger) in refusals[0].getMessage()
    assert "already named an earlier call" in refusals[1].getMessage()
    # Without the allowlist the same strangers are let in, with no metadata.
    open_flow = CallFlow(store, clock=lambda: clock[0])
    assert open_flow.accept(FakeCall(stranger))
    assert open_flow.did_for(FakeCall(stranger)) is None


def test_a_uuid_is_one_call_even_without_setup(caplog, monkeypatch):
    # Records, setup metadata and the next step key on the UUID: a second call
    # under an ended call's UUID would overwrite the first call's record.
    monkeypatch.setattr("agent.pbx.callflow.REMEMBERED_UUIDS", 3)
    flow = CallFlow(CallMetadataStore.in_memory(), clock=lambda: 1.0)
    caplog.set_level(logging.INFO, logger="agent.pbx.callflow")
    first, *others = (uuid.uuid4() for _ in range(4))
    assert flow.accept(FakeCall(first))
    flow.ended(FakeCall(first))
    assert not flow.accept(FakeCall(first))
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning == [
        f"call {first}: refused: this UUID already named an earlier call"
        " (each call needs a fresh one, e.g. the dialplan's ${UUID()})"
    ]
    assert flow.refused == 1
    # The memory is bounded: the oldest UUIDs are forgotten.
    assert all(flow.accept(FakeCall(other)) for other in others)
    assert flow.accept(FakeCall(first))
    assert not flow.accept(FakeCall(others[-1]))


def test_unknown_caller_id_is_none():
    store = CallMetadataStore.in_memory()
    call_uuid = uuid.uuid4()
    store.add(CallMetadata(call_uuid, caller_id="unknown"), now=0.0)
    flow = CallFlow(store, clock=lambda: 1.0)
    assert flow.accept(FakeCall(call_uuid))
    assert flow.caller_id_for(FakeCall(call_uuid)) is None


# --- setup -> call -> next, the company picked by the DID ------------------------------


async def test_setup_call_and_next_share_the_store(autojump_clock):
    transfer = ToolCall("t1", "transfer_to_human", '{"target": "office", "reason": "asked"}')
    brains = []

    def brain(flow):
        made, _ = conversation(flow, [LlmReply(("Putting you through.", transfer))], ["a person"])

        def spy(call):
            brains.append(made.factory(call))
            return brains[-1]

        return BrainSetup(spy)

    service, listener = make_service(brain, require_setup=True)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        setup = await agi_step(service, "setup", extension=SPARKS_DID)
        assert setup["VOICE_AGENT_STATUS"] == "ok"
        call_uuid = uuid.UUID(setup["VOICE_AGENT_UUID"])
        script = [Say(speechlike(1.0), label="a person please"), WaitAgent(timeout_s=20)]
        caller = await place_call(listener, call_uuid, script)
        assert caller.agent_hung_up
        assert brains[0].company is SPARKS  # chosen by the dialled number
        assert brains[0].workflow.data.caller_id == "+447700900123"  # from the setup step
        assert heard(caller).startswith(SPARKS.greeting)
        nxt = await agi_step(service, "next", str(call_uuid))
        assert nxt == {
            "VOICE_AGENT_ACTION": "transfer",
            "VOICE_AGENT_TARGET": "PJSIP/2001",
            "VOICE_AGENT_STATUS": "ok",
        }
        service.shutdown()


async def test_a_manipulated_model_cannot_dial_an_arbitrary_number(autojump_clock):
    """The model asks for numbers and dial strings outside the company's allowlist
    (including another company's); every one is refused, nothing reaches next."""
    attempts = [
        '{"target": "+447700900123"}',
        '{"target": "PJSIP/1001"}',  # the other company's office
        '{"target": "Local/999@from-internal"}',
        '{"target": "office,,tT"}',
    ]
    replies = [
        LlmReply(("Sure.", ToolCall(f"t{i}", "transfer_to_human", a)))
        for i, a in enumerate(attempts)
    ]
    holder = {}

    def brain(flow):
        made, holder["llm"] = conversation(flow, replies, ["transfer me"])
        return made

    service, listener = make_service(brain)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        setup = await agi_step(service, "setup", extension=SPARKS_DID)
        call_uuid = uuid.UUID(setup["VOICE_AGENT_UUID"])
        script = [Say(speechlike(1.0)), WaitAgent(timeout_s=20), Silence(2.0)]
        caller = await place_call(listener, call_uuid, script, CallerParams(linger_s=0))
        assert not caller.agent_hung_up  # the model never got to end the call
        runs = holder["llm"].runs
        results = [m.content for run in runs for m in run.messages if m.role == "tool"]
        assert len(results) >= len(attempts)
        assert all("not an allowed target" in r for r in results[: len(attempts)])
        nxt = await agi_step(service, "next", str(call_uuid))
        assert nxt["VOICE_AGENT_ACTION"] == "voicemail" and nxt["VOICE_AGENT_TARGET"] == ""
        assert nxt["VOICE_AGENT_STATUS"] == "no-decision"
        service.shutdown()


def test_the_served_conversation_picks_the_company_by_did(tmp_path):
    """app.build_conversation as serve builds it: the call flow's DID picks the
    company for the brain and for the offline policy alike."""
    from agent.service.wiring import build_conversation

    dids = {}
    env = {"VOICE_AGENT_DB": str(tmp_path / "agent.sqlite3"), "VOICE_AGENT_OFFLINE": "1"}
    conversation = build_conversation(env, did_for=lambda call: dids.get(call.uuid))
    call = FakeCall(uuid.uuid4())
    assert conversation.company_for(call).id == DIRECTORY.default_id
    dids[call.uuid] = SPARKS_DID
    assert conversation.company_for(call).id == SPARKS.id
    dids[call.uuid] = "+44 20 7946 0000"  # nobody's number
    assert conversation.company_for(call).id == DIRECTORY.default_id


async def test_nothing_of_an_ended_call_outlives_it_once_the_service_is_idle(autojump_clock):
    """An idle process allocates nothing, so the cyclic collector would never run:
    a served call must be freed by reference counting alone (no cycles between the
    conversation's turns, observer and playout hooks; tests/conversation/test_cycles.py)."""
    refs = []

    def brain(flow):
        made, _ = conversation(flow, [LlmReply(("Goodbye then.",))], ["nothing thanks"])

        def spy(call):
            made_brain = made.factory(call)
            refs.extend(weakref.ref(x) for x in (call, made_brain, call.playout))
            return made_brain

        return BrainSetup(spy)

    service, listener = make_service(brain)
    gc.collect()
    gc.disable()  # nothing may need the collector
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(service.run)
            script = [Say(speechlike(1.0)), WaitAgent(timeout_s=20), Silence(1.0)]
            await place_call(listener, uuid.uuid4(), script, CallerParams(linger_s=0))
            with trio.fail_after(5):
                await service.registry.wait_idle()
            await trio.sleep(1.0)  # the call's task has let go of it
            assert refs and [ref() for ref in refs] == [None] * len(refs)
            service.shutdown()
    finally:
        gc.enable()
