"""The real server and the real caller over loopback TCP, in real time.

Each kind of bad input ends only its own call, with one log line naming the
call and the problem, while a good call on the same server goes on.
"""

from __future__ import annotations

import functools
import logging
import uuid

import pytest
import trio

from agent.base.config import ServerSettings
from agent.conversation.echo import EchoBrain
from agent.demo.signals import silence, speechlike
from agent.demo.softphone import Caller, CallerParams, HangUp, Say, WaitAgent
from agent.media.server import CallRegistry, serve_audiosocket

pytestmark = pytest.mark.realtime

UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")
IDENTIFY = b"\x01\x00\x10" + UUID.bytes

BAD_INPUTS = {
    # name: (bytes to send, then close?, expected words in the log line)
    "unknown kind": (IDENTIFY + b"\x42\x00\x01x", False, "unknown message kind 0x42"),
    "zero-length audio": (IDENTIFY + b"\x10\x00\x00", False, "zero-length"),
    "audio before uuid": (b"\x10\x01\x40" + bytes(320), False, "expected UUID first"),
    "over-long length": (IDENTIFY + b"\x10\xff\xff", False, "exceeds the limit"),
    "cut off by eof": (IDENTIFY + b"\x10\x01\x40" + bytes(100), True, "mid-message"),
    "no uuid in time": (b"", False, "no UUID within"),
}


async def drain_until_closed(stream: trio.SocketStream) -> int:
    """Read until the server closes; returns the bytes received."""
    total = 0
    while True:
        try:
            data = await stream.receive_some(65536)
        except trio.BrokenResourceError:
            return total
        if not data:
            return total
        total += len(data)


@pytest.fixture
async def server(nursery):
    registry = CallRegistry()
    settings = ServerSettings(port=0, uuid_timeout_s=0.5, brain="echo")
    listeners = await nursery.start(
        functools.partial(serve_audiosocket, settings, EchoBrain, registry=registry)
    )
    return listeners[0].socket.getsockname()[1], registry


async def good_call(port: int):
    script = [
        Say(silence(0.2) + speechlike(0.8), label="hello"),
        WaitAgent(timeout_s=3),
        HangUp(),
    ]
    caller = Caller(script, params=CallerParams(agent_quiet_ms=500, agent_timeout_s=3))
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    return caller, await caller.run(stream)


async def bad_connection(port: int, payload: bytes, close_after: bool) -> None:
    bad = await trio.open_tcp_stream("127.0.0.1", port)
    if payload.startswith(IDENTIFY):
        # A UUID of its own: a second live call with the same one would be refused.
        payload = b"\x01\x00\x10" + uuid.uuid4().bytes + payload[len(IDENTIFY) :]
    if payload:
        await bad.send_all(payload)
    if close_after:
        await bad.send_eof()
    # The server closes the bad connection by itself.
    await drain_until_closed(bad)
    await bad.aclose()


async def test_each_bad_input_ends_only_its_own_call(server, caplog):
    """All six bad connections arrive while one good call is talking."""
    port, registry = server
    results = {}
    caplog.set_level(logging.INFO, logger="agent")
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:

            async def run_good():
                results["good"] = await good_call(port)

            nursery.start_soon(run_good)
            await trio.sleep(0.3)  # the good call is up and talking
            for payload, close_after, _ in BAD_INPUTS.values():
                nursery.start_soon(bad_connection, port, payload, close_after)
    caller, report = results["good"]
    # The good call was unaffected: it heard its echo and ended normally.
    assert report.utterances[0].response_ms is not None
    assert caller.caller_hung_up and not caller.closed_by_agent
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == len(BAD_INPUTS), problems
    for name, (payload, _, expected) in BAD_INPUTS.items():
        matching = [p for p in problems if expected in p]
        assert len(matching) == 1, (name, problems)
        if payload.startswith(IDENTIFY):
            assert "call unidentified" not in matching[0], name
    assert registry.statistics()["active_calls"] == 0
    assert registry.total == 1 + len(BAD_INPUTS)
    assert registry.ended_by_reason["hangup"] == 1
