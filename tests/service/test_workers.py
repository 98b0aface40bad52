"""``voice-agent serve --workers 2`` as a real subprocess, in real time: calls reach
both workers, a killed worker is replaced while the other's calls go on, metrics
add up over the workers, setup/next cross processes, and SIGTERM drains."""

from __future__ import annotations

import os
import signal
import socket
import sys
import uuid

import httpx
import pytest
import trio

from agent.base.config import ServerSettings
from agent.business.database import open_database
from agent.demo.softphone import HangUp, Silence
from agent.pbx.callmeta_store import CallMetadataStore
from agent.pbx.fastagi import AgiSettings
from agent.service.serve import ServiceSettings
from agent.service.workers import GIVE_UP_AFTER, Supervisor, reuseport_listener, reuseport_socket
from tests.pbx.test_fastagi import FakeAsterisk, agi_over_tcp, env_block
from tests.serve_process import call, free_port, serve_process

pytestmark = pytest.mark.realtime

ACCEPTED = r"call {}: accepted on worker (\d) \(pid (\d+)\)"


def env(**extra: str) -> dict[str, str]:
    return {"VOICE_AGENT_DRAIN_S": "1.5", "VOICE_AGENT_GOODBYE_S": "1", **extra}


async def started_workers(served, count: int = 2) -> dict[int, int]:
    """index -> pid of the workers serving now."""
    await served.wait_for(r"serving \(echo\) on worker", count=count)
    found = await served.wait_for(r"worker (\d) started \(pid (\d+)\)", count=count)
    return {int(m[1]): int(m[2]) for m in found}


async def worker_of(served, call_uuid) -> int:
    (match,) = await served.wait_for(ACCEPTED.format(call_uuid))
    return int(match[2])


async def active_calls(metrics_port: int) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    (line,) = [x for x in text.splitlines() if x.startswith("voice_agent_active_calls ")]
    return float(line.split()[1])


async def test_reuseport_sockets_share_a_port():
    reserved = reuseport_socket("127.0.0.1", 0, listen=False)
    port = reserved.getsockname()[1]
    first, second = reuseport_listener("127.0.0.1", port), reuseport_listener("127.0.0.1", port)
    try:
        assert first.socket.getsockname()[1] == second.socket.getsockname()[1] == port
        with pytest.raises(OSError), socket.socket() as plain:  # others cannot take it
            plain.bind(("127.0.0.1", port))
    finally:
        reserved.close()
        first.socket.close()
        second.socket.close()


async def test_calls_reach_both_workers_and_a_killed_worker_is_replaced():
    port, agi_port, metrics_port = free_port(), free_port(), free_port()
    args = ["serve", "--workers", "2", "--brain", "echo", "--port", str(port)]
    extra = {
        "VOICE_AGENT_AGI_PORT": str(agi_port),
        "VOICE_AGENT_METRICS_PORT": str(metrics_port),
        "VOICE_AGENT_NEXT_GRACE_S": "0.2",  # nobody asks for next here
    }
    async with serve_process(args, env(**extra)) as served:
        pids = await started_workers(served)
        callers: dict[uuid.UUID, object] = {}
        on: dict[uuid.UUID, int] = {}

        async def long_call(call_uuid):
            callers[call_uuid] = await call(port, [Silence(30)], call_uuid, linger_s=0)

        async with trio.open_nursery() as nursery:
            # The kernel spreads connections over the workers: call until both have some.
            while len(set(on.values())) < 2:
                assert len(on) < 40, "every call landed on one worker"
                for _ in range(4):
                    setup = await agi_over_tcp(agi_port, "setup")  # in the parent
                    call_uuid = uuid.UUID(setup["VOICE_AGENT_UUID"])
                    nursery.start_soon(long_call, call_uuid)
                    on[call_uuid] = await worker_of(served, call_uuid)
            assert set(on.values()) == set(pids.values())
            # Every call took its setup metadata from the parent's FastAGI step.
            assert all("did=15551230000" in line for line in served.lines if "accepted" in line)
            assert await active_calls(metrics_port) == len(on)

            victim, survivor = pids[1], pids[2]
            os.kill(victim, signal.SIGKILL)
            await served.wait_for(rf"worker 1 \(pid {victim}\) died: killed by SIGKILL")
            replaced = await served.wait_for(r"worker 1 started \(pid (\d+)\)", count=2)
            assert int(replaced[1][1]) not in (victim, survivor)
            await served.wait_for(r"serving \(echo\) on worker 1", count=2)
            with trio.fail_after(5):  # the victim's calls are gone, the others go on
                while len(callers) < sum(1 for w in on.values() if w == victim):
                    await trio.sleep(0.05)
            survivors = [u for u, w in on.items() if w == survivor]
            assert all(u not in callers for u in survivors)
            assert await active_calls(metrics_port) == len(survivors)
            # New calls still work (on either worker, the replacement included).
            fresh = uuid.uuid4()
            short = await call(port, [Silence(0.3), HangUp()], fresh, linger_s=0)
            assert short.caller_hung_up and short.received
            served.signal(signal.SIGTERM)
        assert all(callers[u].agent_hung_up for u in survivors)  # drained, then 0x00
        assert await served.wait() == 0


async def test_sigterm_drains_every_worker_and_next_works_across_processes():
    port, agi_port = free_port(), free_port()
    args = ["serve", "--workers", "2", "--brain", "echo", "--port", str(port)]
    async with serve_process(args, env(VOICE_AGENT_AGI_PORT=str(agi_port))) as served:
        await started_workers(served)
        uuids = []
        callers = []

        async def long_call(call_uuid):
            callers.append(await call(port, [Silence(30)], call_uuid, linger_s=0))

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                setup = await agi_over_tcp(agi_port, "setup")
                uuids.append(uuid.UUID(setup["VOICE_AGENT_UUID"]))
                nursery.start_soon(long_call, uuids[-1])
            for call_uuid in uuids:
                await worker_of(served, call_uuid)
            served.signal(signal.SIGTERM)
            signalled_at = trio.current_time()
            await served.wait_for(r"listeners closed", count=2)
            assert await agi_over_tcp(agi_port, "setup") == {"VOICE_AGENT_STATUS": "busy"}
        # Hung up with a 0x00 once the 1.5 s drain was over (the last audio frame
        # may leave up to a frame before the 0x00).
        assert all(c.agent_hung_up and c.received[-1].at >= signalled_at + 1.4 for c in callers)
        for call_uuid in uuids:  # the parent's FastAGI answers for every worker's call
            nxt = await agi_over_tcp(agi_port, "next", str(call_uuid))
            assert nxt["VOICE_AGENT_ACTION"] == "voicemail", nxt
        assert await served.wait() == 0
        assert any("all workers stopped" in line for line in served.lines)


async def slow_next(port: int, call_uuid: uuid.UUID, answer_after_s: float) -> dict[str, str]:
    """A ``next`` session whose Asterisk answers each command only after a while."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        peer = FakeAsterisk(stream)
        await stream.send_all(env_block("next", str(call_uuid)))
        with trio.fail_after(10):
            while await peer.read_command() is not None:
                await trio.sleep(answer_after_s)
                await stream.send_all(b"200 result=1\n")
    return peer.variables()


async def test_stopping_waits_for_the_last_next_session_to_end():
    """The last call's next step is collected at the start of its session; the parent
    must not stop while Asterisk is still reading the replies (a reset there leaves
    the call with no next step)."""
    port, agi_port = free_port(), free_port()
    args = ["serve", "--workers", "2", "--brain", "echo", "--port", str(port)]
    async with serve_process(args, env(VOICE_AGENT_AGI_PORT=str(agi_port))) as served:
        await started_workers(served)
        setup = await agi_over_tcp(agi_port, "setup")
        call_uuid = uuid.UUID(setup["VOICE_AGENT_UUID"])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call, port, [Silence(30)], call_uuid)
            await worker_of(served, call_uuid)
            served.signal(signal.SIGTERM)
        variables = await slow_next(agi_port, call_uuid, answer_after_s=0.3)
        # Every variable of the step, the last one included: the session ran to its end.
        assert variables == {
            "VOICE_AGENT_ACTION": "voicemail",
            "VOICE_AGENT_TARGET": "",
            "VOICE_AGENT_STATUS": "ok",
        }, variables
        assert await served.wait() == 0


class CrashingSupervisor(Supervisor):
    def command(self, worker):
        return [sys.executable, "-c", "raise SystemExit(3)"]


async def test_workers_that_keep_dying_at_start_stop_the_service(tmp_path, caplog):
    store = CallMetadataStore(open_database(tmp_path / "calls.db"))
    supervisor = CrashingSupervisor(
        ServerSettings(port=free_port()),
        ServiceSettings(next_grace_s=0),
        AgiSettings(port=0),
        workers=1,
        shared_dir=tmp_path,
        store=store,
        handle_signals=False,
    )
    supervisor.first_restart_delay_s = 0.01
    with trio.fail_after(20):
        await supervisor.run()
    store.db.close()
    assert supervisor.gave_up
    assert supervisor.workers[0].restarts == GIVE_UP_AFTER - 1
    died = [r for r in caplog.records if "died: exit code 3" in r.getMessage()]
    assert len(died) == GIVE_UP_AFTER
