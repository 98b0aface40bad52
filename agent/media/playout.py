"""Paced playout: the agent's audio to the caller, one 20 ms frame per clock tick.

Asterisk never paces or smooths what we send: a burst is played too fast or
dropped, a gap is heard as a gap. So one 20 ms frame leaves every 20 ms on
absolute deadlines (the C token-bucket pacer says when), silence when there is
nothing to say. When speech becomes ready after silence the grid re-phases:
the first speech frame goes at once instead of waiting up to 20 ms for the next
silence slot, so idle silence never adds to the reply's latency.

Controls are synchronous so the reader task can stop agent speech within the
current frame on barge-in: ``pause()`` (keep the buffer, send silence),
``resume()`` and ``clear()`` (drop everything queued).

The frames are sent by the process's media clock (``agent.media.clock``), one
task for every call, with a non-blocking send; only a frame the socket cannot
take whole is left to this playout's own task, which sends it awaiting while
its call is off the clock (so its frames keep their order).
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable

import trio

from agent.base.events import AudioChunk, PlayoutProgress
from agent.media.clock import MediaClock
from agent.media.sink import AwaitingSink, FrameSink
from dsp import FRAME_MS, Pacer, PacerParams, frame_bytes

# Compact an utterance's buffer once this much has been sent from its front.
_COMPACT_AT = 32768


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


class Utterance:
    """One agent reply on its way out: what was queued and what actually left.

    ``finished`` is set when its last frame has been sent or it was cleared
    (``cut`` says which). ``heard_text`` is the text of the audio that left,
    from the alignment the TTS gave with each chunk.
    """

    def __init__(self, utterance_id: int) -> None:
        self.id = utterance_id
        self.total_bytes = 0
        self.sent_bytes = 0
        self.closed = False
        self.cut = False
        self.first_frame_at: float | None = None
        self.last_frame_at: float | None = None
        self.finished = trio.Event()
        self._buf = bytearray()
        self._off = 0
        # (start byte, end byte, text) of each chunk, for heard_text.
        self._spans: list[tuple[int, int, str]] = []

    @property
    def heard_text(self) -> str:
        sent = self.sent_bytes
        parts = []
        for start, end, text in self._spans:
            if end <= sent:
                parts.append(text)
            elif start < sent:
                parts.append(text[: len(text) * (sent - start) // (end - start)])
                break
            else:
                break
        return "".join(parts)

    @property
    def full_text(self) -> str:
        return "".join(text for _, _, text in self._spans)

    def progress(self) -> PlayoutProgress:
        return PlayoutProgress(
            utterance_id=self.id,
            sent_bytes=self.sent_bytes,
            total_bytes=self.total_bytes,
            heard_text=self.heard_text,
            finished=self.finished.is_set() and not self.cut,
        )

    def _append(self, pcm: bytes, text: str) -> None:
        start = self.total_bytes
        self._buf += pcm
        self.total_bytes += len(pcm)
        if text:
            self._spans.append((start, self.total_bytes, text))

    def _available(self) -> int:
        return len(self._buf) - self._off

    def _take(self, n: int) -> bytes:
        off = self._off
        with memoryview(self._buf) as view:  # one copy of the frame, not two
            frame = bytes(view[off : off + n])
        self._off = off + len(frame)
        self.sent_bytes += len(frame)
        if self._off >= _COMPACT_AT:
            del self._buf[: self._off]
            self._off = 0
        return frame

    def _finish(self, now: float, *, cut: bool) -> None:
        self.cut = cut
        self.closed = True
        if not cut:
            self.last_frame_at = now
        self._buf = bytearray()
        self._off = 0
        self.finished.set()


class Playout:
    """Re-frames queued PCM into 20 ms frames and sends each on time.

    ``send_frame`` takes each frame: a ``FrameSink`` (a call's AudioSocket), or an
    async function that sends one frame. ``on_frame`` sees every frame sent (the
    VAD's echo guard). ``clock`` is the process's media clock; without one the
    playout runs its own in its task.
    """

    def __init__(
        self,
        send_frame: FrameSink | Callable[[bytes], Awaitable[None]],
        *,
        sample_rate: int = 8000,
        pacer_params: PacerParams | None = None,
        on_frame: Callable[[bytes], None] | None = None,
        clock: MediaClock | None = None,
    ) -> None:
        self._sink = send_frame if isinstance(send_frame, FrameSink) else AwaitingSink(send_frame)
        self._on_frame = on_frame
        self._clock = clock
        self.sample_rate = sample_rate
        self.frame_bytes = frame_bytes(sample_rate, FRAME_MS)
        self._silence = bytes(self.frame_bytes)
        self._pacer = Pacer(pacer_params or PacerParams())
        self._queue: collections.deque[Utterance] = collections.deque()
        self._paused = False
        self._next_id = 0
        self._last_was_speech = False
        # On the clock's schedule (not stopped, not waiting for its own sender).
        self._on_clock = False
        self._rephase_asked = False
        # Set by the clock when this playout's own task has work: a frame to send
        # awaiting, or the error a tick raised.
        self._stalled = trio.Event()
        self._error: Exception | None = None
        # The frame our task is sending (what the clock could not), and its tick's
        # details: (frame, speech, the utterance it completes, when).
        self._held: tuple[bytes, bool, Utterance | None, float] | None = None
        # Told (with ``now``, after the frame that made the change) when an
        # utterance starts being heard or stops (finished or cleared), so
        # listeners never need to poll.
        self.on_change: Callable[[float], None] | None = None
        self._changed = False
        self.last_send_at: float | None = None
        self.last_speech_at: float | None = None  # the last frame of speech left then
        self.speech_frames = 0
        self.silence_frames = 0
        self.underruns = 0
        self.fallback_sends = 0

    # --- producer side ----------------------------------------------------------

    def open_utterance(self) -> Utterance:
        self._next_id += 1
        utterance = Utterance(self._next_id)
        self._queue.append(utterance)
        return utterance

    def write(self, utterance: Utterance, chunk: AudioChunk | bytes) -> None:
        if utterance.closed:
            raise RuntimeError(f"utterance {utterance.id} is closed")
        if isinstance(chunk, AudioChunk):
            utterance._append(chunk.pcm, chunk.text)
        else:
            utterance._append(chunk, "")
        self._wake()

    def close_utterance(self, utterance: Utterance) -> None:
        """No more audio will come for it; its last partial frame is padded."""
        if not utterance.closed:
            utterance.closed = True
            self._wake()

    # --- controls (sync, take effect at the next frame) ------------------------

    def pause(self) -> None:
        """Stop agent speech at once; keep the buffer; silence is sent."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wake()

    def clear(self) -> None:
        """Drop every queued utterance (barge-in confirmed)."""
        now = trio.current_time()
        if self._queue:
            # Reported after the next frame, not from here: clear() is called by
            # the very listener that would be told (no re-entry).
            self._changed = True
        while self._queue:
            self._queue.popleft()._finish(now, cut=True)
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def has_speech(self) -> bool:
        """Agent audio is queued or going out (paused or not)."""
        return bool(self._queue)

    @property
    def speaking(self) -> bool:
        """Agent speech is leaving right now (queued and not paused)."""
        return bool(self._queue) and not self._paused

    def statistics(self) -> dict[str, int]:
        return {
            "frames_sent": self._pacer.frames_sent,
            "late_frames": self._pacer.late_frames,
            "speech_frames": self.speech_frames,
            "silence_frames": self.silence_frames,
            "underruns": self.underruns,
            "fallback_sends": self.fallback_sends,
            "queued_utterances": len(self._queue),
        }

    # --- the task and the clock's tick ---------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Put this playout on the media clock until cancelled; send what the clock
        could not; raise what a tick raised."""
        if self._clock is not None:
            await self._serve(self._clock, task_status)
            return
        async with trio.open_nursery() as nursery:
            await self._serve(MediaClock(nursery), task_status)

    async def _serve(self, clock: MediaClock, task_status: trio.TaskStatus[None]) -> None:
        self._clock = clock
        now = trio.current_time()
        self._pacer.reset(_us(now))
        self._on_clock = True
        clock.schedule(self, now)
        try:
            task_status.started()
            while True:
                await self._stalled.wait()
                if self._error is not None:
                    raise self._error
                self.fallback_sends += 1
                await self._sink.flush()
                assert self._held is not None
                frame, speech, finished, at = self._held
                self._held = None
                self._frame_left(frame, speech, finished, at)
                self._stalled = trio.Event()
                self._on_clock = True
                now = trio.current_time()
                clock.schedule(self, self._next_due(now, _us(now)))
        finally:
            self._on_clock = False
            clock.remove(self)

    def clock_tick(self, now: float, horizon: float) -> float | None:
        """The media clock's call: send this playout's frame if it is due by ``horizon``;
        return when the next one is due (None: off the clock until our task flushed)."""
        self._rephase_asked = False
        pacer = self._pacer
        now_us = round(now * 1_000_000)  # (_us inline: twice per frame per call)
        if not self._last_was_speech and self._speech_ready():
            pacer.reset(now_us)  # re-phase: this speech frame goes at once
        due_us = pacer.due_us(now_us)
        if due_us > round(horizon * 1_000_000):
            return due_us / 1_000_000  # an early wake-up (speech went away meanwhile)
        frame, finished = self._take_frame(now)
        speech = frame is not None
        if frame is None:
            frame = self._silence
        pacer.sent(now_us)
        if not self._sink.send_nowait(frame):
            # Off the clock until our task has sent it; the rest of this frame's
            # bookkeeping waits for that too (it is about a frame that left).
            self._held = (frame, speech, finished, now)
            self._on_clock = False
            self._stalled.set()
            return None
        self._frame_left(frame, speech, finished, now)
        return self._next_due(now, now_us)

    def _frame_left(
        self, frame: bytes, speech: bool, finished: Utterance | None, now: float
    ) -> None:
        self.last_send_at = now
        self._last_was_speech = speech
        if speech:
            self.last_speech_at = now
            self.speech_frames += 1
        else:
            self.silence_frames += 1
        if self._on_frame is not None:
            self._on_frame(frame)
        if finished is not None:
            finished._finish(now, cut=False)
            self._changed = True
        if self._changed:
            self._changed = False
            if self.on_change is not None:
                # Not `now` when the send awaited: listeners (the turn-taker) may have
                # seen a later time meanwhile, and time must not go back.
                self.on_change(trio.current_time())

    def clock_failed(self, exc: Exception) -> None:
        self._on_clock = False
        self._error = exc
        self._stalled.set()

    def _next_due(self, now: float, now_us: int) -> float:
        if not self._last_was_speech and self._speech_ready():
            return now  # speech became ready after silence: it goes at once
        return self._pacer.due_us(now_us) / 1_000_000

    def _speech_ready(self) -> bool:
        if self._paused or not self._queue:
            return False
        head = self._queue[0]
        return head._available() >= self.frame_bytes or head.closed

    def _wake(self) -> None:
        # Speech after silence re-phases: its first frame goes now, from the task
        # that made it ready (the clock ticks this playout in place), rather than
        # at its next silence slot or the clock task's next wake-up.
        if (
            self._on_clock
            and not self._last_was_speech
            and not self._rephase_asked
            and self._speech_ready()
        ):
            self._rephase_asked = True
            assert self._clock is not None
            self._clock.tick_now(self)

    def _take_frame(self, now: float) -> tuple[bytes | None, Utterance | None]:
        """Next speech frame, and the utterance it completes (if it is the last)."""
        if self._paused:
            return None, None
        n = self.frame_bytes
        queue = self._queue
        while queue:
            head = queue[0]
            available = len(head._buf) - head._off  # (_available inline: per frame)
            if available >= n or (head.closed and available > 0):
                if head.first_frame_at is None:
                    head.first_frame_at = now
                    self._changed = True
                frame = head._take(n)
                if len(frame) < n:  # the padded tail of a closed utterance
                    frame += bytes(n - len(frame))
                if head.closed and head._available() == 0:
                    queue.popleft()
                    return frame, head
                return frame, None
            if head.closed:  # empty and closed: nothing to play
                queue.popleft()
                head._finish(now, cut=False)
                self._changed = True
                continue
            if head.first_frame_at is not None:
                self.underruns += 1  # the TTS is behind real time
            return None, None
        return None, None
