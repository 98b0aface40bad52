"""AudioSocket over any ``trio.abc.Stream`` (a TCP socket or an in-memory pair).

Thin I/O around the sans-IO ``audiosocket.Connection``: every message is
encoded into one buffer and written with one send, because Asterisk drops the
call when a header and its payload arrive more than ~5 ms apart.

Caller audio can also be read without waiting (``read_nowait``, once a poller
saw the socket readable: ``agent.media.inbound``), and audio frames can go
without waiting (``send_audio_nowait``: one non-blocking ``send`` on a TCP
socket, which is what the media clock uses for every call's frames); what the
socket could not take is kept, in order, for an awaiting ``flush``.
"""

from __future__ import annotations

import os

import trio

from agent.media.eager import acquire_eagerly
from agent.wire.audiosocket import (
    CLOSED,
    NEED_DATA,
    Connection,
    Event,
    Hangup,
    Role,
    State,
)

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
        # The socket of a TCP stream, for sends that never wait (other streams,
        # such as the tests' in-memory ones, always take the awaiting path).
        self._socket = stream.socket if isinstance(stream, trio.SocketStream) else None
        # What send_audio_nowait could not write: goes first on the next awaiting send.
        self._kept = b""
        self.bytes_received = 0
        self.bytes_sent = 0

    @property
    def connection(self) -> Connection:
        return self._conn

    async def receive_event(self) -> Event | None:
        event = await self.receive_audio_or_event(0)
        assert type(event) is not bytes  # no audio is 0 Hz
        return event

    async def receive_audio_or_event(self, rate: int) -> bytes | Event | None:
        """Like ``receive_event``, but audio at ``rate`` Hz comes as its bare PCM
        (the reader's per-frame path: no event object)."""
        conn = self._conn
        while True:
            event = conn.next_audio_or_event(rate)
            if event is NEED_DATA:
                data = await self._receive_some()
                self.bytes_received += len(data)
                conn.receive_data(data)
                continue
            if event is CLOSED:
                return None
            return event

    @property
    def fileno(self) -> int | None:
        """The TCP socket's descriptor, for a poller (None: not a TCP stream, or closed)."""
        sock = self._socket
        if sock is None:
            return None
        fd = sock.fileno()
        return fd if fd >= 0 else None

    def read_nowait(self) -> bool:
        """One non-blocking read of what the peer sent into the codec (the poller's
        path, after the socket was readable): False when nothing had come. The
        peer's close or a reset reaches the codec as its EOF."""
        fd = self.fileno
        try:
            data = os.read(fd, RECEIVE_SIZE) if fd is not None else b""
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        self.bytes_received += len(data)
        self._conn.receive_data(data)
        return True

    async def _receive_some(self) -> bytes:
        """What the peer sent next; b"" once it closed (a reset counts the same)."""
        sock = self._socket
        if sock is None:
            try:
                return await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return b""
        # A TCP socket: wait until it is readable, then one plain read. Trio's own
        # receive_some first tries a read that fails (a frame arrives every 20 ms,
        # so it is nearly never there yet), raising and catching an exception and
        # entering a cancel scope per frame; this is one syscall per frame.
        while True:
            try:
                await trio.lowlevel.wait_readable(sock)
                fd = sock.fileno()
                return os.read(fd, RECEIVE_SIZE) if fd >= 0 else b""
            except BlockingIOError:
                continue  # a spurious wake-up
            except (OSError, trio.ClosedResourceError):
                return b""

    async def send(self, event: Event) -> None:
        await self._write(self._conn.send(event))

    async def _write(self, data: bytes) -> None:
        lock = self._send_lock
        await acquire_eagerly(lock)  # (nobody else sending: send_all is the checkpoint)
        try:
            if self._kept:
                data, self._kept = self._kept + data, b""
            await self.stream.send_all(data)
        finally:
            lock.release()
        self.bytes_sent += len(data)

    def send_audio_nowait(self, pcm: bytes, sample_rate: int = 8000) -> bool:
        """Send one audio message now, without waiting, if the socket takes it whole.

        False: what is left of it (all of it, when another send is under way or
        the stream is not a TCP socket) is kept for ``flush``, which must be
        awaited before the next frame so that frames keep their order.
        """
        data = self._conn.send_audio(pcm, sample_rate)
        sock = self._socket
        if self._kept or sock is None or self._send_lock.locked():
            self._kept += data
            return False
        fd = sock.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("the AudioSocket connection is closed")
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            raise trio.BrokenResourceError(f"AudioSocket send failed: {exc}") from exc
        self.bytes_sent += written
        if written == len(data):
            return True
        self._kept = data[written:]
        return False

    async def flush(self) -> None:
        """Send, awaiting, what ``send_audio_nowait`` could not."""
        if self._kept:
            await self._write(b"")

    async def send_audio(self, pcm: bytes, sample_rate: int = 8000) -> None:
        await self._write(self._conn.send_audio(pcm, sample_rate))

    async def send_hangup(self) -> None:
        await self.send(Hangup())

    async def aclose(self) -> None:
        await self.stream.aclose()


class AudioSink:
    """A call's outbound frames (the playout's ``FrameSink``) at ``sample_rate``.

    After the caller's EOF there is nobody to send to: the reader has already
    ended the call, and a send now would be refused by the codec, so frames are
    dropped.
    """

    def __init__(self, stream: AudioSocketStream, sample_rate: int) -> None:
        self._stream = stream
        self._conn = stream.connection
        self._rate = sample_rate

    def send_nowait(self, frame: bytes) -> bool:
        if self._conn.their_state is State.CLOSED:
            return True
        return self._stream.send_audio_nowait(frame, self._rate)

    async def flush(self) -> None:
        if self._conn.their_state is State.CLOSED:
            return
        await self._stream.flush()
