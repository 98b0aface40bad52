"""The providers' lean TLS stream against loopback TLS servers (Trio's own SSLStream
on the server side, so the two TLS implementations meet): handshake and
verification, big messages both ways, close_notify, a peer closing mid-message
under a WebSocket, cancellation mid-send and mid-receive."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import ssl
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing
import trio_websocket

from agent.base.errors import ProviderConnectError
from agent.base.tls import client_context
from agent.providers.stt.deepgram import DeepgramSettings, DeepgramStt
from agent.providers.tls_stream import UNYIELDED_BYTES, TlsSocketStream, open_provider_stream
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.tls import LoopbackTLS

pytestmark = pytest.mark.realtime
LIMIT = 20  # seconds: loopback only, a stuck test fails rather than hangs

Handler = Callable[[trio.SSLStream], Awaitable[None]]


async def serve_tls(nursery: trio.Nursery, tls: LoopbackTLS, handler: Handler) -> int:
    """A TLS server on 127.0.0.1 running ``handler`` per connection; its port.
    ``https_compatible=False``: a client EOF without close_notify breaks its reads."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    ssl_listeners = [trio.SSLListener(ln, tls.server_context) for ln in listeners]
    nursery.start_soon(trio.serve_listeners, handler, ssl_listeners)
    return port


async def connect(port: int, tls: LoopbackTLS) -> trio.abc.Stream:
    return await open_provider_stream(
        "test", "127.0.0.1", port, ssl_context=tls.client_context(), timeout=5
    )


async def test_big_messages_both_ways_and_close_notify(tmp_path):
    tls = LoopbackTLS(tmp_path)
    payload = bytes(range(256)) * 12_000  # 3 MB: many records, a full socket buffer
    server_ended: list[str] = []

    async def echo(stream: trio.SSLStream) -> None:
        try:
            while data := await stream.receive_some(100_000):
                await stream.send_all(data)
            server_ended.append("close_notify")
        except trio.BrokenResourceError:
            server_ended.append("broken")  # a bare TCP close: no close_notify
        await stream.aclose()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            port = await serve_tls(nursery, tls, echo)
            stream = await connect(port, tls)
            assert isinstance(stream, TlsSocketStream)
            received = bytearray()

            async def read_all() -> None:
                while len(received) < len(payload):
                    received.extend(await stream.receive_some())

            async with trio.open_nursery() as both:
                both.start_soon(read_all)
                await stream.send_all(payload)
            assert received == payload
            await stream.aclose()
            await stream.aclose()  # closing twice is fine
            with pytest.raises(trio.ClosedResourceError):
                await stream.send_all(b"x")
            while not server_ended:
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    assert server_ended == ["close_notify"]


async def test_a_certificate_not_trusted_is_one_clear_not_retryable_error(tmp_path):
    tls = LoopbackTLS(tmp_path)

    async def idle(stream: trio.SSLStream) -> None:
        with pytest.raises(trio.BrokenResourceError):
            await stream.do_handshake()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            port = await serve_tls(nursery, tls, idle)
            with pytest.raises(ProviderConnectError) as caught:
                await open_provider_stream(
                    "deepgram",
                    "127.0.0.1",
                    port,
                    ssl_context=ssl.create_default_context(),
                    timeout=5,
                )
            # The project's CA file trusted through VOICE_AGENT_CA_FILE: accepted.
            trusted = client_context({"VOICE_AGENT_CA_FILE": str(tls.ca_file)})
            stream = await open_provider_stream(
                "deepgram", "127.0.0.1", port, ssl_context=trusted, timeout=5
            )
            await stream.aclose()
            nursery.cancel_scope.cancel()
    message = str(caught.value)
    assert message.startswith(f"deepgram: TLS to 127.0.0.1:{port}: ")
    assert "certificate" in message and "\n" not in message
    assert not caught.value.retryable
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


async def test_deepgram_with_an_untrusted_certificate_fails_at_the_start_of_the_call(
    tmp_path, monkeypatch
):
    tls = LoopbackTLS(tmp_path)
    monkeypatch.delenv("VOICE_AGENT_CA_FILE", raising=False)
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=8000, ssl_context=tls.server_context) as fake:
            stt = DeepgramStt(DeepgramSettings(api_key=fake.api_key, url=fake.url))
            send, audio = trio.open_memory_channel[bytes](10)
            out, _events = trio.open_memory_channel(10)
            async with trio.open_nursery() as nursery:
                with pytest.raises(ProviderConnectError, match=r"TLS to 127\.0\.0\.1:\d+: "):
                    await nursery.start(stt.run, audio, out)
            assert stt.statistics().failed_attempts == 0  # not retried: it would fail alike
            await send.aclose()


async def test_cancelled_mid_send_the_stream_is_broken_and_still_closes(tmp_path):
    tls = LoopbackTLS(tmp_path)
    release = trio.Event()

    async def never_reads(stream: trio.SSLStream) -> None:
        await stream.do_handshake()
        await release.wait()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            port = await serve_tls(nursery, tls, never_reads)
            stream = await connect(port, tls)
            with trio.move_on_after(0.3) as scope:
                await stream.send_all(bytes(50_000_000))  # far more than the socket buffers
            assert scope.cancelled_caught
            with pytest.raises(trio.BrokenResourceError):
                await stream.send_all(b"more")
            await stream.aclose()
            release.set()
            nursery.cancel_scope.cancel()


async def test_a_send_the_socket_takes_at_once_is_a_cancel_point_not_a_schedule_point(tmp_path):
    """What the socket takes at once costs the sender no trip round the run loop (its
    callers, trio-websocket behind a lock, httpcore before a read, reach one anyway);
    a cancelled sender is still stopped before anything is written."""
    tls = LoopbackTLS(tmp_path)
    got: list[bytes] = []

    async def reads(stream: trio.SSLStream) -> None:
        await stream.do_handshake()
        while data := await stream.receive_some():
            got.append(data)

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            port = await serve_tls(nursery, tls, reads)
            stream = await connect(port, tls)
            ran: list[int] = []

            async def other() -> None:
                ran.append(1)

            nursery.start_soon(other)  # runs at the sender's next schedule point
            await stream.send_all(b"hello")
            assert ran == []
            await trio.testing.wait_all_tasks_blocked()
            assert ran == [1]
            with trio.CancelScope() as scope:
                scope.cancel()
                await stream.send_all(b"never")
            assert scope.cancelled_caught
            await stream.aclose()
            while b"".join(got) != b"hello":  # the server has all of it, and only it
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()


class QueuedTls:
    """Stands in for the ``ssl.SSLSocket``: ``recv`` hands out the records queued, then
    would block (the descriptor, a socket pair's end, is what a wait watches)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.records: list[bytes] = []

    def fileno(self) -> int:
        return self._fd

    def recv(self, size: int) -> bytes:
        if not self.records:
            raise ssl.SSLWantReadError()
        return self.records.pop(0)[:size]


class StepsOf(trio.abc.Instrument):
    """Counts the steps of one task: each step after the first began at a schedule point."""

    def __init__(self, task: trio.lowlevel.Task) -> None:
        self.task = task
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is self.task:
            self.steps += 1


async def test_reads_that_find_their_data_yield_once_per_budget_of_bytes():
    """A burst already received is read without a trip round the run loop per read (a
    voice's chunks, a model's tokens), but a long one still lets the other tasks run
    every ``UNYIELDED_BYTES``; a read that had to wait was a schedule point already,
    and the count starts again after it."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        tls = QueuedTls(ours.fileno())
        stream = TlsSocketStream(tls, "test")  # type: ignore[arg-type]
        counter = StepsOf(trio.lowlevel.current_task())

        async def read(count: int) -> None:
            for _ in range(count):
                assert await stream.receive_some() == b"x" * 1000

        trio.lowlevel.add_instrument(counter)
        try:
            tls.records = [b"x" * 1000] * 40
            await read(40)  # 40 000 bytes without waiting: a yield at 17 000 and 34 000
            assert counter.steps == 40_000 // UNYIELDED_BYTES == 2  # (6 000 counted since)

            async with trio.open_nursery() as nursery:

                async def arrive() -> None:
                    tls.records = [b"x" * 1000] * 16
                    theirs.send(b"!")  # readable: the reader's wait ends

                nursery.start_soon(arrive)
                await read(1)  # it waits
                counter.steps = 0
                await read(15)  # 15 000 bytes: under the budget counted from the wait
                assert counter.steps == 0
        finally:
            trio.lowlevel.remove_instrument(counter)


async def test_a_cancelled_receive_loses_nothing_and_readers_wake_on_close(tmp_path):
    tls = LoopbackTLS(tmp_path)
    go = trio.Event()

    async def speaks_late(stream: trio.SSLStream) -> None:
        await stream.do_handshake()
        await go.wait()
        await stream.send_all(b"hello")
        await trio.sleep_forever()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            port = await serve_tls(nursery, tls, speaks_late)
            stream = await connect(port, tls)
            with trio.move_on_after(0.05) as scope:
                await stream.receive_some()
            assert scope.cancelled_caught
            go.set()
            assert await stream.receive_some() == b"hello"

            async def second_reader_busy() -> None:
                with pytest.raises(trio.BusyResourceError):
                    await stream.receive_some()

            async def reader() -> None:
                with pytest.raises(trio.ClosedResourceError):
                    await stream.receive_some()

            async with trio.open_nursery() as readers:
                readers.start_soon(reader)
                await trio.sleep(0.05)
                await second_reader_busy()
                await stream.aclose()
            nursery.cancel_scope.cancel()


def _accept_key(key: bytes) -> bytes:
    digest = hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    return base64.b64encode(digest)


async def test_a_peer_closing_mid_message_is_an_abnormal_websocket_close(tmp_path):
    tls = LoopbackTLS(tmp_path)

    async def half_a_message(stream: trio.SSLStream) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some()
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + _accept_key(key) + b"\r\n\r\n"
        )
        # A whole small message, then a binary one announced as 100 000 bytes, cut short.
        await stream.send_all(b"\x81\x02hi")
        await stream.send_all(b"\x82\x7f" + (100_000).to_bytes(8, "big") + bytes(30_000))
        await stream.aclose()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            port = await serve_tls(nursery, tls, half_a_message)
            stream = await connect(port, tls)
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,  # type: ignore[arg-type]
                "127.0.0.1",
                "/",
            )
            assert await ws.get_message() == "hi"
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason.code == 1006  # abnormal: no close frame came
            await stream.aclose()
            nursery.cancel_scope.cancel()


async def test_send_nowait_owes_what_a_full_socket_cannot_take_and_send_all_sends_it_first(
    tmp_path,
):
    tls = LoopbackTLS(tmp_path)
    received = bytearray()
    reading, done = trio.Event(), trio.Event()

    async def slow_reader(stream: trio.SSLStream) -> None:
        await stream.do_handshake()
        await reading.wait()
        with contextlib.suppress(trio.BrokenResourceError):
            while data := await stream.receive_some(100_000):
                received.extend(data)
        done.set()

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            port = await serve_tls(nursery, tls, slow_reader)
            stream = await connect(port, tls)
            assert isinstance(stream, TlsSocketStream)
            sent: list[bytes] = []
            for i in range(4000):  # up to 64 MB: the socket's buffers fill long before
                data = bytes([i % 256]) * 16_384
                sent.append(data)
                if not stream.send_nowait(data):
                    break
            else:
                pytest.fail("the socket never filled")
            with pytest.raises(trio.BusyResourceError):
                stream.send_nowait(b"nothing may overtake what is owed")
            reading.set()
            await stream.send_all(b"tail")  # the owed rest first, then this
            await stream.aclose()
            await done.wait()
            nursery.cancel_scope.cancel()
    assert bytes(received) == b"".join(sent) + b"tail"
