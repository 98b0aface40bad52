"""asterisk/setup.agi as Asterisk runs it: a subprocess fed on stdin, relaying to the agent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import trio

from agent.pbx.callmeta_store import CallMetadataStore
from agent.pbx.fastagi import AgiSettings, serve_fastagi
from tests.paths import REPO
from tests.pbx.test_fastagi import env_block

SCRIPT = REPO / "asterisk" / "setup.agi"


def classic_env(*args: str) -> bytes:
    """A classic AGI block: no agi_network* lines, the args as Asterisk numbers them."""
    block = env_block("unused", *args).decode().splitlines(keepends=True)
    return "".join(b for b in block if not b.startswith("agi_network")).encode()


class ScriptedAsterisk:
    """Drives setup.agi's stdin/stdout: answers each command line it prints."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.commands: list[str] = []
        self._buffer = b""

    async def read_command(self) -> str | None:
        while b"\n" not in self._buffer:
            data = await self.proc.stdout.receive_some(4096)
            if not data:
                return None
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        self.commands.append(line.decode())
        return line.decode()

    async def reply(self, data: bytes) -> None:
        await self.proc.stdin.send_all(data)


async def run_setup_agi(argv, addr, asterisk_script, env_args=()):
    """Run setup.agi with stdlib only (-S: no site-packages); returns (rc, asterisk)."""
    env = {"PATH": os.environ.get("PATH", ""), "VOICE_AGENT_AGI_ADDR": addr}
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-I", "-S", str(SCRIPT), *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        asterisk = ScriptedAsterisk(proc)
        await asterisk.reply(classic_env(*env_args))
        await asterisk_script(asterisk)
        rc = await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
        with trio.CancelScope(shield=True):
            await proc.wait()
            await proc.stdin.aclose()
            await proc.stdout.aclose()
    return rc, asterisk


async def answer_everything(asterisk: ScriptedAsterisk) -> None:
    while await asterisk.read_command() is not None:
        await asterisk.reply(b"200 result=1\n")


async def test_setup_through_the_real_fastagi_server():
    store = CallMetadataStore.in_memory()
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(serve_fastagi, AgiSettings(port=0), store)
            port = listeners[0].socket.getsockname()[1]
            rc, asterisk = await run_setup_agi([], f"127.0.0.1:{port}", answer_everything)
            nursery.cancel_scope.cancel()
    assert rc == 0
    sets = [c for c in asterisk.commands if c.startswith("SET VARIABLE")]
    assert sets[-1] == 'SET VARIABLE VOICE_AGENT_STATUS "ok"'
    call_uuid = sets[0].removeprefix("SET VARIABLE VOICE_AGENT_UUID ").strip('"')
    meta = store.claim(call_uuid, trio.current_time())
    assert (meta.did, meta.caller_id, meta.channel) == (
        "15551230000",
        "15557654321",
        "PJSIP/trunk-0000002a",
    )


async def fake_agent(listener: trio.SocketListener, script) -> None:
    stream = await listener.accept()
    async with stream:
        buffer = b""

        async def line() -> str:
            nonlocal buffer
            while b"\n" not in buffer:
                data = await stream.receive_some(4096)
                assert data, "setup.agi closed early"
                buffer += data
            text, _, buffer = buffer.partition(b"\n")
            return text.decode()

        await script(stream, line)


async def test_relay_forwards_environment_args_and_multiline_replies():
    seen: dict[str, object] = {}

    async def agent(stream, line):
        env = {}
        while text := await line():
            key, _, value = text.partition(": ")
            env[key] = value
        seen["env"] = env
        await stream.send_all(b"GET VARIABLE BAD NAME\n")
        seen["reply1"] = [await line(), await line(), await line()]
        await stream.send_all(b'SET VARIABLE VOICE_AGENT_STATUS "ok"\n')
        seen["reply2"] = await line()

    async def asterisk(ast):
        assert await ast.read_command() == "GET VARIABLE BAD NAME"
        await ast.reply(b"520-Invalid command syntax.  Proper usage follows:\nUsage: x\n")
        await ast.reply(b"520 End of proper usage.\n")
        await answer_everything(ast)

    uuid_text = "0b9d6c1e-5a43-4f0e-9a77-3c2e4b8d1f60"
    with trio.fail_after(15):
        listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        async with listener, trio.open_nursery() as nursery:
            nursery.start_soon(fake_agent, listener, agent)
            port = listener.socket.getsockname()[1]
            rc, ast = await run_setup_agi(
                ["next", uuid_text], f"127.0.0.1:{port}", asterisk, env_args=("next", uuid_text)
            )
    assert rc == 0
    env = seen["env"]
    assert env["agi_network"] == "yes" and env["agi_network_script"] == "next"
    assert env["agi_arg_1"] == uuid_text and "agi_arg_2" not in env
    assert env["agi_extension"] == "15551230000"
    assert seen["reply1"] == [
        "520-Invalid command syntax.  Proper usage follows:",
        "Usage: x",
        "520 End of proper usage.",
    ]
    assert seen["reply2"] == "200 result=1"
    assert ast.commands[-1] == 'SET VARIABLE VOICE_AGENT_STATUS "ok"'


async def test_sighup_is_passed_on_as_a_hangup_line():
    got_hangup = trio.Event()
    seen = []

    async def agent(stream, line):
        while await line():
            pass
        await stream.send_all(b"NOOP\n")
        seen.append(await line())
        got_hangup.set()
        seen.append(await line())

    async def asterisk(ast):
        assert await ast.read_command() == "NOOP"
        ast.proc.send_signal(signal.SIGHUP)
        await got_hangup.wait()
        await ast.reply(b"200 result=0\n")
        await answer_everything(ast)

    with trio.fail_after(15):
        listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        async with listener, trio.open_nursery() as nursery:
            nursery.start_soon(fake_agent, listener, agent)
            port = listener.socket.getsockname()[1]
            rc, _ = await run_setup_agi([], f"127.0.0.1:{port}", asterisk)
    assert seen == ["HANGUP", "200 result=0"]
    assert rc == 0


async def test_unreachable_agent_sets_status_and_fails():
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with trio.fail_after(15):
        rc, asterisk = await run_setup_agi([], f"127.0.0.1:{port}", answer_everything)
    assert rc == 1  # AGISTATUS=FAILURE in the dialplan
    assert asterisk.commands[0] == 'SET VARIABLE VOICE_AGENT_STATUS "unavailable"'
    assert asterisk.commands[1].startswith('VERBOSE "voice-agent unreachable')
