"""A call's inbound frame path: the flood budget, the VAD, the recorder, the brain's hooks.

One object per call, used from two places: the call's own reader task (which
awaits the socket, and handles every message that is not plain caller audio),
and the process's inbound poller (``agent.media.inbound``), which runs it inline
when the call's socket is readable and hands the call back to its reader for
anything else. Either way a frame is handled the same way, in the same order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

import trio

from agent.media.limits import AudioBudget
from agent.media.stream import AudioSocketStream
from agent.wire.audiosocket import CLOSED, NEED_DATA, Event

if TYPE_CHECKING:
    from dsp import EnergyVad

log = logging.getLogger(__name__)


class _Flood:
    """Handed to the reader: a frame beyond the budget was dropped; pause reading."""


FLOOD: Final = _Flood()


class CallSide(Protocol):
    """What the frame path needs of its call (``agent.media.call.Call``)."""

    stream: AudioSocketStream
    sample_rate: int
    vad: EnergyVad
    observer: Any | None  # agent.media.call.CallObserver
    recorder: Any | None  # agent.media.call.FrameRecorder
    last_receive_at: float | None

    @property
    def name(self) -> str: ...


class CallerAudio:
    """Hands each caller frame to the VAD, the recorder, the brain and the observer."""

    def __init__(self, call: CallSide, brain: Any, budget: AudioBudget) -> None:
        """``brain``: the call's (``agent.media.call.Brain``), made by now."""
        self._call = call
        self._stream = stream = call.stream
        self._conn = stream.connection
        self._rate = call.sample_rate
        self._vad = vad = call.vad
        self._process = vad.process
        self._budget = budget
        self._take = budget.take
        self._brain = brain
        self._on_audio = brain.on_audio
        self._observer = call.observer
        recorder = call.recorder
        self._record: Callable[[bytes, float], None] | None = (
            recorder.caller if recorder is not None else None
        )
        # The run's clock itself (trio.current_time() is three calls deep per frame).
        self._clock_now = trio.lowlevel.current_clock().current_time
        # What the poller handed back for the reader: an event, None (EOF) or FLOOD.
        self._handed: Event | bytes | _Flood | None = None

    def frame(self, pcm: bytes, now: float) -> bool:
        """Handle one frame of caller audio; False: beyond the flood budget, dropped
        (the reader then pauses, so a flood waits in the kernel, not here)."""
        if not self._take(len(pcm), now):
            budget = self._budget
            if budget.dropped_frames == 1:
                log.warning(
                    "call %s: the peer sends audio faster than real time; dropping"
                    " what exceeds a %.1f s burst (VOICE_AGENT_AUDIO_BURST_S)",
                    self._call.name,
                    budget.burst_s,
                )
            return False
        transition = self._process(pcm)
        if self._record is not None:
            self._record(pcm, now)
        self._on_audio(pcm, now)
        if transition:
            if self._observer is not None:
                self._observer.vad(transition, now)
            self._brain.on_vad(transition, self._vad.level_dbfs, now)
        return True

    # --- the poller's side -------------------------------------------------------

    def inbound_ready(self) -> bool:
        """The socket is readable: read once, handle every whole frame; False (with
        ``handed`` set) when the reader must take over. What a hook raises is the
        reader's too."""
        if not self._stream.read_nowait():
            return True  # a spurious wake-up
        now = self._call.last_receive_at = self._clock_now()
        conn, rate, frame = self._conn, self._rate, self.frame
        while True:
            # A malformed message raises here: the poller raises it in the reader.
            event = conn.next_audio_or_event(rate)
            if event is NEED_DATA:
                return True
            if type(event) is bytes:
                if frame(event, now):
                    continue
                self._handed = FLOOD
            else:
                self._handed = None if event is CLOSED else event  # type: ignore[assignment]
            return False

    def handed(self) -> Event | bytes | _Flood | None:
        """What the poller handed over (once)."""
        handed, self._handed = self._handed, None
        return handed


def buffered_event(stream: AudioSocketStream, rate: int) -> Any:
    """The next message already in the codec's buffer (None at EOF), or NEED_DATA."""
    event = stream.connection.next_audio_or_event(rate)
    return None if event is CLOSED else event
