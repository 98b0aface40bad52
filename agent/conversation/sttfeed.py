"""Caller audio to the STT session, through the consent gate (``consent``).

The brain's reader hook hands every caller frame to ``SttFeed.audio`` (sync,
``send_nowait``: a full channel drops the frame and counts it). Until ``open``
the frames are only held by the gate; ``open`` sends the held start of the
caller's sentence first (talk-over), then starts the STT session, while later
frames queue behind it in the channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from agent.base.events import SttEvent
from agent.conversation.consent import ConsentGate, ConsentMode

if TYPE_CHECKING:
    from agent.providers.protocols import SpeechToText


class SttFeed:
    def __init__(self, stt: SpeechToText, consent: ConsentMode, buffer: int) -> None:
        self.stt = stt
        self.consent = ConsentGate(consent)
        self.to_stt = 0
        self.dropped = 0
        self.before_gate = 0
        # Room for the held start of a sentence on top of the usual queue.
        room = buffer + self.consent.ring_frames_max
        self._audio_send, self._audio_recv = trio.open_memory_channel[bytes](room)
        self._events_send, self.events = trio.open_memory_channel[SttEvent](64)

    @property
    def is_open(self) -> bool:
        return self.consent.is_open

    def audio(self, pcm: bytes, now: float) -> None:
        if not self.consent.is_open:
            self.before_gate += 1
            self.consent.hold(pcm, now)
            return
        self._send(pcm)

    def _send(self, pcm: bytes) -> None:
        try:
            self._audio_send.send_nowait(pcm)
            self.to_stt += 1
        except (trio.WouldBlock, trio.BrokenResourceError):
            self.dropped += 1

    async def open(self, nursery: trio.Nursery, *, caller_speaking: bool) -> None:
        """Open the gate now and start the STT session in ``nursery``."""
        for pcm in self.consent.open(trio.current_time(), caller_speaking=caller_speaking):
            self._send(pcm)
        await nursery.start(self._run)

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with self._events_send:
            await self.stt.run(self._audio_recv, self._events_send, task_status=task_status)
