"""``voice-agent demo``: a whole call on this machine, no keys, no network.

Starts the server on a free loopback port, calls it with the real caller over
TCP, prints what the caller measured and saves each leg and a stereo mix.
"""

from __future__ import annotations

from pathlib import Path

import trio

from agent.base.config import ServerSettings
from agent.conversation.echo import EchoBrain
from agent.demo.signals import silence, speechlike
from agent.demo.softphone import Caller, CallerParams, HangUp, Say, WaitAgent
from agent.media.server import serve_audiosocket


def echo_script(sample_rate: int = 8000) -> list:
    hello = silence(0.2, sample_rate) + speechlike(1.2, sample_rate=sample_rate)
    talk_over = speechlike(1.0, sample_rate=sample_rate)
    return [
        Say(hello, label="caller says hello"),
        Say(hello, label="caller says it again"),
        Say(talk_over, label="caller talks over the echo", interrupt_after_ms=400),
        WaitAgent(timeout_s=5),
        HangUp(),
    ]


async def _echo_demo() -> Caller:
    settings = ServerSettings(port=0, brain="echo")
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(serve_audiosocket, settings, EchoBrain)
        port = listeners[0].socket.getsockname()[1]
        caller = Caller(echo_script(), params=CallerParams(agent_quiet_ms=600))
        print(f"calling the echo agent on 127.0.0.1:{port} ...")
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        report = await caller.run(stream)
        nursery.cancel_scope.cancel()
    print(report.format())
    return caller


def run_echo_demo(out: Path) -> int:
    from agent.demo.softphone import save_legs

    caller = trio.run(_echo_demo)
    for path in save_legs(caller, out, 8000):
        print(f"wrote {path}")
    answered = [u for u in caller.report().utterances if u.response_ms is not None]
    return 0 if answered else 1
