"""The providers' WebSocket path alone: the agent side's CPU per message over TLS.

    python bench/provider_path.py [--connections 25] [--seconds 10] [--stream lean|trio]
        [--client agent|trio-websocket] [--parse] [--receive-buffer BYTES] [--json PATH]

N WebSocket connections over TLS to a loopback server in another process (a
throwaway CA, trusted as ``VOICE_AGENT_CA_FILE`` would be). Per connection, the
client sends a Deepgram-sized uplink batch (100 ms of 8 kHz 16-bit audio, 1 600
bytes) every 100 ms and the server sends a Cartesia-shaped audio chunk (JSON with
120 ms of base64 PCM, as the fake's default) every 120 ms, phases spread over the
period. ``--stream`` picks the client's TLS: ``lean`` (the agent's
``open_provider_stream``, a non-blocking ``ssl.SSLSocket``), ``trio`` (Trio's
``SSLStream``, what the providers used before) or ``plain`` (no TLS: ws://).
``--parse`` also decodes each chunk as the agent does (``cartesia_wire.parse_message``:
JSON + base64). ``--client`` picks the WebSocket: ``agent`` (the providers' own,
``agent.providers.websocket``: wsproto in the tasks that send and receive, since
session 35) or ``trio-websocket`` (what they used before). ``--pingpong N``: fixed
work instead of pacing, N rounds per connection of one uplink message answered by one
chunk.

The figure is the client process's own CPU (``getrusage``) over the window
divided by the messages it sent and received, so the server's CPU and other jobs
on the box move it less than wall-clock figures; run A/B pairs alternately.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import trio
import trio_websocket

sys.path.append(str(Path(__file__).resolve().parent.parent))

from agent.base.tls import client_context
from agent.providers.tls_stream import open_provider_stream
from agent.providers.tts.cartesia_wire import parse_message
from agent.providers.websocket import WebSocket
from tests.fakes.tls import LoopbackTLS

UPLINK = bytes(1600)  # 100 ms of 8 kHz 16-bit audio: Deepgram's batch
UPLINK_S = 0.100
CHUNK_S = 0.120


def chunk_message(k: int) -> str:
    pcm = bytes((k + i) & 0x7F for i in range(int(8000 * CHUNK_S) * 2))
    return json.dumps(
        {
            "type": "chunk",
            "context_id": f"ctx-{k}",
            "status_code": 206,
            "done": False,
            "step_time": 12.5,
            "data": base64.b64encode(pcm).decode(),
        }
    )


def serve(folder: str, ready, seconds: float, pingpong: bool) -> None:
    """The server process: what the providers would send, at their pace (or, with
    ``pingpong``, one chunk in answer to each uplink message)."""
    os.nice(5)
    tls = LoopbackTLS(Path(folder))
    message = chunk_message(1)

    async def handler(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()

        async def talk() -> None:
            await trio.sleep(CHUNK_S * (hash(id(ws)) % 97) / 97)
            while True:
                await ws.send_message(message)
                await trio.sleep(CHUNK_S)

        async with trio.open_nursery() as nursery:
            if not pingpong:
                nursery.start_soon(talk)
            try:
                while True:
                    await ws.get_message()
                    if pingpong:
                        await ws.send_message(message)
            except trio_websocket.ConnectionClosed:
                nursery.cancel_scope.cancel()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                trio_websocket.serve_websocket, handler, "127.0.0.1", 0, tls.server_context
            )
            plain = await nursery.start(
                trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None
            )
            ready.send(f"{server.port} {plain.port}")
            await trio.sleep(seconds)
            nursery.cancel_scope.cancel()

    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main)


def cpu_s() -> tuple[float, float]:
    """This process's (user, system) CPU seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


async def client(args: argparse.Namespace, ports: list[int], ca_file: Path) -> dict:
    port, plain_port = ports
    context = client_context({"VOICE_AGENT_CA_FILE": str(ca_file)})
    counts = {"sent": 0, "received": 0}

    async def connection(k: int, task_status=trio.TASK_STATUS_IGNORED) -> None:
        if args.stream == "plain":
            stream = await trio.open_tcp_stream("127.0.0.1", plain_port)
        elif args.stream == "lean":
            stream = await open_provider_stream(
                "bench", "127.0.0.1", port, ssl_context=context, timeout=10
            )
        else:
            stream = await trio.open_ssl_over_tcp_stream(
                "127.0.0.1", port, ssl_context=context, https_compatible=True
            )
        async with stream, trio.open_nursery() as nursery:
            if args.client == "agent":
                ws: WebSocket | trio_websocket.WebSocketConnection = await WebSocket.connect(
                    stream, "127.0.0.1", "/"
                )
            else:
                ws = await trio_websocket.wrap_client_stream(
                    nursery,
                    stream,  # type: ignore[arg-type]
                    "127.0.0.1",
                    "/",
                    receive_buffer_size=args.receive_buffer,
                )
            task_status.started()

            async def send() -> None:
                await trio.sleep(UPLINK_S * k / args.connections)
                while True:
                    await ws.send_message(UPLINK)
                    counts["sent"] += 1
                    await trio.sleep(UPLINK_S)

            if args.pingpong:
                await go.wait()
                for _ in range(args.pingpong):
                    await ws.send_message(UPLINK)
                    counts["sent"] += 1
                    receive(await ws.get_message())
                done.append(k)
                await trio.sleep_forever()
            nursery.start_soon(send)
            while True:
                receive(await ws.get_message())

    def receive(raw: str | bytes) -> None:
        if args.parse:
            parse_message(raw)
        counts["received"] += 1

    go, done = trio.Event(), []
    async with trio.open_nursery() as nursery:
        for k in range(args.connections):
            await nursery.start(connection, k)
        if not args.pingpong:
            await trio.sleep(args.warmup)
        sent0, received0, cpu0, t0 = counts["sent"], counts["received"], cpu_s(), time.monotonic()
        if args.pingpong:
            go.set()
            while len(done) < args.connections:
                await trio.sleep(0.01)
        else:
            await trio.sleep(args.seconds)
        sent1, received1, cpu1, t1 = counts["sent"], counts["received"], cpu_s(), time.monotonic()
        nursery.cancel_scope.cancel()
    messages = (sent1 - sent0) + (received1 - received0)
    window = t1 - t0
    user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    return {
        "stream": args.stream,
        "parse": args.parse,
        "receive_buffer": args.receive_buffer,
        "client": args.client,
        "pingpong": args.pingpong,
        "connections": args.connections,
        "window_s": round(window, 2),
        "uplink_per_s": round((sent1 - sent0) / window, 1),
        "downlink_per_s": round((received1 - received0) / window, 1),
        "us_per_message": round(1e6 * (user + system) / messages, 1),
        "user_us_per_message": round(1e6 * user / messages, 1),
        "system_us_per_message": round(1e6 * system / messages, 1),
        "cpu_pct_per_connection": round(100 * (user + system) / window / args.connections, 3),
        "load_average": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--stream", choices=["lean", "trio", "plain"], default="lean")
    parser.add_argument("--parse", action="store_true", help="decode chunks as the agent does")
    parser.add_argument("--receive-buffer", type=int, default=4096, help="trio-websocket's")
    parser.add_argument(
        "--pingpong", type=int, default=0, help="fixed work: N uplink/chunk rounds per connection"
    )
    parser.add_argument("--client", choices=["agent", "trio-websocket"], default="agent")
    parser.add_argument("--json", type=Path, help="append the result as a JSON line")
    parser.add_argument("--profile", type=Path, help="cProfile the client to this file")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="provider-path-")
    ctx = multiprocessing.get_context("spawn")  # an exec: valgrind traces only us
    ours, theirs = ctx.Pipe()
    server = ctx.Process(
        target=serve,
        args=(folder, theirs, args.warmup + args.seconds + 600, bool(args.pingpong)),
        daemon=True,
    )
    server.start()
    ports = [int(p) for p in ours.recv().split()]
    ca_file = Path(folder) / "fake-providers-ca.pem"
    if args.profile is not None:
        profile = cProfile.Profile(time.process_time)
        result = profile.runcall(trio.run, client, args, ports, ca_file)
        profile.dump_stats(args.profile)
    else:
        result = trio.run(client, args, ports, ca_file)
    server.terminate()
    server.join()
    print(json.dumps(result))
    if args.json is not None:
        with args.json.open("a") as out:
            out.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
