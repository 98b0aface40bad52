"""AudioSocket over any ``trio.abc.Stream`` (a TCP socket or an in-memory pair).

Thin I/O around the sans-IO ``audiosocket.Connection``: every message is
encoded into one buffer and written with one ``send_all``, because Asterisk
drops the call when a header and its payload arrive more than ~5 ms apart.
"""

from __future__ import annotations

import trio

from agent.wire.audiosocket import CLOSED, NEED_DATA, Audio, Connection, Event, Hangup, Role

RECEIVE_SIZE = 16384


class AudioSocketStream:
    """One AudioSocket connection, as either side.

    ``receive_event`` returns the next message, or ``None`` once the peer has
    closed (for Asterisk that is how a caller's hang-up looks; a reset counts the
    same). Protocol violations raise ``RemoteProtocolError``.
    """

    def __init__(
        self, stream: trio.abc.Stream, role: Role, *, max_payload: int | None = None
    ) -> None:
        self.stream = stream
        self.role = role
        self._conn = (
            Connection(role) if max_payload is None else Connection(role, max_payload=max_payload)
        )
        # Several tasks may send (playout, the final hang-up); the lock keeps a
        # message whole and fails loudly rather than interleaving bytes.
        self._send_lock = trio.StrictFIFOLock()
        self.bytes_received = 0
        self.bytes_sent = 0

    @property
    def connection(self) -> Connection:
        return self._conn

    async def receive_event(self) -> Event | None:
        conn = self._conn
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                try:
                    data = await self.stream.receive_some(RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                self.bytes_received += len(data)
                conn.receive_data(data)
                continue
            if event is CLOSED:
                return None
            return event

    async def send(self, event: Event) -> None:
        data = self._conn.send(event)
        lock = self._send_lock
        try:
            # The usual case, fifty times a second per call: nobody else is
            # sending. Taking the lock without ``async with`` saves a trip through
            # the scheduler per frame; send_all still checkpoints.
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
            await self.stream.send_all(data)
        finally:
            lock.release()
        self.bytes_sent += len(data)

    async def send_audio(self, pcm: bytes, sample_rate: int = 8000) -> None:
        await self.send(Audio(pcm, sample_rate))

    async def send_hangup(self) -> None:
        await self.send(Hangup())

    async def aclose(self) -> None:
        await self.stream.aclose()
