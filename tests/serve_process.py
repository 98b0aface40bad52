"""Helpers for tests that run ``voice-agent serve`` as a real subprocess."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import asynccontextmanager

import trio

from agent.demo.softphone import Caller, CallerParams


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    """A running ``python -m agent serve``; its log lines (stderr) are collected."""

    def __init__(self, process: trio.Process, workdir: str) -> None:
        self.process = process
        self.workdir = workdir  # the process's working directory (records land there)
        self.lines: list[str] = []
        self._changed = trio.Event()

    async def _read(self, stream: trio.abc.ReceiveStream) -> None:
        buffer = b""
        async for chunk in stream:
            buffer += chunk
            *done, buffer = buffer.split(b"\n")
            self.lines.extend(line.decode(errors="replace") for line in done)
            self._changed.set()
            self._changed = trio.Event()

    async def wait_for(self, pattern: str, *, count: int = 1, timeout: float = 8.0) -> list:
        """Wait until ``count`` log lines match ``pattern``; returns their matches."""
        regex = re.compile(pattern)
        with trio.fail_after(timeout):
            while True:
                found = [m for m in map(regex.search, self.lines) if m]
                if len(found) >= count:
                    return found
                if self.process.returncode is not None:
                    raise AssertionError("serve exited early:\n" + "\n".join(self.lines))
                await self._changed.wait()

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    async def wait(self, timeout: float = 8.0) -> int:
        with trio.fail_after(timeout):
            return await self.process.wait()


@asynccontextmanager
async def serve_process(args: Sequence[str], env: Mapping[str, str]):
    """``python -m agent ARGS`` in a fresh working directory (its records land there)."""
    # Text log lines: the tests read them (the service default off a terminal is JSON).
    environment = {
        # The tiers' own variables are not the agent's settings (it would warn of them).
        **{k: v for k, v in os.environ.items() if k != "VOICE_AGENT_TEST_ASTERISK"},
        "VOICE_AGENT_METRICS_PORT": "0",
        "VOICE_AGENT_LOG_FORMAT": "text",
        **env,
    }
    with tempfile.TemporaryDirectory(prefix="voice-agent-test-") as workdir:
        async with _serve_in(args, environment, workdir) as served:
            yield served


@asynccontextmanager
async def _serve_in(args: Sequence[str], environment: Mapping[str, str], workdir: str):
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "agent", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=environment,
        cwd=workdir,
    )
    served = ServeProcess(process, workdir)
    try:
        async with trio.open_nursery() as nursery:
            assert process.stderr is not None
            nursery.start_soon(served._read, process.stderr)
            try:
                yield served
            finally:
                if process.returncode is None:
                    process.kill()
                with trio.CancelScope(shield=True):
                    await process.wait()
    finally:
        with trio.CancelScope(shield=True):
            await process.stderr.aclose()


async def call(port: int, script, call_uuid=None, **params) -> Caller:
    caller = Caller(script, params=CallerParams(**params), call_uuid=call_uuid)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await caller.run(stream)
    return caller
