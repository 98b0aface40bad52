"""Call recording (off by default): both legs of a call in one stereo WAV.

The caller is the left channel, the agent the right, 16-bit PCM at the call's
rate, one file per call (``<directory>/<uuid>.wav``). The call's reader and
playout hand every frame to the ``CallRecorder`` (a bytearray append: no I/O
on the Trio loop); about once a second of audio the recorder interleaves what
both legs have and queues it for the one ``RecordingWriter`` thread of the
process, which appends it to the file. ``wave`` rewrites the header after each
append, so a crash leaves a playable file of everything up to the last second.

Alignment: both legs are continuous 20 ms streams (the agent sends silence
when it has nothing to say), so they line up by sample count. A leg that falls
behind the call's clock by more than ``GAP_S`` (a caller that stopped sending
for a while, a stalled send) is padded with silence to where it should be.
The agent's frames are placed at the time they were sent: when playout
re-phases for a reply, the overlapped end of the idle silence is dropped.

``purge_recordings`` deletes the WAVs older than the retention period.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import wave
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs
import numpy as np

from agent.base.settings import read_settings, setting

log = logging.getLogger(__name__)

GAP_S = 0.06  # a leg further behind the call's clock than this is padded
FLUSH_S = 1.0  # interleave and queue for the writer about this often
MAX_SKEW_S = 5.0  # one leg this far ahead: the other is padded (it stopped)
_CALLER, _AGENT = 0, 1
_SLACK = 8  # samples (1 ms at 8 kHz): rounding, not a re-phase


@attrs.frozen
class RecordingSettings:
    enabled: bool = setting("VOICE_AGENT_RECORDING")
    directory: str = setting("VOICE_AGENT_RECORDINGS_DIR")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RecordingSettings:
        return read_settings(cls, env)


_STOP = object()


class RecordingWriter:
    """One thread that runs the recorders' file operations in order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="recording-writer", daemon=True)
        self._thread.start()
        self._closed = False

    def submit(self, job: Callable[[], None]) -> None:
        if self._closed:
            log.error("recording: the writer is closed; audio was dropped")
            return
        self._queue.put(job)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            if isinstance(job, threading.Event):
                job.set()
                continue
            try:
                job()  # type: ignore[operator]
            except Exception as exc:  # one bad file must not stop the others
                log.error("recording: write failed: %s", exc)

    def drain(self, timeout: float | None = 10.0) -> bool:
        """Block until every job queued so far has run (tests, shutdown)."""
        if self._closed:
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        """Finish the queued jobs and stop the thread (blocking)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()


class CallRecorder:
    """Collects one call's two legs and streams them, interleaved, to a WAV file."""

    def __init__(
        self, path: str | os.PathLike[str], sample_rate: int, writer: RecordingWriter, start: float
    ) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self._writer = writer
        self._start = start  # the call's clock (trio.current_time()) at sample 0
        self._legs = (bytearray(), bytearray())  # caller, agent: bytes not yet written
        self._positions = [0, 0]  # samples of each leg so far (written or pending)
        self._flush_bytes = int(FLUSH_S * sample_rate) * 2
        self._gap = int(GAP_S * sample_rate)
        self._max_skew = int(MAX_SKEW_S * sample_rate) * 2
        self._wav: wave.Wave_write | None = None
        self.closed = False
        writer.submit(self._open)

    # --- frames (sync, from the call's reader and playout) ------------------------

    def caller(self, pcm: bytes, now: float) -> None:
        self._add(_CALLER, pcm, now)

    def agent(self, pcm: bytes, now: float) -> None:
        self._add(_AGENT, pcm, now)

    def _add(self, leg: int, pcm: bytes, now: float) -> None:
        if self.closed:
            return
        buf = self._legs[leg]
        due = int((now - self._start) * self.sample_rate)
        position = self._positions[leg]
        if due - position > self._gap:
            buf.extend(bytes(2 * (due - position)))
            position = due
        elif leg == _AGENT and position - due > _SLACK:
            # Playout re-phased: this speech frame left before the idle silence
            # frame before it had finished playing. Drop that silence's overlap,
            # or the agent's leg would run ahead of the clock by a frame per reply.
            cut = 2 * min(position - due, len(buf) // 2)
            if cut and buf.count(0, len(buf) - cut) == cut:
                del buf[len(buf) - cut :]
                position -= cut // 2
        buf.extend(pcm)
        self._positions[leg] = position + len(pcm) // 2
        if len(buf) >= self._flush_bytes:
            self._flush(final=False)

    def close(self) -> None:
        """The call ended: write what is left and close the file (in the writer)."""
        if self.closed:
            return
        self._flush(final=True)
        self.closed = True
        self._writer.submit(self._close)

    # --- interleaving -----------------------------------------------------------------

    def _flush(self, *, final: bool) -> None:
        left, right = self._legs
        if final or abs(len(left) - len(right)) > self._max_skew:
            short = left if len(left) < len(right) else right
            short.extend(bytes(abs(len(left) - len(right))))
        n = min(len(left), len(right)) // 2 * 2
        if n == 0:
            return
        stereo = np.empty(n, dtype="<i2")
        stereo[0::2] = np.frombuffer(left, dtype="<i2", count=n // 2)
        stereo[1::2] = np.frombuffer(right, dtype="<i2", count=n // 2)
        del left[:n], right[:n]
        data = stereo.tobytes()
        self._writer.submit(lambda: self._write(data))

    # --- the writer thread's side ----------------------------------------------------

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        wav = wave.open(str(self.path), "wb")  # noqa: SIM115 (closed by _close)
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(self.sample_rate)
        self._wav = wav

    def _write(self, data: bytes) -> None:
        if self._wav is not None:
            self._wav.writeframes(data)

    def _close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None


def recording_path(directory: str | os.PathLike[str], call_uuid: object) -> Path:
    return Path(directory) / f"{call_uuid}.wav"


def purge_recordings(directory: str | os.PathLike[str], older_than: float) -> int:
    """Delete the recordings last written before the epoch time ``older_than``
    (blocking: run it in a thread). Returns how many were deleted."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not entry.name.endswith(".wav") or not entry.is_file():
            continue
        try:
            if entry.stat().st_mtime < older_than:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue  # another worker purged it first
    return removed
