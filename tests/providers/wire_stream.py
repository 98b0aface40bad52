"""A stand-in stream end for the providers' WebSocket tests: it sends from
synchronous code as ``TlsSocketStream`` does, onto a byte string the test reads."""

from __future__ import annotations

import trio
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import BytesMessage, TextMessage

from agent.providers.websocket import WebSocket


class WireStream(trio.abc.Stream):
    """A stream end that sends from synchronous code onto ``wire``, taking ``room``
    bytes at once and owing the rest to its next ``send_all`` (as
    ``TlsSocketStream``); ``send_all`` waits for ``gate`` while it is set."""

    def __init__(self, room: float = float("inf")) -> None:
        self.wire = bytearray()
        self.room = room
        self.owed = b""
        self.gate: trio.Event | None = None

    def send_nowait(self, data: bytes) -> bool:
        assert not self.owed, "asked to send while it owes"
        taken = data[: int(min(self.room, len(data)))]
        self.wire += taken
        self.room -= len(taken)
        self.owed = data[len(taken) :]
        return not self.owed

    async def send_all(self, data) -> None:
        await trio.lowlevel.checkpoint()
        if self.gate is not None:
            await self.gate.wait()
        self.wire += self.owed + bytes(data)
        self.owed = b""

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes=None) -> bytes:
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


def open_on_wire(stream: trio.abc.Stream) -> WebSocket:
    """An open client WebSocket on ``stream`` (the handshake is tested above)."""
    return WebSocket(stream, Connection(ConnectionType.CLIENT), 1 << 20)


def messages_on(wire: bytes) -> list[bytes | str]:
    """The whole messages on ``wire`` (a message still partly unsent is not one)."""
    server = Connection(ConnectionType.SERVER)
    server.receive_data(bytes(wire))
    messages: list[bytes | str] = []
    parts: list = []
    for event in server.events():
        if isinstance(event, (BytesMessage, TextMessage)):
            parts.append(event.data)
            if event.message_finished:
                messages.append(type(parts[0])().join(parts))
                parts = []
    return messages
