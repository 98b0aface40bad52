"""The providers' lean client WebSocket (``agent.providers.websocket``) against a
wsproto server on the other end of an in-memory stream, in virtual time: the
handshake and its refusals, messages both ways, pings, the server's close, an
oversized message, a dead stream, our close, and sending from synchronous code."""

from __future__ import annotations

import contextlib

import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from agent.providers.websocket import WebSocket, client_frame
from tests.providers.wire_stream import WireStream, messages_on, open_on_wire


class Server:
    """The server's end: a wsproto connection over one side of the stream pair."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.SERVER)
        self.request: Request | None = None

    async def events(self) -> list:
        """What the client sent next (at least one event; [] at EOF)."""
        while True:
            got = list(self.ws.events())
            if got:
                return got
            data = await self.stream.receive_some()
            if not data:
                return []
            self.ws.receive_data(data)

    async def send(self, event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def accept(self) -> None:
        (request,) = await self.events()
        assert isinstance(request, Request)
        self.request = request
        await self.send(AcceptConnection())


async def open_pair(
    nursery: trio.Nursery, *, max_message_bytes: int = 1 << 20
) -> tuple[WebSocket, Server]:
    client_end, server_end = trio.testing.memory_stream_pair()
    server = Server(server_end)
    nursery.start_soon(server.accept)
    ws = await WebSocket.connect(
        client_end,
        "api.example:8443",
        "/v1/listen?x=1",
        extra_headers=[(b"Authorization", b"Token k")],
        max_message_bytes=max_message_bytes,
    )
    return ws, server


async def test_handshake_then_messages_both_ways_and_fragments_joined():
    async with trio.open_nursery() as nursery:
        ws, server = await open_pair(nursery)
        assert server.request is not None
        assert server.request.host == "api.example:8443"
        assert server.request.target == "/v1/listen?x=1"
        assert (b"authorization", b"Token k") in [
            (k.lower(), v) for k, v in server.request.extra_headers
        ]
        await ws.send_message(b"\x01\x02")
        await ws.send_message('{"type":"KeepAlive"}')
        got = await server.events()
        got += await server.events() if len(got) < 2 else []
        assert [(type(e), e.data) for e in got] == [
            (BytesMessage, b"\x01\x02"),
            (TextMessage, '{"type":"KeepAlive"}'),
        ]
        await server.send(Message(data="hel", message_finished=False))
        await server.send(Message(data="lo", message_finished=True))
        await server.send(Message(data=b"pcm"))
        assert await ws.get_message() == "hello"
        assert await ws.get_message() == b"pcm"


@pytest.mark.parametrize("body", [b'{"err_code":"INVALID_AUTH"}', None])
async def test_a_refused_handshake_raises_its_status_headers_and_body(body):
    client_end, server_end = trio.testing.memory_stream_pair()
    server = Server(server_end)

    async def refuse() -> None:
        await server.events()
        headers = [(b"dg-error", b"bad key")]
        if body is None:
            await server.send(RejectConnection(status_code=401, headers=headers))
            return
        headers.append((b"content-length", str(len(body)).encode()))
        await server.send(RejectConnection(status_code=401, headers=headers, has_body=True))
        await server.send(RejectData(data=body))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(refuse)
        with pytest.raises(ConnectionRejected) as refused:
            await WebSocket.connect(client_end, "h", "/")
    assert refused.value.status_code == 401
    assert (b"dg-error", b"bad key") in refused.value.headers
    assert (refused.value.body or b"") == (body or b"")  # no body: wsproto reads an empty one


@pytest.mark.parametrize(
    ("answer", "words"),
    [(b"", "closed the connection"), (b"SSH-2.0-OpenSSH\r\n\r\n", "not valid")],
)
async def test_a_handshake_answer_that_is_no_answer_raises_handshake_error(answer, words):
    client_end, server_end = trio.testing.memory_stream_pair()

    async def answer_badly() -> None:
        await server_end.receive_some()
        if answer:
            await server_end.send_all(answer)
        await server_end.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(answer_badly)
        with pytest.raises(HandshakeError, match=words):
            await WebSocket.connect(client_end, "h", "/")


async def test_a_ping_is_answered_while_receiving():
    async with trio.open_nursery() as nursery:
        ws, server = await open_pair(nursery)
        await server.send(Ping(payload=b"are you there"))
        await server.send(Message(data="after the ping"))
        assert await ws.get_message() == "after the ping"
        (pong,) = await server.events()
        assert isinstance(pong, Pong) and pong.payload == b"are you there"


async def test_the_servers_close_ends_receiving_after_what_came_before_it():
    async with trio.open_nursery() as nursery:
        ws, server = await open_pair(nursery)
        await server.send(Message(data="last words"))
        await server.send(CloseConnection(code=1011, reason="internal"))
        assert await ws.get_message() == "last words"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        assert (closed.value.reason.code, closed.value.reason.reason) == (1011, "internal")
        assert ws.closed is not None and ws.closed.code == 1011
        (reply,) = await server.events()
        assert isinstance(reply, CloseConnection) and reply.code == 1011
        with pytest.raises(ConnectionClosed):
            await ws.send_message(b"too late")
        await ws.aclose()  # the close is done: it only closes the stream
        assert await server.stream.receive_some() == b""


async def test_an_oversized_message_closes_with_1009():
    async with trio.open_nursery() as nursery:
        ws, server = await open_pair(nursery, max_message_bytes=1000)
        await server.send(Message(data=b"x" * 600, message_finished=False))
        await server.send(Message(data=b"x" * 600, message_finished=True))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        assert closed.value.reason.code == 1009
        (close,) = await server.events()
        assert isinstance(close, CloseConnection) and close.code == 1009


async def test_a_stream_that_just_ends_is_an_abnormal_close():
    async with trio.open_nursery() as nursery:
        ws, server = await open_pair(nursery)
        await server.stream.aclose()
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        assert closed.value.reason.code == 1006


async def test_our_close_waits_for_the_servers_reply_then_closes_the_stream():
    async with trio.open_nursery() as nursery:
        ws, server = await open_pair(nursery)
        replied: list[int] = []

        async def reply_to_close() -> None:
            await server.send(Message(data="a result crossing our close"))  # dropped
            for event in await server.events():
                if isinstance(event, CloseConnection):
                    await server.send(event.response())
                    replied.append(event.code)

        nursery.start_soon(reply_to_close)
        await ws.aclose(1000)
        assert replied == [1000]
        assert await server.stream.receive_some() == b""  # our end is closed
        with pytest.raises(ConnectionClosed):
            await ws.get_message()


async def test_our_close_is_bounded_by_the_callers_timeout_and_still_closes(autojump_clock):
    async with trio.open_nursery() as nursery:
        ws, server = await open_pair(nursery)
        with trio.move_on_after(1.0) as waited:
            await ws.aclose()  # the server never answers
        assert waited.cancelled_caught
        (close,) = await server.events()
        assert isinstance(close, CloseConnection)
        assert await server.stream.receive_some() == b""


async def test_send_nowait_goes_at_once_when_the_stream_takes_it():
    stream = WireStream()
    ws = open_on_wire(stream)
    assert ws.send_nowait(b"frame 1") is True
    assert ws.send_nowait("text 2") is True
    assert not ws.owes
    assert messages_on(stream.wire) == [b"frame 1", "text 2"]


async def test_what_the_stream_cannot_take_is_owed_and_keeps_its_order():
    stream = WireStream(room=5)
    ws = open_on_wire(stream)
    assert ws.send_nowait(b"a" * 100) is False  # part of it is out, the rest owed
    assert ws.owes
    assert ws.send_nowait(b"b" * 10) is False  # kept behind the owed rest
    assert messages_on(stream.wire) == []
    await ws.flush()
    assert not ws.owes
    await ws.send_message(b"c")
    assert messages_on(stream.wire) == [b"a" * 100, b"b" * 10, b"c"]


async def test_send_nowait_while_another_task_sends_is_kept_for_flush():
    stream = WireStream()
    ws = open_on_wire(stream)
    stream.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ws.send_message, b"first")
        await trio.testing.wait_all_tasks_blocked()  # "first" holds the lock, waiting
        assert ws.send_nowait(b"second") is False
        stream.gate.set()
    assert ws.owes  # the first send took what was kept before it, not after
    await ws.flush()
    assert messages_on(stream.wire) == [b"first", b"second"]


async def test_a_stream_without_send_nowait_keeps_every_frame_for_flush():
    client_end, server_end = trio.testing.memory_stream_pair()
    ws = open_on_wire(client_end)
    assert ws.send_nowait(b"one") is False
    assert ws.send_nowait(b"two") is False
    await ws.flush()
    server = Connection(ConnectionType.SERVER)
    server.receive_data(await server_end.receive_some())
    assert [e.data for e in server.events()] == [b"one", b"two"]


@pytest.mark.parametrize("size", [0, 1, 3, 63, 64, 65, 125, 126, 1601, 65535, 65536, 70001])
@pytest.mark.parametrize("kind", [bytes, str])
def test_our_client_frames_are_what_a_server_reads(size, kind):
    message: bytes | str = bytes(i % 251 for i in range(size))
    if kind is str:
        message = ("é" * size)[: size // 2] + "a" * (size % 2)
    server = Connection(ConnectionType.SERVER)
    server.receive_data(client_frame(message, b"\x9a\x01\xff\x42"))
    events = list(server.events())
    assert all(isinstance(e, BytesMessage if kind is bytes else TextMessage) for e in events)
    assert type(message)().join(e.data for e in events) == message


async def test_each_frame_has_its_own_mask():
    stream = WireStream()
    ws = open_on_wire(stream)
    for _ in range(3):
        assert ws.send_nowait(b"\x00" * 320)
    masks = {bytes(stream.wire[i * 328 + 4 : i * 328 + 8]) for i in range(3)}
    assert len(masks) == 3  # a repeat is a 2**-32 chance


async def test_a_refusal_with_an_endless_body_is_cut_and_raised():
    client_end, server_end = trio.testing.memory_stream_pair()
    server = Server(server_end)

    async def refuse_forever() -> None:
        await server.events()
        headers = [(b"transfer-encoding", b"chunked")]
        await server.send(RejectConnection(status_code=503, headers=headers, has_body=True))
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            while True:
                await server.send(RejectData(data=b"x" * 8192, body_finished=False))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(refuse_forever)
        with pytest.raises(ConnectionRejected) as refused:
            await WebSocket.connect(client_end, "h", "/")
        await client_end.aclose()
    assert refused.value.status_code == 503
    assert len(refused.value.body) == 65536
