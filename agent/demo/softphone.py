"""A softphone that speaks AudioSocket the way Asterisk does.

It connects, sends its UUID, streams caller audio in real-time frames (silence
between utterances, as a phone does), records everything the agent sends, and
measures what a caller lives through: per utterance, the time from the end of
its own speech to the first agent audio, how fast the agent went quiet when
interrupted, and the pacing of the frames it received.

It runs over TCP or over any ``trio.abc.Stream`` (an in-memory pair under
MockClock for tests in virtual time). Scripts are lists of steps; see
``Say``, ``Dtmf``, ``Silence``, ``WaitAgent`` and ``HangUp``.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import trio

from agent.base.wav import stereo, write_wav
from agent.media.stream import AudioSocketStream
from agent.observe.callreport import CallerReport, Received, UtteranceLog, build_report, is_voiced
from agent.wire.audiosocket import Audio, Dtmf, Hangup, Identify, Role

# --- script steps -------------------------------------------------------------


@attrs.frozen
class Say:
    """Play ``pcm`` (16-bit mono at the call's rate).

    By default it waits for the agent to finish its turn first. With
    ``interrupt_after_ms`` it waits until the agent has been speaking that long
    and talks over it (a barge-in).
    """

    pcm: bytes = attrs.field(repr=lambda pcm: f"<{len(pcm)} bytes>")
    label: str = ""
    interrupt_after_ms: int | None = None


@attrs.frozen
class PressKeys:
    """Press keys (one AudioSocket DTMF message each, ``gap_ms`` apart)."""

    digits: str
    gap_ms: int = 300
    wait_for_agent: bool = True


@attrs.frozen
class Silence:
    seconds: float


@attrs.frozen
class WaitAgent:
    """Wait until the agent has spoken and gone quiet (or ``timeout_s``)."""

    timeout_s: float = 20.0


@attrs.frozen
class HangUp:
    """Close the connection, as Asterisk does when the caller hangs up."""


Step = Say | PressKeys | Silence | WaitAgent | HangUp


@attrs.frozen
class CallerParams:
    frame_ms: int = 20  # 30 for a ptime-30 phone
    sample_rate: int = 8000
    # The agent's turn is over once it has been quiet this long.
    agent_quiet_ms: int = 800
    # Give up waiting for the agent after this long.
    agent_timeout_s: float = 20.0
    # After the script, wait this long for the agent to end the call.
    linger_s: float = 10.0
    # At most this many answers (``Caller(answer=...)``) before each scripted step.
    max_answers: int = 4


class Caller:
    """One scripted call. ``await caller.run(stream)`` returns a ``CallerReport``."""

    def __init__(
        self,
        script: Sequence[Step],
        *,
        params: CallerParams | None = None,
        call_uuid: uuidlib.UUID | None = None,
        answer: Callable[[], Sequence[Say | PressKeys]] | None = None,
    ) -> None:
        self.script = list(script)
        # A caller who reacts: called whenever the agent has finished a turn before a
        # scripted step; what it returns (a "yes" to "Was that ...?", the last line
        # again after "could you say it again?") is said first. Empty: go on.
        self.answer = answer
        self.params = params or CallerParams()
        self.uuid = call_uuid or uuidlib.uuid4()
        self.frame_bytes = self.params.sample_rate * self.params.frame_ms // 1000 * 2
        self.received: list[Received] = []
        self.sent_frames: list[bytes] = []
        self.utterances: list[UtteranceLog] = []
        self.agent_hung_up = False
        self.closed_by_agent = False
        self.caller_hung_up = False
        self.connection_closed = False
        self._stream: AudioSocketStream | None = None
        self._playing: bytes = b""
        self._play_off = 0
        self._play_done: trio.Event | None = None
        self._current: UtteranceLog | None = None
        self._agent_voice_start: float | None = None  # start of the agent's current burst
        self._agent_last_voice: float | None = None
        self._agent_changed = trio.Event()
        self._started_at = 0.0
        # End of our last input (speech or keys): the agent's answer comes after it.
        self._last_input_at: float | None = None

    # --- public -------------------------------------------------------------------

    async def run(self, stream: trio.abc.Stream) -> CallerReport:
        self._stream = AudioSocketStream(stream, Role.CLIENT)
        self._started_at = trio.current_time()
        try:
            await self._stream.send(Identify(self.uuid))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._receiver, nursery.cancel_scope)
                nursery.start_soon(self._sender)
                await self._run_script()
                # Script done: give the agent time to finish and hang up.
                with trio.move_on_after(self.params.linger_s):
                    await self._wait_closed()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)
        return self.report()

    def report(self) -> CallerReport:
        return build_report(
            received=self.received,
            utterances=self.utterances,
            frame_ms=self.params.frame_ms,
            agent_hung_up=self.agent_hung_up,
            closed_by_agent=self.closed_by_agent,
            started_at=self._started_at,
        )

    def agent_audio(self) -> bytes:
        """Everything the agent sent, back to back, as a phone would play it."""
        return b"".join(r.pcm for r in self.received)

    def caller_audio(self) -> bytes:
        return b"".join(self.sent_frames)

    # --- script -------------------------------------------------------------------

    async def _run_script(self) -> None:
        for step in self.script:
            if self.connection_closed:
                return
            if isinstance(step, Say):
                if step.interrupt_after_ms is None:
                    await self._wait_agent_done(self.params.agent_timeout_s)
                    await self._answer_agent()
                else:
                    await self._wait_agent_speaking(step.interrupt_after_ms / 1000)
                await self._say(step)
            elif isinstance(step, PressKeys):
                if step.wait_for_agent:
                    await self._wait_agent_done(self.params.agent_timeout_s)
                    await self._answer_agent()
                await self._press(step)
            elif isinstance(step, Silence):
                await trio.sleep(step.seconds)
            elif isinstance(step, WaitAgent):
                await self._wait_agent_done(step.timeout_s)
            elif isinstance(step, HangUp):
                assert self._stream is not None
                self.caller_hung_up = True
                await self._stream.aclose()
                return

    async def _press(self, step: PressKeys) -> None:
        for i, digit in enumerate(step.digits):
            if i:
                await trio.sleep(step.gap_ms / 1000)
            assert self._stream is not None
            await self._stream.send(Dtmf(digit))
        self._last_input_at = trio.current_time()  # the agent answers the keys

    async def _answer_agent(self) -> None:
        if self.answer is None:
            return
        for _ in range(self.params.max_answers):
            steps = self.answer()
            if not steps or self.connection_closed:
                return
            for step in steps:
                await (self._say(step) if isinstance(step, Say) else self._press(step))
                await self._wait_agent_done(self.params.agent_timeout_s)

    async def _say(self, step: Say) -> None:
        log = UtteranceLog(
            label=step.label or f"utterance {len(self.utterances) + 1}",
            interrupt=step.interrupt_after_ms is not None,
        )
        self.utterances.append(log)
        self._current = log
        self._playing, self._play_off = step.pcm, 0
        self._play_done = trio.Event()
        await self._play_done.wait()
        self._current = None
        self._last_input_at = log.end_at or trio.current_time()

    async def _wait_agent_done(self, timeout_s: float) -> None:
        """Wait for the agent to speak (after our last utterance) and go quiet."""
        quiet = self.params.agent_quiet_ms / 1000
        since = self._last_input_at or self._started_at
        with trio.move_on_after(timeout_s):
            while True:
                last = self._agent_last_voice
                now = trio.current_time()
                # Compare with the very deadline we sleep to: `now - last >= quiet`
                # can stay false at that instant by float rounding and spin.
                if last is not None and last >= since and now >= last + quiet:
                    return
                if last is not None and last >= since:
                    with trio.move_on_at(last + quiet):
                        await self._agent_event()
                else:
                    await self._agent_event()

    async def _wait_agent_speaking(self, seconds: float) -> None:
        with trio.move_on_after(self.params.agent_timeout_s):
            while True:
                start = self._agent_voice_start
                if start is not None and trio.current_time() >= start + seconds:
                    return
                if start is not None:
                    with trio.move_on_at(start + seconds):
                        await self._agent_event()
                else:
                    await self._agent_event()

    async def _agent_event(self) -> None:
        await self._agent_changed.wait()

    async def _wait_closed(self) -> None:
        while not self.connection_closed:
            await self._agent_event()

    # --- tasks ----------------------------------------------------------------

    async def _sender(self) -> None:
        stream = self._stream
        assert stream is not None
        n, frame_s = self.frame_bytes, self.params.frame_ms / 1000
        silence = bytes(n)
        rate = self.params.sample_rate
        deadline = trio.current_time()
        while True:
            if self._play_done is not None and not self._play_done.is_set():
                frame = self._playing[self._play_off : self._play_off + n]
                self._play_off += n
                if len(frame) < n:
                    frame += bytes(n - len(frame))
                now = trio.current_time()
                log = self._current
                if log is not None:
                    if log.start_at is None:
                        log.start_at = now
                    if is_voiced(frame):
                        if log.voice_at is None:
                            log.voice_at = now
                        log.end_at = now + frame_s  # end of its last voiced frame
                if self._play_off >= len(self._playing):
                    self._play_done.set()
            else:
                frame = silence
            try:
                await stream.send(Audio(frame, rate))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            self.sent_frames.append(frame)
            deadline += frame_s
            now = trio.current_time()
            if now - deadline > frame_s:  # we stalled; never burst to catch up
                deadline = now
            await trio.sleep_until(deadline)

    async def _receiver(self, scope: trio.CancelScope) -> None:
        stream = self._stream
        assert stream is not None
        while True:
            try:
                event = await stream.receive_event()
            except trio.ClosedResourceError:
                event = None
            now = trio.current_time()
            if event is None or type(event) is Hangup:
                self.agent_hung_up = type(event) is Hangup
                self.closed_by_agent = not self.caller_hung_up
                self.connection_closed = True
                self._notify()
                if self._play_done is not None:
                    self._play_done.set()
                scope.cancel()
                return
            if type(event) is Audio:
                voiced = is_voiced(event.pcm)
                self.received.append(Received(now, event.pcm, voiced))
                quiet = self.params.agent_quiet_ms / 1000
                if voiced:
                    last = self._agent_last_voice
                    if self._agent_voice_start is None or last is None or now - last > quiet:
                        self._agent_voice_start = now  # the agent's turn starts
                    self._agent_last_voice = now
                    self._notify()
                elif (
                    self._agent_voice_start is not None
                    and self._agent_last_voice is not None
                    and now - self._agent_last_voice > quiet
                ):
                    # The turn is over only after agent_quiet_ms: the pauses between
                    # a real voice's words and clauses do not restart it.
                    self._agent_voice_start = None
                    self._notify()

    def _notify(self) -> None:
        self._agent_changed.set()
        self._agent_changed = trio.Event()


async def call_tcp(
    host: str, port: int, script: Sequence[Step], *, params: CallerParams | None = None
) -> tuple[Caller, CallerReport]:
    """Dial the agent over TCP and run ``script``."""
    caller = Caller(script, params=params)
    stream = await trio.open_tcp_stream(host, port)
    report = await caller.run(stream)
    return caller, report


def save_legs(caller: Caller, directory: Path, sample_rate: int) -> list[Path]:
    """Write what the caller heard, what it said, and both as one stereo WAV."""
    directory.mkdir(parents=True, exist_ok=True)
    agent_pcm, caller_pcm = caller.agent_audio(), caller.caller_audio()
    paths = [directory / "agent.wav", directory / "caller.wav", directory / "mix.wav"]
    write_wav(paths[0], agent_pcm, sample_rate)
    write_wav(paths[1], caller_pcm, sample_rate)
    write_wav(paths[2], stereo(caller_pcm, agent_pcm), sample_rate, channels=2)
    return paths
