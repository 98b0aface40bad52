"""Figures of the hostile cases against a real ``voice-agent serve --brain echo``.

    python bench/hostile.py                       # the server of this checkout
    PYTHONPATH=/tmp/old python bench/hostile.py   # the server of another checkout

The server subprocess imports ``agent`` from PYTHONPATH when set (an exported
older tree with its ``dsp`` extension copied in), so the same peers measure a
before and an after. The peers are those of ``tests/hostile`` (which assert on the
same cases); this prints what they see: the server's RSS during a 10 s flood at
full TCP speed and after it, the good call's gaps during the flood and during 300
identified connections, and the outcomes of 300 caller hang-ups at once.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import uuid
from pathlib import Path

import trio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(REPO))  # the peers; PYTHONPATH still picks the server's tree

from tests.hostile.peers import GoodCall, audio, connect, flood_process, identify, rss_mb  # noqa: E402
from tests.serve_process import free_port, serve_process  # noqa: E402


@contextlib.asynccontextmanager
async def serving(port: int, **env: str):
    args = ["serve", "--brain", "echo", "--port", str(port)]
    async with serve_process(args, {"VOICE_AGENT_AGI_PORT": str(free_port()), **env}) as served:
        with contextlib.suppress(PermissionError):  # ahead of the box's other work
            os.setpriority(os.PRIO_PROCESS, served.process.pid, -10)
        yield served


def gaps(good: GoodCall) -> str:
    return f"good call max gap {good.max_gap_ms:.0f} ms, {good.late_share(40):.1%} of frames late"


async def flood_case() -> None:
    port = free_port()
    async with serving(port) as served:
        await served.wait_for(r"serving \(echo\)")
        pid = served.process.pid
        await trio.sleep(0.5)
        base = peak = rss_mb(pid)
        good = GoodCall(port)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(good.run, 11.0)
            await trio.sleep(0.3)
            attacker = await flood_process(port, 10.0)
            while attacker.poll() is None:
                peak = max(peak, rss_mb(pid))
                await trio.sleep(0.1)
        await trio.sleep(1.5)
        print(
            f"flood 10 s: RSS {base:.0f} MB, peak {peak:.0f} MB, after {rss_mb(pid):.0f} MB;"
            f" {gaps(good)}",
            flush=True,
        )


async def connections_case() -> None:
    port = free_port()
    async with serving(port, VOICE_AGENT_MAX_CALLS="25") as served:
        await served.wait_for(r"serving \(echo\)")
        good = GoodCall(port)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(good.run, 4.0)
            await trio.sleep(0.3)
            hello = [identify(uuid.uuid4()) for _ in range(300)]
            socks = await trio.to_thread.run_sync(lambda: [connect(port, h) for h in hello])
            await trio.sleep(3.0)
            for sock in socks:
                sock.close()
        await trio.sleep(1.0)
        started = sum("call started" in line for line in served.lines)
        refused = sum("connections open" in line for line in served.lines)
        print(f"300 connections: {started} calls served, {refused} refused; {gaps(good)}")


async def hang_up_case() -> None:
    port = free_port()
    async with serving(port, VOICE_AGENT_MAX_CALLS="0") as served:
        await served.wait_for(r"serving \(echo\)")
        hello = [identify(uuid.uuid4()) + audio(bytes(320)) for _ in range(300)]
        socks = await trio.to_thread.run_sync(lambda: [connect(port, h) for h in hello])
        await served.wait_for(r"call started", count=300, timeout=30)
        await trio.sleep(0.5)
        for sock in socks:
            sock.close()
        await served.wait_for(r"call ended: outcome=", count=300, timeout=30)
        await trio.sleep(0.5)
        with sqlite3.connect(Path(served.workdir) / "voice-agent.sqlite3") as db:
            outcomes = [row[0] for row in db.execute("SELECT outcome FROM calls")]
        errors = sum("ERROR" in line for line in served.lines)
        print(f"300 hang-ups: {outcomes.count('error')} outcome=error, {errors} ERROR lines")


async def main() -> None:
    with contextlib.suppress(PermissionError):  # as the tests do
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    await flood_case()
    await connections_case()
    await hang_up_case()


if __name__ == "__main__":
    trio.run(main)
