"""Two real ``voice-agent serve`` hosts on one PostgreSQL, in real time.

Host a (127.0.0.2) and host b (127.0.0.3) share a PostgreSQL started for the
session. A scripted FastAGI peer plays one Asterisk whose ``setup`` goes to host
a: a keeps calls while it has room (15) and sends the rest to b through
``VOICE_AGENT_ADDR``. Host b is SIGKILLed with calls up: host a notices within
``VOICE_AGENT_HOST_DEAD_AFTER_S``, closes b's unfinished calls ``interrupted`` in
the shared records, and every new call goes to a. Skipped without PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import pytest
import trio

from agent.demo.softphone import Caller, CallerParams, HangUp, Silence
from tests.pbx.test_fastagi import agi_over_tcp
from tests.serve_process import serve_process

pytestmark = pytest.mark.realtime

ADDRESSES = {"host-a": "127.0.0.2", "host-b": "127.0.0.3"}
CAPACITY = 15


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def host_env(
    name: str, pg_url: str, capacity: int = CAPACITY
) -> tuple[dict[str, str], dict[str, int]]:
    ip = ADDRESSES[name]
    ports = {"audiosocket": free_port(ip), "agi": free_port(ip)}
    return {
        "VOICE_AGENT_DB": pg_url,
        "VOICE_AGENT_HOST_NAME": name,
        "VOICE_AGENT_HOST": ip,
        "VOICE_AGENT_PORT": str(ports["audiosocket"]),
        "VOICE_AGENT_AGI_HOST": ip,
        "VOICE_AGENT_AGI_PORT": str(ports["agi"]),
        "VOICE_AGENT_MAX_CALLS": str(capacity),
        "VOICE_AGENT_REQUIRE_SETUP": "1",
        "VOICE_AGENT_HEARTBEAT_S": "0.2",
        "VOICE_AGENT_HOST_DEAD_AFTER_S": "1.0",
        "VOICE_AGENT_DRAIN_S": "0.5",
        "VOICE_AGENT_GOODBYE_S": "0.5",
        "VOICE_AGENT_NEXT_GRACE_S": "0.5",
    }, ports


def records(pg_url: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        return conn.execute(
            "SELECT uuid, host, outcome, end_reason, ended_at FROM calls ORDER BY started_at"
        ).fetchall()


def heartbeat_active(pg_url: str, host: str) -> int:
    """The calls ``host`` counted at its last heartbeat (its load lags by a beat)."""
    import psycopg

    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT active FROM hosts WHERE name = %s", (host,)).fetchone()[0]


class Calls:
    """Places calls through host a's setup; remembers where each went and how it ended."""

    def __init__(
        self,
        agi_port: int,
        react: Callable[[Caller], list] | None = None,
        params: CallerParams | None = None,
    ) -> None:
        self.agi_port = agi_port
        self.params = params or CallerParams(linger_s=0)
        self.react = react  # a reacting caller (``Caller(answer=...)``), given the caller
        self.routed: dict[str, str] = {}  # uuid -> VOICE_AGENT_ADDR
        self.callers: dict[str, Caller] = {}  # the calls that are over
        self.dialled: dict[str, Caller] = {}  # every call, from its start
        self.nexts: dict[str, str] = {}

    async def place(self, nursery: trio.Nursery, script_for) -> str:
        setup = await agi_over_tcp(self.agi_port, "setup", host=ADDRESSES["host-a"])
        assert setup["VOICE_AGENT_STATUS"] == "ok", setup
        call_uuid, addr = setup["VOICE_AGENT_UUID"], setup["VOICE_AGENT_ADDR"]
        self.routed[call_uuid] = addr
        nursery.start_soon(self._talk, call_uuid, addr, script_for(addr))
        return call_uuid

    async def _talk(self, call_uuid: str, addr: str, script) -> None:
        host, port = addr.rsplit(":", 1)
        react = self.react
        caller = Caller(
            script,
            params=self.params,
            call_uuid=uuid.UUID(call_uuid),
            answer=None if react is None else lambda: react(caller),
        )
        self.dialled[call_uuid] = caller
        await caller.run(await trio.open_tcp_stream(host, int(port)))
        self.callers[call_uuid] = caller
        with trio.move_on_after(5):  # b is dead for some: the next step goes to a
            reply = await agi_over_tcp(self.agi_port, "next", call_uuid, host=ADDRESSES["host-a"])
            self.nexts[call_uuid] = reply.get("VOICE_AGENT_STATUS", "")


async def test_calls_spread_over_two_hosts_and_survive_one_killed(pg_url):
    env_a, ports_a = host_env("host-a", pg_url)
    env_b, ports_b = host_env("host-b", pg_url)
    addr_a = f"127.0.0.2:{ports_a['audiosocket']}"
    addr_b = f"127.0.0.3:{ports_b['audiosocket']}"
    args = ["serve", "--brain", "echo"]
    async with serve_process(args, env_a) as a, serve_process(args, env_b) as b:
        for served, name in ((a, "host-a"), (b, "host-b")):
            await served.wait_for(rf"host {name} joined the registry", timeout=30)
            await served.wait_for(r"serving \(echo\)", timeout=30)
        calls = Calls(ports_a["agi"])

        def first_wave(addr: str):
            # a's calls end by themselves; b's are still up when b is killed.
            return [Silence(2.0), HangUp()] if addr == addr_a else [Silence(60.0)]

        async with trio.open_nursery() as nursery:
            wave_one = [await calls.place(nursery, first_wave) for _ in range(20)]
            on_b = [u for u in wave_one if calls.routed[u] == addr_b]
            # a keeps calls while it has room, then sends the rest to b.
            assert [calls.routed[u] for u in wave_one] == [addr_a] * CAPACITY + [addr_b] * 5
            for u in on_b:
                await b.wait_for(rf"call {u}: accepted on host host-b")
            with trio.fail_after(5):  # b's calls are up and their starts recorded
                while not set(on_b) <= {r[0] for r in records(pg_url)}:
                    await trio.sleep(0.05)

            killed_at = time.monotonic()
            b.signal(signal.SIGKILL)
            await a.wait_for(r"host host-b is silent", timeout=10)
            failover_s = time.monotonic() - killed_at

            with trio.fail_after(10):  # a's first calls hang up, b's were cut
                while len(calls.callers) < 20 or not all(u in calls.nexts for u in on_b):
                    await trio.sleep(0.05)
            # The next steps of b's cut calls, answered by a from the shared store:
            # released when a took b for dead, so the dialplan goes on to its fallback.
            assert {calls.nexts[u] for u in on_b} == {"no-decision"}
            # a's first calls are over for their callers; a's load counts them until
            # its next heartbeat (routing takes the larger of that and the calls in
            # flight), so the second wave waits for that beat.
            with trio.fail_after(10):
                while heartbeat_active(pg_url, "host-a") > 0:
                    await trio.sleep(0.05)
            # The second wave: every call goes to a, b gets none.
            for _ in range(2):
                wave = [
                    await calls.place(nursery, lambda addr: [Silence(0.5), HangUp()])
                    for _ in range(10)
                ]
                assert {calls.routed[u] for u in wave} == {addr_a}
                with trio.fail_after(15):
                    while not all(u in calls.nexts for u in wave):
                        await trio.sleep(0.05)
        a.signal(signal.SIGTERM)
        assert await a.wait(timeout=15) == 0

    rows = {r[0]: r for r in records(pg_url)}
    assert len(calls.routed) == len(rows) == 40
    per_host = {name: sum(1 for r in rows.values() if r[1] == name) for name in ADDRESSES}
    assert per_host == {"host-a": 35, "host-b": 5}
    for u in on_b:  # b died with them: closed by a, not left open
        assert rows[u][2:4] == ("interrupted", "host-lost") and rows[u][4] is not None
    assert all(
        r[2] != "interrupted" and r[4] is not None for r in rows.values() if r[1] == "host-a"
    )
    assert all(calls.callers[u].caller_hung_up for u in calls.routed if u not in on_b)
    # `report` reads the shared store: every host's calls.
    report = subprocess.run(
        [sys.executable, "-m", "agent", "report", "--since", "1970-01-02"],
        env={**os.environ, "VOICE_AGENT_DB": pg_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    assert "40 calls" in report.stdout and "hosts: host-a 35, host-b 5" in report.stdout
    assert "interrupted 5" in report.stdout
    print(f"\nfailover: host-b silent -> its calls closed in {failover_s:.2f} s; {per_host}")
