"""The serving process over loopback TCP in real time: in-process, and as a real
``voice-agent serve`` subprocess that gets SIGTERM."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest
import trio

from agent.base.config import ServerSettings
from agent.demo.softphone import Silence
from agent.observe.records import RecordStore
from agent.pbx.fastagi import AgiSettings
from agent.service.serve import Service, ServiceSettings
from tests.pbx.test_fastagi import agi_over_tcp
from tests.serve_process import call, free_port, serve_process

pytestmark = pytest.mark.realtime


async def test_call_limit_setup_call_drain_and_next_over_tcp():
    service = Service(
        ServerSettings(port=0, brain="echo"),
        ServiceSettings(drain_s=0.3, goodbye_s=1.0, require_setup=True),
        agi=AgiSettings(port=0, max_calls=1),
        handle_signals=False,
    )
    async with trio.open_nursery() as nursery:
        addresses = await nursery.start(service.run)
        (_, audio_port), (_, agi_port) = addresses.audiosocket[0], addresses.fastagi[0]
        setup = await agi_over_tcp(agi_port, "setup")
        assert setup["VOICE_AGENT_STATUS"] == "ok"
        # The setup not yet connected holds the only slot.
        assert await agi_over_tcp(agi_port, "setup") == {"VOICE_AGENT_STATUS": "busy"}
        call_uuid = uuid.UUID(setup["VOICE_AGENT_UUID"])
        result = {}

        async def talk():
            result["caller"] = await call(audio_port, [Silence(20)], call_uuid, linger_s=0)

        nursery.start_soon(talk)
        with trio.fail_after(5):
            while not service.registry.active:
                await trio.sleep(0.02)
        assert await agi_over_tcp(agi_port, "setup") == {"VOICE_AGENT_STATUS": "busy"}
        service.shutdown("test")
        with trio.fail_after(5):
            while "caller" not in result:
                await trio.sleep(0.02)
        assert result["caller"].agent_hung_up
        # FastAGI is still up for the next step of the call the shutdown ended.
        decision = await agi_over_tcp(agi_port, "next", str(call_uuid))
        assert decision == {
            "VOICE_AGENT_ACTION": "voicemail",
            "VOICE_AGENT_TARGET": "",
            "VOICE_AGENT_STATUS": "ok",
        }
    assert service.drain_result == "polite"


async def test_serve_subprocess_drains_on_sigterm():
    audio_port, agi_port = free_port(), free_port()
    env = {
        "VOICE_AGENT_AGI_PORT": str(agi_port),
        "VOICE_AGENT_DRAIN_S": "1.5",
        "VOICE_AGENT_GOODBYE_S": "1",
        "VOICE_AGENT_REQUIRE_SETUP": "1",
    }
    args = ["serve", "--brain", "echo", "--port", str(audio_port)]
    async with serve_process(args, env) as served:
        await served.wait_for(r"serving \(echo\)")
        setup = await agi_over_tcp(agi_port, "setup")
        call_uuid = uuid.UUID(setup["VOICE_AGENT_UUID"])
        stranger = await call(audio_port, [Silence(5)], uuid.uuid4(), linger_s=0)
        assert stranger.connection_closed and not stranger.received  # refused at once
        await served.wait_for(r"refused: .*not issued by the AGI setup")
        result = {}

        async def talk():
            result["caller"] = await call(audio_port, [Silence(20)], call_uuid, linger_s=0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(talk)
            await served.wait_for(rf"call {call_uuid}: started")
            served.signal(signal.SIGTERM)
            signalled_at = trio.current_time()
            await served.wait_for(r"listeners closed; draining 1 calls")
            with pytest.raises(OSError):  # the listener is closed
                await trio.open_tcp_stream("127.0.0.1", audio_port)
            assert await agi_over_tcp(agi_port, "setup") == {"VOICE_AGENT_STATUS": "busy"}
        caller = result["caller"]
        assert caller.agent_hung_up  # a 0x00, after the drain time (the last audio
        assert caller.received[-1].at >= signalled_at + 1.4  # frame is just before it)
        nxt = await agi_over_tcp(agi_port, "next", str(call_uuid))
        assert nxt["VOICE_AGENT_ACTION"] == "voicemail"
        assert await served.wait() == 0
        assert any("shutdown complete (polite)" in line for line in served.lines)
        # The call's record carries the setup step's metadata and why it ended.
        with RecordStore.open_sqlite(Path(served.workdir) / "voice-agent.sqlite3") as records:
            record = records.get_call(str(call_uuid))
        assert (record.did, record.end_reason) == ("15551230000", "shutdown")
        warnings = [line for line in served.lines if " WARNING " in line and "refused" in line]
        assert len(warnings) == 1
