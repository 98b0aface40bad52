"""An observed conversation in virtual time: the real Call over an in-memory stream,
the scripted phone of test_conversation, the in-memory fakes, and an
``Observability`` with a records store in ``tmp_path``. Shared by the observe
tests and the SIGKILL child process (not collected: no ``test_`` prefix)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.media.recording import RecordingSettings, RecordingWriter
from agent.media.server import handle_connection
from agent.observe.cost import Prices
from agent.observe.process import Observability, ObservabilitySettings
from agent.observe.records import RecordSettings, RecordStore
from agent.pbx.callmeta import CallMetadata
from tests.conversation.call_rig import QUOTE, TUESDAY_10, FakeTools, Phone, Rig, scripted_factory
from tests.fakes.inmem import ScriptedLlm, ScriptedStt, ToneTts

DID = "+441632960001"
CALLER_ID = "07700900999"
PRICES = Prices(
    stt_per_minute=0.6,  # 1 cent a second
    llm_input_per_token=1e-6,
    llm_output_per_token=2e-6,
    tts_per_character=1e-4,
)


@attrs.define
class ObservedRig(Rig):
    """The conversation rig, plus the ``Observability`` its calls are wrapped in."""

    obs: Observability

    @property
    def call(self):
        return self.calls[0]

    @property
    def uuid(self) -> str:
        return str(self.calls[0].uuid)

    async def ended(self, timeout: float = 60.0) -> None:
        with trio.fail_after(timeout):
            await self.phone.closed.wait()
        await self.until(lambda: self.call.ended_at is not None and self.call.observer._ended)


def observability(tmp_path: Path, *, recording: bool = False) -> Observability:
    settings = ObservabilitySettings(
        records=RecordSettings(path=str(tmp_path / "records.db"), retention_days=30),
        recording=RecordingSettings(enabled=recording, directory=str(tmp_path / "recordings")),
        prices=PRICES,
        metrics_port=0,
    )
    store = RecordStore.open_sqlite(settings.records.path)
    writer = RecordingWriter() if recording else None
    return Observability(
        settings,
        store=store,
        writer=writer,
        clock=lambda: TUESDAY_10,
        provider_names={"stt": "scripted-stt", "llm": "scripted-llm", "tts": "tone"},
    )


@asynccontextmanager
async def observed_call(
    obs: Observability, stt_script, replies, *, tools=None, params=None, stt_kwargs=None
):
    client, server = trio.testing.memory_stream_pair()
    stt = ScriptedStt(stt_script, **(stt_kwargs or {}))
    llm = ScriptedLlm(replies)
    tts = ToneTts()
    tools = tools or FakeTools({"get_quote": QUOTE})
    factory = scripted_factory(stt, llm, tts, tools, params)
    observed = obs.wrap(
        factory, metadata_for=lambda call: CallMetadata(call.uuid, did=DID, caller_id=CALLER_ID)
    )
    calls: list = []
    phone = Phone(client)

    def make(call):
        calls.append(call)
        return observed(call)

    async def serve():
        await handle_connection(server, ServerSettings(brain="conversation"), make)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        nursery.start_soon(phone.run)
        yield ObservedRig(phone, stt, llm, tts, tools, calls, obs)
        with trio.move_on_after(30):
            await phone.closed.wait()
        await phone.hang_up()
