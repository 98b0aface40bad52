"""Hostile peers and one good caller, over real TCP against a real ``voice-agent serve``.

The attackers run in threads with blocking sockets, so a flood at full TCP speed
does not share the test's event loop with the good call whose frame gaps are
measured. ``rss_mb`` reads the server's resident memory from /proc.
"""

from __future__ import annotations

import itertools
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import trio

from agent.media.stream import AudioSocketStream
from agent.wire.audiosocket import Audio, Identify, Role

FRAME = bytes(320)  # 20 ms of silence at 8 kHz
LOUD = b"\x00\x40" * 8192  # 16 KiB of loud audio: the largest frame the codec takes


def identify(call_uuid: uuid.UUID) -> bytes:
    return b"\x01\x00\x10" + call_uuid.bytes


def audio(pcm: bytes) -> bytes:
    return b"\x10" + len(pcm).to_bytes(2, "big") + pcm


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class GoodCall:
    """An Asterisk-like caller: a UUID, then 20 ms of audio every 20 ms; it notes when
    each of the agent's frames arrives. ``max_gap_ms`` is the longest wait between
    two frames after the first ``settle_s`` (the greeting's start-up)."""

    def __init__(self, port: int, *, settle_s: float = 0.5) -> None:
        self.port = port
        self.settle_s = settle_s
        self.arrivals: list[float] = []
        self.closed_by_agent = False
        self.uuid = uuid.uuid4()

    def gaps_ms(self) -> list[float]:
        times = [t for t in self.arrivals if t >= self.arrivals[0] + self.settle_s]
        return [(b - a) * 1000 for a, b in itertools.pairwise(times)]

    @property
    def max_gap_ms(self) -> float:
        return max(self.gaps_ms(), default=0.0)

    def late_share(self, over_ms: float) -> float:
        """The share of the agent's frames that came more than ``over_ms`` after the
        one before (0.0 to 1.0)."""
        gaps = self.gaps_ms()
        return sum(gap > over_ms for gap in gaps) / max(1, len(gaps))

    async def run(self, seconds: float) -> None:
        stream = AudioSocketStream(await trio.open_tcp_stream("127.0.0.1", self.port), Role.CLIENT)
        await stream.send(Identify(self.uuid))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._receive, stream, nursery.cancel_scope)
            start = trio.current_time()
            for n in range(int(seconds * 50)):
                await trio.sleep_until(start + n * 0.02)
                await stream.send(Audio(FRAME, 8000))
            nursery.cancel_scope.cancel()
        await stream.aclose()

    async def _receive(self, stream: AudioSocketStream, scope: trio.CancelScope) -> None:
        while True:
            event = await stream.receive_event()
            if event is None or not isinstance(event, Audio):
                self.closed_by_agent = True
                scope.cancel()
                return
            self.arrivals.append(trio.current_time())


def connect(port: int, payload: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    if payload:
        sock.sendall(payload)
    return sock


def flood(port: int, seconds: float) -> int:
    """One identified connection sending loud 16 KiB frames as fast as TCP takes them
    for ``seconds``; returns the bytes sent. Run it in a thread."""
    sock = connect(port, identify(uuid.uuid4()))
    frame, sent, end = audio(LOUD) * 4, 0, time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            sock.sendall(frame)
            sent += len(frame)
    except OSError:
        pass
    finally:
        sock.close()
    return sent


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes ``sock`` within ``timeout`` (what it sent is read)."""
    end = time.monotonic() + timeout
    try:
        while (left := end - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                return True
    except TimeoutError:
        return False
    except OSError:
        return True
    return False


def closed_now(sock: socket.socket) -> bool:
    """Whether the server has already closed ``sock`` (without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def in_thread(fn: Callable[..., object], *args: object) -> threading.Thread:
    thread = threading.Thread(target=fn, args=args, daemon=True)
    thread.start()
    return thread


async def flood_process(port: int, seconds: float) -> trio.Process:
    """``flood`` in a process of its own: a thread of the test would take the GIL
    from the good call whose gaps are measured."""
    return await trio.lowlevel.open_process(
        [sys.executable, "-m", "tests.hostile.peers", "flood", str(port), str(seconds)],
        cwd=str(Path(__file__).parents[2]),
    )


if __name__ == "__main__":
    if sys.argv[1] == "flood":
        flood(int(sys.argv[2]), float(sys.argv[3]))
