"""Deepgram live STT: the caller's audio on its way out, without I/O.

``AudioLedger`` is what to send: it keeps what was sent until a final result
covers it and what could not be sent yet, so a reconnect loses no audio.

``AudioBatcher`` is when to send it. Every WebSocket message costs the agent a
task wake-up, a wsproto frame and a TLS record (the uplink was a sixth of the
agent's CPU in a load profile), and Deepgram recommends 20-250 ms of audio per
message. So frames are gathered: into ``batch_ms`` messages while the caller
talks (the interim results keep their pace), into ``MAX_MESSAGE_MS`` messages
(whole frames: 240 ms) while the caller is quiet (the agent talking, the
silences between turns: no words can come out of it sooner). Where batching
would add latency it stops:

* the caller starts talking (the VAD's speech start): what waits goes at once
  when it is older than a talking batch;
* the caller pauses (the VAD's pause): what waits goes at once (the last
  words), and Deepgram times its endpointing (``speech_final``) on the audio it
  has received, so the frames that can complete its silence go one by one:
  from ``PAUSE_LEAD_MS`` before the endpointing time to ``PAUSE_MARGIN_MS``
  after it, or until Deepgram has ended the turn. The silence before that is
  gathered, as the gathered frames go with the first one due on its own.

Pure: no trio, no sockets; times are passed in.
"""

from __future__ import annotations

import math
from collections import deque

import attrs

from agent.providers.stt.uplink import UplinkBatching

__all__ = ["MAX_MESSAGE_MS", "PAUSE_LEAD_MS", "PAUSE_MARGIN_MS", "AudioBatcher", "AudioLedger"]

# Deepgram's recommended upper bound for the audio in one message; the caller's
# silence and replays of a backlog go in messages of at most this much.
MAX_MESSAGE_MS = 250
# Frame-by-frame sending lasts this much beyond the endpointing time: room for
# the VAD and Deepgram to disagree a little on where the speech ended.
PAUSE_MARGIN_MS = 300
# ... and starts this much before it: Deepgram may hear the speech end before
# the VAD does (a quiet tail, a breath). The silence before is gathered.
PAUSE_LEAD_MS = 200
_FRAME_MS = 20  # the caller's frames; a batch of one frame is no batching at all


@attrs.define
class AudioBatcher:
    """Decides when the unsent audio goes out; the ledger holds it.

    Every method takes ``unsent`` (bytes waiting, from the ledger) where it
    matters, so the two cannot disagree. The pump tells it about each frame
    (``added``: wake the sender?); the sender asks ``due`` before sending,
    ``sleep_until`` before sleeping and reports ``sent``. Audio waits for a
    batch at most its batch time (``batch_s`` while the caller talks,
    ``quiet_s`` otherwise; when frames stop coming mid-batch, the pump's alarm,
    ``pump_alarm_at``, wakes the sender). The caller's side reports the VAD:
    ``speaking``, ``pausing``; the receiver reports the STT's ``turn_ended``.
    """

    batch_bytes: int  # while the caller talks
    batch_s: float
    max_message_bytes: int
    pause_window_s: float  # after a pause, frame by frame until then at most
    quiet_bytes: int  # while the caller is quiet
    quiet_s: float
    pause_gather_s: float  # after a pause, gathered until then
    # When the oldest unsent audio arrived; None: nothing unsent; -inf: late
    # already (a replay backlog, or the last words before a pause).
    _oldest_at: float | None = attrs.field(default=None, init=False)
    _backlog: bool = attrs.field(default=False, init=False)  # a replay: all of it at once
    # The sender knows about the unsent audio (woken for it, or asleep with its
    # deadline), so the pump need not watch the clock for it.
    _sender_knows: bool = attrs.field(default=False, init=False)
    _speaking: bool = attrs.field(default=False, init=False)  # from speech start to a pause
    _paused_at: float = attrs.field(default=-math.inf, init=False)
    _per_frame_from: float = attrs.field(default=math.inf, init=False)
    _per_frame_until: float = attrs.field(default=-math.inf, init=False)

    @classmethod
    def for_stream(cls, sample_rate: int, batch_ms: int, endpointing_ms: int) -> AudioBatcher:
        bytes_per_ms = sample_rate * 2 / 1000
        batch_bytes = max(2, int(batch_ms * bytes_per_ms))
        max_message_bytes = max(batch_bytes, int(MAX_MESSAGE_MS * bytes_per_ms))
        # DEEPGRAM_BATCH_MS=20 is documented as every frame alone: in silence too.
        # Otherwise whole frames up to MAX_MESSAGE_MS (240 ms): one message each.
        quiet_ms = max(batch_ms, MAX_MESSAGE_MS // _FRAME_MS * _FRAME_MS)
        if batch_ms <= _FRAME_MS:
            quiet_ms = batch_ms
        return cls(
            batch_bytes=batch_bytes,
            batch_s=batch_ms / 1000,
            max_message_bytes=max_message_bytes,
            pause_window_s=(endpointing_ms + PAUSE_MARGIN_MS) / 1000,
            quiet_bytes=min(max_message_bytes, max(2, int(quiet_ms * bytes_per_ms))),
            quiet_s=quiet_ms / 1000,
            pause_gather_s=max(0, endpointing_ms - PAUSE_LEAD_MS) / 1000,
        )

    def uplink(self) -> UplinkBatching:
        """The same batching asked of the caller's side, so each hand-over is one batch."""
        return UplinkBatching(self.batch_s, self.pause_window_s)

    def per_frame(self, now: float) -> bool:
        """Inside a pausing window's frame-by-frame part: every frame goes on its own."""
        return self._per_frame_from <= now < self._per_frame_until

    def due(self, unsent: int, now: float, *, flush: bool = False) -> bool:
        """Should the sender send now? ``flush``: the audio ends or a Finalize waits."""
        if unsent <= 0:
            return False
        oldest = self._oldest_at
        if flush or oldest is None or self._per_frame_from <= now < self._per_frame_until:
            return True
        if self._speaking:
            return unsent >= self.batch_bytes or now >= oldest + self.batch_s
        return unsent >= self.quiet_bytes or now >= oldest + self.quiet_s

    def added(self, unsent: int, now: float) -> bool:
        """A frame arrived and ``unsent`` bytes now wait. True: wake the sender."""
        if unsent <= 0:
            return False  # an empty frame: nothing to send
        if self._oldest_at is None:
            self._oldest_at = now
        if self.due(unsent, now):
            self._sender_knows = True
            return True
        return False

    def pump_alarm_at(self, unsent: int) -> float:
        """When the pump must wake the sender if no frame comes first (inf: never)."""
        if unsent <= 0 or self._sender_knows or self._oldest_at is None:
            return math.inf
        return self._oldest_at + self._wait_s()

    def pump_alarm_rang(self) -> None:
        """The pump woke the sender for audio whose batch time ran out."""
        self._sender_knows = True

    def sleep_until(self, unsent: int, keepalive_at: float) -> float:
        """When the sender, about to sleep, must wake by itself."""
        if unsent <= 0 or self._oldest_at is None:
            return keepalive_at
        self._sender_knows = True
        return min(keepalive_at, self._oldest_at + self._wait_s())

    def sent(self, unsent: int, now: float) -> None:
        """A message went out at ``now`` and ``unsent`` bytes still wait.

        The tail of a replay backlog follows at once. Otherwise what is left came
        while the message was being written: a new batch, timed from ``now`` (not
        from the message's age, which would send it at once, a frame or two at a
        time while sends are slow).
        """
        if unsent <= 0:
            self._oldest_at = None
            self._sender_knows = False
            self._backlog = False
        elif not self._backlog:
            self._oldest_at = now

    def rewound(self, unsent: int) -> None:
        """A new connection: the audio to replay is late already."""
        if unsent > 0:
            self._oldest_at = -math.inf
            self._backlog = True

    def speaking(self, now: float) -> None:
        """The VAD hears the caller talk (a speech start, or loud again after a pause)."""
        self._speaking = True
        if now < self._per_frame_from:
            # The pause was one between words: no frame-by-frame sending for it.
            self._per_frame_from, self._per_frame_until = math.inf, -math.inf

    def pausing(self, now: float) -> None:
        """The VAD heard the caller stop: what waits goes now, then the window."""
        self._speaking = False
        if self._oldest_at is not None:
            self._oldest_at = -math.inf  # the last words: at once, as before the pause
        self._paused_at = now
        if self.per_frame(now):  # already frame by frame: go on, and longer
            self._per_frame_until = max(self._per_frame_until, now + self.pause_window_s)
        else:
            self._per_frame_from = now + self.pause_gather_s
            self._per_frame_until = now + self.pause_window_s

    def turn_ended(self, now: float) -> None:
        """The STT ended the caller's turn (``speech_final``, or its answer to a
        Finalize). If that can be the last pause's endpointing (it came once frame
        by frame sending would have begun for it), nothing is left to time: the
        window ends. An earlier pause's final, received sooner after a later pause,
        leaves the later one's window alone."""
        if now >= self._paused_at + self.pause_gather_s:
            self._per_frame_from, self._per_frame_until = math.inf, -math.inf

    def _wait_s(self) -> float:
        return self.batch_s if self._speaking else self.quiet_s


class AudioLedger:
    """The call's audio not yet safe on the server, for replay after a drop.

    Frames stay here after they are sent until a final result covers them, so a
    new connection can start where the last final ended: nothing in flight on
    a dead socket is lost, and no finalized speech is transcribed twice. The
    total is bounded; when full, the oldest frames go (sent ones first in time).
    """

    def __init__(self, sample_rate: int, max_seconds: float) -> None:
        if sample_rate <= 0 or max_seconds <= 0:
            raise ValueError(f"sample_rate={sample_rate}, max_seconds={max_seconds}: positive")
        self.bytes_per_second = sample_rate * 2
        self.max_bytes = max(2, int(max_seconds * self.bytes_per_second))
        # Two queues, each used at its ends only (a deque indexed in the middle walks
        # its blocks): sent on this connection and not yet covered by a final, then
        # not sent yet. The call position of the first frame of the two is _base.
        self._sent: deque[bytes] = deque()
        self._unsent: deque[bytes] = deque()
        self._sent_held = 0  # bytes in _sent
        self._unsent_held = 0  # bytes in _unsent
        self._base = 0
        self._connection_start = 0  # call position (bytes) where this connection began
        self._taken_to = 0  # call position (bytes) where the message being sent ends
        self.pushed_bytes = 0
        self.sent_bytes = 0  # counting replays
        self.dropped_bytes = 0  # never sent at all: audio the recogniser missed

    def push(self, frame: bytes) -> None:
        if not frame:
            return  # an empty binary frame means end of stream to Deepgram
        self._unsent.append(frame)
        self._unsent_held += len(frame)
        self.pushed_bytes += len(frame)
        while self._sent_held + self._unsent_held > self.max_bytes and (
            len(self._sent) + len(self._unsent) > 1
        ):
            if self._sent:  # the oldest first: sent ones are older than unsent ones
                old = self._sent.popleft()
                self._sent_held -= len(old)
            else:
                old = self._unsent.popleft()
                self._unsent_held -= len(old)
                self.dropped_bytes += len(old)
            self._base += len(old)

    def next_unsent(self, limit: int) -> bytes | None:
        """The next message: whole unsent frames, as many as fit in ``limit`` bytes
        (one at least). ``mark_sent`` once it is out."""
        if not self._unsent:
            return None
        parts: list[bytes] = []
        size = 0
        for frame in self._unsent:
            if parts and size + len(frame) > limit:
                break
            parts.append(frame)
            size += len(frame)
        self._taken_to = self.position + size
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def mark_sent(self) -> None:
        """The message from ``next_unsent`` is out.

        By position, not by count: frames pushed (or dropped when full) while it
        was being written do not shift what it covered.
        """
        unsent, sent = self._unsent, self._sent
        while unsent and self.position + len(unsent[0]) <= self._taken_to:
            frame = unsent.popleft()
            size = len(frame)
            self._unsent_held -= size
            sent.append(frame)
            self._sent_held += size
            self.sent_bytes += size

    @property
    def position(self) -> int:
        """Call position (bytes) of the next frame to send."""
        return self._base + self._sent_held

    def acknowledge(self, connection_seconds: float) -> None:
        """A final covers the connection's audio up to ``connection_seconds``."""
        covered = self._connection_start + int(connection_seconds * self.bytes_per_second)
        sent = self._sent
        while sent and self._base + len(sent[0]) <= covered:
            old = sent.popleft()
            self._sent_held -= len(old)
            self._base += len(old)

    def rewind(self) -> float:
        """A new connection: resend from the oldest unacknowledged frame.

        Returns that frame's position in the call (seconds), the offset to add to
        the new connection's timestamps.
        """
        self._sent.extend(self._unsent)
        self._unsent, self._sent = self._sent, deque()
        self._unsent_held += self._sent_held
        self._sent_held = 0
        self._connection_start = self._base
        return self._base / self.bytes_per_second

    @property
    def unsent_bytes(self) -> int:
        return self._unsent_held
