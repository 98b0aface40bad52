"""Caller audio to the STT session, through the consent gate (``consent``).

The brain's reader hook hands every caller frame to ``SttFeed.audio`` (sync).
Until ``open`` the frames are only held by the gate; ``open`` sends the held
start of the caller's sentence first (talk-over), then starts the STT session,
while later frames queue behind it in the channel.

A session that batches its uplink (``uplink``: ``UplinkBatching``) is handed
whole batches: each frame is appended to a buffer (O(1)) and the channel, so
the session's pump task, is woken once per batch rather than once per frame.
What is gathered goes at once when the batch is full or old enough, when the
caller pauses (then frames go one by one for the session's pause window, where
its end-of-speech timing is decided), before a ``finalize`` (pinned to the audio
taken so far) and when the gate opens. Audio never waits past the next frame
for its age to be checked: the reader hands one over every 20 ms, and the end
of speech (the VAD's pause) flushes at once. A session without ``uplink`` gets
every frame as it comes.

A session that takes audio directly (``push_audio``: Deepgram) is handed each
frame without the channel and batches by itself: no task wakes per hand-over
but the session's sender, when a message is due (its ledger bounds the memory,
dropping the oldest audio). It hears about the VAD too: ``caller_pausing`` and,
if it has one, ``caller_speaking`` (the caller's speech start, or loud again
within a pause), so it can batch the caller's silence more than the talk.
Otherwise memory stays bounded as before: ``send_nowait`` on a full channel
drops the batch and counts its frames (``dropped``). The channel has room for
``buffer`` frames plus the gate's ring when batched (so as many bytes as
before); a frame sent on its own around a pause takes a whole slot, so a
stalled session drops sooner there. A session's pump drains the channel at
once, so only a stalled one ever fills it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from agent.base.events import SttEvent
from agent.conversation.consent import ConsentGate, ConsentMode

if TYPE_CHECKING:
    from agent.providers.protocols import SpeechToText
    from agent.providers.stt.uplink import UplinkBatching

log = logging.getLogger(__name__)

_FRAME_S = 0.02  # the caller's frames (AudioSocket, 20 ms)


class SttFeed:
    def __init__(self, stt: SpeechToText, consent: ConsentMode, buffer: int) -> None:
        self.stt = stt
        self.consent = ConsentGate(consent)
        self.to_stt = 0  # frames handed to the session (in batches or one by one)
        self.dropped = 0  # frames dropped: the channel was full
        self.before_gate = 0
        self.batches = 0  # hand-overs to the session (channel messages)
        # Optional on a session (``agent.providers.stt.uplink``): absent, no batching.
        self._uplink: UplinkBatching | None = getattr(stt, "uplink", None)
        self._push: Callable[[bytes], None] | None = getattr(stt, "push_audio", None)
        self._speaking: Callable[[], None] | None = getattr(stt, "caller_speaking", None)
        frames_per_batch = 1
        self._batch_s, self._batch_bytes = 0.0, 0  # 0 bytes: no batching
        # A session that takes the audio directly batches it itself, on each frame.
        if self._uplink is not None and self._push is None:
            frames_per_batch = max(1, round(self._uplink.batch_s / _FRAME_S))
            self._batch_s = self._uplink.batch_s
            self._batch_bytes = int(self._batch_s * stt.sample_rate * 2)
        self._pending = bytearray()
        self._pending_frames = 0
        self._pending_since = 0.0
        self._per_frame_until = -math.inf
        # Room for the held start of a sentence on top of the usual queue; in
        # batches, the same audio in fewer, larger messages.
        room = buffer + self.consent.ring_frames_max
        self._audio_send, self._audio_recv = trio.open_memory_channel[bytes](
            -(-room // frames_per_batch)
        )
        self._events_send, self.events = trio.open_memory_channel[SttEvent](64)

    @property
    def is_open(self) -> bool:
        return self.consent.is_open

    def audio(self, pcm: bytes, now: float) -> None:
        if not self.consent.is_open:
            self.before_gate += 1
            self.consent.hold(pcm, now)
            return
        if not self._batch_bytes or now < self._per_frame_until:
            if self._pending_frames:
                self.flush()
            self._send(pcm, 1)
            return
        if not self._pending_frames:
            self._pending_since = now
        self._append(pcm)
        if now - self._pending_since >= self._batch_s:
            self.flush()

    def caller_speaking(self) -> None:
        """The VAD hears the caller talk: its speech start, or loud again in a pause."""
        if self._speaking is not None:
            self._speaking()

    def caller_pausing(self, now: float) -> None:
        """The VAD heard the caller stop: what waits goes now, then frame by frame
        for the session's pause window; the session is told too."""
        if self._uplink is not None:
            self.flush()
            self._per_frame_until = now + self._uplink.pause_window_s
        self.stt.caller_pausing()

    def finalize(self) -> None:
        """Ask the session to finish the utterance, after the audio gathered so far."""
        self.flush()
        self.stt.finalize()

    def flush(self) -> None:
        """Hand over whatever is gathered, now."""
        if self._pending_frames:
            self._send(bytes(self._pending), self._pending_frames)
            self._pending.clear()
            self._pending_frames = 0

    def _send(self, pcm: bytes, frames: int) -> None:
        if self._push is not None:
            self._push(pcm)
            self.to_stt += frames
            self.batches += 1
            return
        try:
            self._audio_send.send_nowait(pcm)
            self.to_stt += frames
            self.batches += 1
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            if not self.dropped:  # once; the count comes at the end (``report_dropped``)
                log.warning("stt: the session is not taking the caller's audio; dropping it")
            self.dropped += frames

    def report_dropped(self, call_name: str) -> None:
        """At the end of the call: how much caller audio never reached the STT."""
        if self.dropped:
            seconds = self.dropped * _FRAME_S
            log.warning("call %s: %.1f s of caller audio never reached the STT", call_name, seconds)

    async def open(self, nursery: trio.Nursery, *, caller_speaking: bool) -> None:
        """Open the gate now and start the STT session in ``nursery``."""
        for pcm in self.consent.open(trio.current_time(), caller_speaking=caller_speaking):
            self._gather(pcm)
        self.flush()
        await nursery.start(self._run)

    def _gather(self, pcm: bytes) -> None:
        """A held frame released by the gate: batched like the rest, never by age."""
        if not self._batch_bytes:
            self._send(pcm, 1)
            return
        self._append(pcm)

    def _append(self, pcm: bytes) -> None:
        """Gather one frame; a full batch goes at once."""
        self._pending += pcm
        self._pending_frames += 1
        if len(self._pending) >= self._batch_bytes:
            self.flush()

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with self._events_send:
            await self.stt.run(self._audio_recv, self._events_send, task_status=task_status)
