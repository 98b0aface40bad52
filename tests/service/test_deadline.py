"""SIGTERM ends the process within drain + goodbye + a margin, even when the event
loop can no longer end a call (``agent.service.deadline``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import trio

from agent.service.deadline import HardDeadline
from tests.hostile.peers import audio, connect, identify
from tests.paths import REPO
from tests.serve_process import free_port

pytestmark = pytest.mark.realtime


def test_an_armed_deadline_exits_with_1_after_its_budget():
    exited = threading.Event()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        exited.set()

    deadline = HardDeadline(0.2, exit=fake_exit)
    time.sleep(0.3)
    assert not exited.is_set()  # not armed: it never fires
    armed_at = time.monotonic()
    deadline.arm()
    deadline.arm()
    assert exited.wait(2)
    assert codes == [1] and 0.19 <= time.monotonic() - armed_at < 1.0


def test_a_cancelled_deadline_never_fires():
    codes: list[int] = []
    deadline = HardDeadline(0.1, exit=codes.append)
    deadline.arm()
    deadline.cancel()
    time.sleep(0.3)
    assert codes == []


async def test_sigterm_ends_a_wedged_service_at_the_budget():
    port = free_port()
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.service.wedged_service", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=str(REPO),
    )
    lines: list[str] = []

    async def read() -> None:
        buffer = b""
        async for chunk in process.stderr:
            buffer += chunk
            *done, buffer = buffer.split(b"\n")
            lines.extend(line.decode() for line in done)

    async def wait_for(text: str) -> None:
        with trio.fail_after(10):
            while not any(text in line for line in lines):
                await trio.sleep(0.02)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await wait_for("serving (wedged)")
            budget = float(next(line for line in lines if line.startswith("budget")).split()[1])
            sock = connect(port, identify(uuid.uuid4()) + audio(bytes(320)))
            await wait_for(": started")
            process.send_signal(signal.SIGTERM)
            signalled = trio.current_time()
            with trio.fail_after(budget + 5):
                code = await process.wait()
            took = trio.current_time() - signalled
            sock.close()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 1
    assert budget - 0.1 <= took < budget + 1.5
    assert any("shutdown not over after" in line for line in lines)
