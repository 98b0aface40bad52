"""The placeholder brain (``--brain echo``): a chime, then each utterance played back.

It exercises the whole audio path with no providers: VAD endpointing, paced
playout, and the two-step barge-in (caller speech during playback pauses the
agent at once; if it lasts long enough the playback is dropped, otherwise it
resumes).
"""

from __future__ import annotations

import contextlib
import math
import weakref
from array import array
from typing import TYPE_CHECKING

import attrs
import trio

from agent.media.limits import BoundedFrames
from dsp import VadTransition

if TYPE_CHECKING:
    from agent.media.call import Call


def chime(sample_rate: int = 8000, seconds: float = 0.6) -> bytes:
    """Two soft tones, the echo brain's greeting."""
    n = int(sample_rate * seconds)
    half = n // 2
    samples = array("h")
    for i in range(n):
        freq = 660.0 if i < half else 880.0
        fade = min(1.0, i / 200, (n - i) / 200)
        samples.append(int(6000 * fade * math.sin(2 * math.pi * freq * i / sample_rate)))
    return samples.tobytes()


@attrs.frozen
class EchoParams:
    # Caller speech during playback longer than this drops the playback.
    barge_in_confirm_s: float = 0.2
    # Utterances shorter than this (coughs, clicks) are not echoed.
    min_utterance_s: float = 0.25
    # Frames kept from before the VAD's onset decision, so words are not clipped.
    preroll_frames: int = 5
    # The longest utterance echoed: a caller who never pauses (or a peer sending
    # noise) has only the latest stretch kept.
    max_utterance_s: float = 30.0


class EchoBrain:
    def __init__(self, call: Call, params: EchoParams | None = None) -> None:
        # Weakly: the call holds its brain, and a cycle would outlive the call.
        self.call = weakref.proxy(call)
        self.params = params or EchoParams()
        self.playout = call.playout
        self._rate = call.sample_rate
        self._recent: list[bytes] = []
        self._recording: BoundedFrames | None = None
        self._onset: float | None = None
        self._barge_onset: float | None = None
        self._barge_voiced = 0.0
        self._send, self._receive = trio.open_memory_channel[bytes](8)
        self.echoed = 0
        self.barge_ins = 0

    def end_politely(self, reason: str) -> None:
        self.call.hangup(reason)  # nothing to say: the echo brain has no words

    async def run(self, call: Call) -> None:
        greeting = self.playout.open_utterance()
        self.playout.write(greeting, chime(self._rate))
        self.playout.close_utterance(greeting)
        async for pcm in self._receive:
            utterance = self.playout.open_utterance()
            self.playout.write(utterance, pcm)
            self.playout.close_utterance(utterance)
            self.echoed += 1

    def on_audio(self, pcm: bytes, now: float) -> None:
        if self._recording is not None:
            self._recording.append(pcm)
        else:
            self._recent.append(pcm)
            if len(self._recent) > self.params.preroll_frames:
                del self._recent[0]
        if self._barge_onset is not None:
            # Count only loud frames: the VAD's stop hangover must not turn a
            # cough into a barge-in.
            vad = self.call.vad
            if vad.level_dbfs >= vad.threshold_dbfs:
                self._barge_voiced += len(pcm) / (2 * self._rate)
            if self._barge_voiced >= self.params.barge_in_confirm_s:
                self._barge_onset = None
                self.barge_ins += 1
                self.playout.clear()

    def on_vad(self, transition: VadTransition, level_dbfs: float, now: float) -> None:
        if transition == VadTransition.SPEECH_START:
            if self.playout.speaking:
                self.playout.pause()  # step one of barge-in: silence at once
                self._barge_onset = now
                self._barge_voiced = 0.0
            self._recording = BoundedFrames(int(self.params.max_utterance_s * 2 * self._rate))
            for frame in self._recent:
                self._recording.append(frame)
            self._recent = []
            self._onset = now
        elif transition == VadTransition.SPEECH_END:
            if self._barge_onset is not None:  # too short to be a barge-in
                self._barge_onset = None
                self.playout.resume()
            recording, self._recording = self._recording, None
            onset, self._onset = self._onset, None
            if onset is not None and now - onset >= self.params.min_utterance_s:
                # If the caller talks faster than we echo, drop this one.
                with contextlib.suppress(trio.WouldBlock):
                    self._send.send_nowait(recording.join() if recording is not None else b"")

    def on_dtmf(self, digit: str, now: float) -> None:
        pass
