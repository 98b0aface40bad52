"""The observer's pure parts stay pure, and a bug in an observer hook never
breaks the call it watches."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from agent.demo.signals import speechlike
from tests.fakes.inmem import LlmReply
from tests.observe.rig import observability, observed_call
from tests.test_pure_imports import IO_LIBRARIES

PURE = [
    "agent.observe.timeline",
    "agent.observe.report",
    "agent.observe.records_schema",
    "agent.observe.records_work",
]


def test_pure_parts_import_no_io_library():
    code = (
        f"import importlib, json, sys; [importlib.import_module(m) for m in {PURE!r}]; "
        f"print(json.dumps([m for m in {IO_LIBRARIES!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []


async def test_a_failing_observer_hook_is_logged_and_the_call_goes_on(
    tmp_path, autojump_clock, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise RuntimeError("observer bug")

    monkeypatch.setattr("agent.observe.call_observer.personal_values", broken)
    obs = observability(tmp_path)
    with caplog.at_level(logging.ERROR, logger="agent.observe.call_observer"):
        async with observed_call(obs, ["hello there"], [LlmReply.say("Hello to you.")]) as rig:
            await rig.greeted()
            await rig.phone.say(speechlike(1.0))
            await rig.until(lambda: len(rig.llm.runs) == 1 and rig.brain._turn is None)
            await rig.phone.hang_up()
            await rig.ended()
    await obs.flush()
    assert "Hello to you." in rig.phone.heard_text()
    assert [t.agent_text for t in obs.store.turns(rig.uuid)][1] == "Hello to you."
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failures and all(m.startswith("observer: ") for m in failures)
    assert obs.store.get_call(rig.uuid).end_reason == "hangup"
    obs.store.close()


@pytest.mark.parametrize("hook", ["vad", "stt_event", "transcript", "tool_call", "turn_ended"])
def test_every_hot_path_hook_is_guarded(hook):
    from agent.observe.call_observer import CallObserver

    assert getattr(CallObserver, hook).__wrapped__  # wrapped by _guarded


async def test_a_brain_factory_that_fails_leaves_an_error_record(tmp_path, autojump_clock):
    import trio
    import trio.testing

    from agent.base.config import ServerSettings
    from agent.demo.softphone import Caller, HangUp, Silence
    from agent.media.server import handle_connection

    obs = observability(tmp_path)

    def broken_factory(call):
        raise RuntimeError("no company for this number")

    client, server = trio.testing.memory_stream_pair()
    caller = Caller([Silence(0.2), HangUp()])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(handle_connection, server, ServerSettings(), obs.wrap(broken_factory))
        await caller.run(client)
    await obs.flush()
    record = obs.store.get_call(str(caller.uuid))
    assert (record.outcome, record.end_reason) == ("error", "crashed")
    assert record.ended_at is not None
    obs.store.close()
