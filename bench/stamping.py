"""A caller stream that stamps each silent frame with its send time (latency.py).

The softphone sends each AudioSocket message in one ``send_all``; an audio
message whose 320-byte payload is all zeros (the softphone's silence) leaves
carrying its wall-clock send time instead (``tests.fakes.framestamp``), so the
fake Deepgram can tell when the frame that ended an utterance left the caller.
"""

from __future__ import annotations

import trio

from tests.fakes.framestamp import stamped_silence

_HEADER = b"\x10\x01\x40"  # 8 kHz audio, 320 bytes
_SILENT = _HEADER + bytes(320)


class StampingStream(trio.abc.HalfCloseableStream):
    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream

    async def send_all(self, data) -> None:
        if data == _SILENT:
            data = _HEADER + stamped_silence(320)
        await self._stream.send_all(data)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await self._stream.receive_some(max_bytes)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()
