"""Hostile peers against the real ``voice-agent serve --brain echo`` over loopback TCP.

Each case asserts how the server answers the abuse and that a good call served at
the same time goes on unaffected: no more gaps over 40 ms in the agent's audio than
a busy machine makes anyway (LATE_SHARE). The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from tests.hostile.peers import (
    GoodCall,
    audio,
    closed_by_server,
    closed_now,
    connect,
    flood_process,
    identify,
    rss_mb,
)
from tests.serve_process import free_port, serve_process

pytestmark = pytest.mark.realtime

MAX_GAP_MS = 40.0
FRAME = audio(bytes(320))  # 20 ms of silence
# A gap over 40 ms is heard. On a quiet machine the good call has none; on one
# busy with other work (a load of 6-9 on 2 cores) a call with no attack at all
# has up to 2.6 % of its frames after such a gap, so "unaffected" is at most 5 %.
# 300 calls in one process (no connection limit) left 14 % of them late.
LATE_SHARE = 0.05
PRIORITY = -10  # nice value of the server and the test (see ahead_of_the_box)


def unaffected(good: GoodCall) -> bool:
    late = good.late_share(MAX_GAP_MS)
    print(f"  good call: {late:.1%} of frames after a gap over {MAX_GAP_MS:.0f} ms")
    return late <= LATE_SHARE


async def connect_many(port: int, n: int) -> list[socket.socket]:
    """``n`` identified connections, made in a thread: blocking connects in the
    test's event loop would delay the good call's reader, not the server."""
    hello = [identify(uuid.uuid4()) for _ in range(n)]
    return await trio.to_thread.run_sync(lambda: [connect(port, data) for data in hello])


def records(workdir: str) -> list[tuple[str, str | None]]:
    with sqlite3.connect(Path(workdir) / "voice-agent.sqlite3") as db:
        return db.execute("SELECT uuid, outcome FROM calls").fetchall()


async def wait_until(predicate, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.05)


@pytest.fixture(autouse=True)
def ahead_of_the_box():
    """The server and the good call run ahead of whatever else the machine runs
    (other test suites): the gaps measured are then the attack's doing, which shares
    the server's one event loop with the good call. Without the privilege to raise
    priorities the test runs as it is."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, PRIORITY)
    yield
    os.setpriority(os.PRIO_PROCESS, 0, before)


@asynccontextmanager
async def serving(port: int, *, ahead: bool = True, **env: str):
    agi = env.pop("agi_port", None) or str(free_port())
    args = ["serve", "--brain", "echo", "--port", str(port)]
    async with serve_process(args, {"VOICE_AGENT_AGI_PORT": agi, **env}) as served:
        with contextlib.suppress(PermissionError):
            if ahead:
                os.setpriority(os.PRIO_PROCESS, served.process.pid, PRIORITY)
        yield served


async def test_a_flood_is_dropped_and_memory_stays_flat():
    port = free_port()
    async with serving(port) as served:
        await served.wait_for(r"serving \(echo\)")
        pid = served.process.pid
        await trio.sleep(0.5)
        baseline = rss_mb(pid)
        good = GoodCall(port)
        peak = baseline
        async with trio.open_nursery() as nursery:
            nursery.start_soon(good.run, 11.0)
            await trio.sleep(0.3)
            attacker = await flood_process(port, 10.0)
            while attacker.poll() is None:
                peak = max(peak, rss_mb(pid))
                await trio.sleep(0.1)
        await served.wait_for(r"dropped \d+ frames .* faster than real time")
        await trio.sleep(1.0)
        after = rss_mb(pid)
        print(
            f"flood RSS: baseline {baseline:.1f} MB, peak {peak:.1f} MB, after {after:.1f} MB,"
            f" good call max gap {good.max_gap_ms:.0f} ms"
        )
        assert (
            len([line for line in served.lines if "faster than real time; dropping" in line]) == 1
        )
        assert peak - baseline < 50
        assert after - baseline < 5
        assert not good.closed_by_agent and unaffected(good)


async def test_300_connections_beyond_the_limit_are_refused():
    port = free_port()
    async with serving(port, VOICE_AGENT_MAX_CALLS="10") as served:
        await served.wait_for(r"serving \(echo\)")
        good = GoodCall(port)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(good.run, 4.0)
            await trio.sleep(0.3)
            socks = await connect_many(port, 300)
            # 20 connections (10 calls + 10) are served, the good call among them.
            await served.wait_for(r"connection from .* refused: 20 connections open", count=281)
            await trio.sleep(1.0)
            for sock in socks:
                sock.close()
        refused = [line for line in served.lines if "connections open" in line]
        started = [line for line in served.lines if "call started" in line]
        print(
            f"300 connections: {len(started)} served, {len(refused)} refused,"
            f" good call max gap {good.max_gap_ms:.0f} ms"
        )
        assert len(refused) == 281
        assert not good.closed_by_agent and unaffected(good)


async def test_300_caller_hang_ups_at_once_are_hang_ups_not_errors():
    port = free_port()
    # Not ahead of the box: a loop that is preempted mid-batch is where a frame goes
    # out after the caller's EOF (before the fix 0-186 of 300 calls were errors, in
    # 3 runs of 5); two rounds, so the race is all but certain to be met.
    async with serving(port, ahead=False, VOICE_AGENT_MAX_CALLS="0") as served:
        await served.wait_for(r"serving \(echo\)")
        for rounds in (1, 2):
            hello = [identify(uuid.uuid4()) + FRAME for _ in range(300)]
            socks = await trio.to_thread.run_sync(lambda h=hello: [connect(port, x) for x in h])
            await served.wait_for(r"call started", count=300 * rounds, timeout=30)
            await trio.sleep(0.5)
            for sock in socks:
                sock.close()
            await served.wait_for(r"call ended: outcome=", count=300 * rounds, timeout=30)
        await trio.sleep(0.5)  # the records writer
        errors = [line for line in served.lines if "ERROR" in line or "outcome=error" in line]
        outcomes = [outcome for _, outcome in records(served.workdir)]
        print(
            f"600 hang-ups: {outcomes.count('error')} recorded as errors, {len(errors)} error lines"
        )
        assert errors == []
        assert len(outcomes) == 600 and "error" not in outcomes


async def test_identified_peers_that_send_nothing_are_hung_up():
    port = free_port()
    async with serving(port, VOICE_AGENT_IDLE_TIMEOUT_S="1") as served:
        await served.wait_for(r"serving \(echo\)")
        good = GoodCall(port)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(good.run, 3.5)
            await trio.sleep(0.3)
            socks = await connect_many(port, 20)
            started = trio.current_time()
            gone = await trio.to_thread.run_sync(
                lambda: [closed_by_server(sock, 3.0) for sock in socks]
            )
            took = trio.current_time() - started
            for sock in socks:
                sock.close()
        print(
            f"idle peers: {sum(gone)} of 20 hung up after {took:.1f} s,"
            f" good call max gap {good.max_gap_ms:.0f} ms"
        )
        assert all(gone) and 0.9 <= took < 3.0
        assert len([line for line in served.lines if "nothing from the peer" in line]) == 20
        assert not good.closed_by_agent and unaffected(good)


async def test_fastagi_abuse_is_cut_short():
    port, agi_port = free_port(), free_port()
    env = {
        "agi_port": str(agi_port),
        "VOICE_AGENT_AGI_TIMEOUT_S": "1",
        "VOICE_AGENT_AGI_SESSION_S": "2",
        "VOICE_AGENT_AGI_MAX_SESSIONS": "50",
    }
    async with serving(port, **env) as served:
        await served.wait_for(r"serving \(echo\)")
        good = GoodCall(port)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(good.run, 4.0)
            await trio.sleep(0.3)

            def abuse() -> tuple[bool, float, int]:
                # An endless environment: 8 KB lines and never the blank one.
                big = connect(agi_port)
                line = b"agi_x: " + b"a" * 8000 + b"\n"
                try:
                    for n in range(2000):
                        big.sendall(line.replace(b"agi_x", f"agi_x{n}".encode()))
                except OSError:
                    pass
                cut = closed_by_server(big, 3.0)
                big.close()
                # A byte every 0.5 s: each read is in time, the session is not.
                slow, started = connect(agi_port), time.monotonic()
                while time.monotonic() - started < 5.0 and not closed_now(slow):
                    with contextlib.suppress(OSError):
                        slow.sendall(b"a")
                    time.sleep(0.5)
                slow_cut = time.monotonic() - started
                slow.close()
                # More sessions than allowed at once.
                many = [connect(agi_port, b"agi_network: yes\n") for _ in range(60)]
                time.sleep(0.3)
                refused = sum(map(closed_now, many))
                for sock in many:
                    sock.close()
                return cut, slow_cut, refused

            cut, slow_cut, refused = await trio.to_thread.run_sync(abuse)
        print(
            f"AGI: endless environment cut {cut}, a byte per 0.5 s cut after {slow_cut:.1f} s,"
            f" {refused} of 60 sessions refused, good call max gap {good.max_gap_ms:.0f} ms"
        )
        assert cut and 1.9 <= slow_cut < 3.0 and refused == 10
        assert any("environment longer than 300 lines" in line for line in served.lines)
        assert any("not over after 2.0 s" in line for line in served.lines)
        assert len([line for line in served.lines if "sessions open" in line]) == 10
        assert not good.closed_by_agent and unaffected(good)


async def test_a_duplicate_uuid_is_refused_while_the_first_call_lives():
    port = free_port()
    async with serving(port) as served:
        await served.wait_for(r"serving \(echo\)")
        good = GoodCall(port)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(good.run, 3.0)
            await served.wait_for(rf"call {good.uuid}: started")
            twin = await trio.to_thread.run_sync(connect, port, identify(good.uuid) + FRAME)
            closed = await trio.to_thread.run_sync(closed_by_server, twin, 2.0)
            twin.close()
            assert closed
        await served.wait_for(r"call ended: outcome=")
        await trio.sleep(0.3)
        refused = [line for line in served.lines if "already in progress" in line]
        errors = [line for line in served.lines if "ERROR" in line]
        print(f"duplicate UUID: {len(refused)} refusal lines, {len(errors)} error lines")
        assert len(refused) == 1 and str(good.uuid) in refused[0]
        assert [row[0] for row in records(served.workdir)] == [str(good.uuid)]
        assert not good.closed_by_agent and unaffected(good)
        assert not any("ERROR" in line for line in served.lines)


async def test_a_uuid_reused_after_its_call_ended_is_refused():
    port = free_port()
    async with serving(port) as served:
        await served.wait_for(r"serving \(echo\)")
        first = GoodCall(port)
        await first.run(1.0)
        await served.wait_for(r"call ended: outcome=")
        twin = await trio.to_thread.run_sync(connect, port, identify(first.uuid) + FRAME)
        closed = await trio.to_thread.run_sync(closed_by_server, twin, 2.0)
        twin.close()
        assert closed
        await served.wait_for("already named an earlier call")
        assert records(served.workdir) == [(str(first.uuid), "ended")]
        assert not any("ERROR" in line for line in served.lines)


async def test_a_call_killed_with_the_process_is_closed_as_interrupted_at_the_next_start():
    port = free_port()
    async with serving(port) as served:
        await served.wait_for(r"serving \(echo\)")
        sock = connect(port, identify(uuid.uuid4()) + audio(bytes(320)))
        await served.wait_for(r"call started")
        await trio.sleep(0.3)  # the records writer
        served.signal(signal.SIGKILL)
        await served.wait()
        sock.close()
        assert [outcome for _, outcome in records(served.workdir)] == [None]
        from tests.serve_process import _serve_in

        async with _serve_in(
            ["serve", "--brain", "echo", "--port", str(port)],
            {**_env(), "VOICE_AGENT_AGI_PORT": str(free_port())},
            served.workdir,
        ) as again:
            await again.wait_for(r"serving \(echo\)")
            print(f"SIGKILL: after the restart {records(served.workdir)[0][1]!r}")
            assert [outcome for _, outcome in records(served.workdir)] == ["interrupted"]
            await again.wait_for(r"1 calls left unfinished by the last run closed as interrupted")


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "VOICE_AGENT_METRICS_PORT": "0", "VOICE_AGENT_LOG_FORMAT": "text"}
