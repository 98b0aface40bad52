"""The per-call supervisor.

One nursery per call holds the reader (AudioSocket in -> VAD -> brain hooks),
the paced playout, the brain and a send watchdog. Whatever ends the call
(caller hang-up = TCP close, a 0x00, the brain hanging up, a protocol error,
the max-call deadline) cancels that nursery; cleanup then runs shielded with a
short deadline. Nothing that happens in one call reaches another.

The brain is the seam where the conversation plugs in: the reader hands it
caller audio, VAD transitions and DTMF through sync hooks (called as each frame
is read, so barge-in can pause playout within the current frame), and its
``run`` drives the playout. Caller audio is read and handled by the process's
inbound poller (``agent.media.inbound``, one task for every call) while it is
plain audio; the call's reader task takes every other message.

Observation (records, metrics, recording) hangs off two optional attributes
that an observing brain factory (``agent.observe.process.Observability.wrap``) sets
before the call starts: ``observer`` is told VAD transitions, provider errors
that end the call and the call's end; ``recorder`` gets every frame of both
legs. Every log line of the call carries its UUID (``agent.base.logs``).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import uuid as uuidlib
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import trio

from agent.base.config import ServerSettings
from agent.base.errors import ProviderError, RemoteProtocolError
from agent.base.logs import call_log_context
from agent.media.caller_audio import FLOOD, CallerAudio, buffered_event
from agent.media.clock import MediaClock
from agent.media.limits import AudioBudget
from agent.media.playout import Playout
from agent.media.stream import AudioSink, AudioSocketStream
from agent.wire.audiosocket import NEED_DATA, Audio, Dtmf, Error, Hangup, Identify, State
from dsp import EnergyVad, PacerParams, VadParams, VadTransition

log = logging.getLogger(__name__)

# How long a frame send may block before we decide the peer stopped reading.
SEND_STALL_S = 1.0
# The reader's pause after dropping a frame of a peer that sends too fast.
FLOOD_PAUSE_S = 0.02


class Brain(Protocol):
    """What drives a call. Hooks are sync and must not block (they run in the reader)."""

    async def run(self, call: Call) -> None:
        """The brain's main task; returning ends the call from the agent's side."""

    def on_audio(self, pcm: bytes, now: float) -> None:
        """Every caller frame, after the VAD has seen it."""

    def on_vad(self, transition: VadTransition, level_dbfs: float, now: float) -> None:
        """The caller started or stopped speaking."""

    def on_dtmf(self, digit: str, now: float) -> None:
        """The caller pressed a key."""

    def end_politely(self, reason: str) -> None:
        """End the call from outside (a service shutdown): a goodbye if the brain has
        one to say, then a hang-up (``call.hangup(reason)``)."""


BrainFactory = Callable[["Call"], Brain]


class CallObserver(Protocol):
    """Watches a call for records and metrics (``agent.observe.call_observer.CallObserver``)."""

    def vad(self, transition: VadTransition, now: float) -> None: ...

    def provider_error(self, exc: ProviderError, role: str) -> None: ...

    def call_ended(self, call: Call) -> None: ...


class FrameRecorder(Protocol):
    """Takes both legs of the call (``agent.media.recording.CallRecorder``)."""

    def caller(self, pcm: bytes, now: float) -> None: ...

    def agent(self, pcm: bytes, now: float) -> None: ...


class Call:
    """One AudioSocket call from identification to hang-up."""

    def __init__(
        self,
        stream: AudioSocketStream,
        settings: ServerSettings,
        brain_factory: BrainFactory,
        *,
        vad_params: VadParams | None = None,
        pacer_params: PacerParams | None = None,
        accept: Callable[[Call], Any] | None = None,  # bool, or an awaitable of one
        clock: MediaClock | None = None,  # the process's; without one the call has its own
    ) -> None:
        self.stream = stream
        # Asked once the UUID is in, before the brain is made: False closes the call
        # (e.g. a UUID the AGI setup step never issued); the hook logs why.
        self._accept = accept
        self.settings = settings
        self.sample_rate = settings.sample_rate
        self.uuid: uuidlib.UUID | None = None
        self.end_reason: str | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.vad = EnergyVad(vad_params or VadParams(), sample_rate=self.sample_rate)
        # The playout's hooks hold the call weakly: a call that has ended must not
        # be kept alive by a reference cycle until the garbage collector runs.
        me = weakref.ref(self)

        note_output = self.vad.note_output

        def frame_sent(frame: bytes) -> None:
            """Playout's per-frame hook (after the send): the echo guard, recording."""
            note_output(frame)
            call = me()
            if call is not None and call.recorder is not None:
                call.recorder.agent(frame, call.playout.last_send_at or trio.current_time())

        self.playout = Playout(
            AudioSink(stream, self.sample_rate),
            sample_rate=self.sample_rate,
            pacer_params=pacer_params,
            on_frame=frame_sent,
            clock=clock,
        )
        # The process's poller of caller audio, shared with the clock (None: this
        # call's reader awaits its own socket).
        self._inbound = clock.inbound if clock is not None else None
        # Caller audio beyond real time plus a burst is dropped (agent.media.limits).
        self.audio_budget: AudioBudget | None = None
        # When the last message from the peer arrived (the idle watchdog).
        self.last_receive_at: float | None = None
        self.observer: CallObserver | None = None
        self.recorder: FrameRecorder | None = None
        self._brain_factory = brain_factory
        self.brain: Brain | None = None
        self._scope: trio.CancelScope | None = None
        self._agent_hangup = False

    @property
    def name(self) -> str:
        return str(self.uuid) if self.uuid else "unidentified"

    # --- ending ---------------------------------------------------------------

    def hangup(self, reason: str = "agent") -> None:
        """End the call from our side: a 0x00, then close (the dialplan goes on)."""
        self._agent_hangup = True
        self._end(reason)

    def _end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason
        if self._scope is not None:
            self._scope.cancel()

    # --- the call ------------------------------------------------------------

    async def run(self) -> str:
        """Serve the call; returns why it ended. Never raises for call-level failures."""
        with contextlib.ExitStack() as context:
            try:
                if await self._identify():
                    context.enter_context(call_log_context(self.uuid))
                    await self._serve()
            finally:
                self.ended_at = trio.current_time()
                await self._cleanup()
                if self.observer is not None:
                    try:
                        self.observer.call_ended(self)
                    except Exception:  # records are not worth a crashed call
                        log.exception("call %s: observer failed at the end", self.name)
                self._report_dropped_audio()
        return self.end_reason or "ended"

    def release(self) -> None:
        """Let go of what only a live call needs, once everyone has read its end (the
        server calls this after its end hook): queued agent audio and the hooks."""
        self._brain_factory = _released_factory
        self._accept = None
        self._scope = None
        self.playout.clear()

    def _report_dropped_audio(self) -> None:
        budget = self.audio_budget
        if budget is not None and budget.dropped_frames:
            log.info(
                "call %s: dropped %d frames (%.1f s) of caller audio sent faster than real time",
                self.name,
                budget.dropped_frames,
                budget.dropped_s,
            )

    async def _identify(self) -> bool:
        with trio.move_on_after(self.settings.uuid_timeout_s):
            try:
                event = await self.stream.receive_event()
            except RemoteProtocolError as exc:
                self.end_reason = "protocol-error"
                log.warning("call %s: protocol error: %s", self.name, exc)
                return False
            if event is None:
                self.end_reason = "closed-before-uuid"
                log.info("connection closed before sending its UUID")
                return False
            assert isinstance(event, Identify)  # the codec enforces UUID-first
            self.uuid = event.uuid
            accepted = True if self._accept is None else self._accept(self)
            if inspect.isawaitable(accepted):  # a check that asks a store on the network
                accepted = await accepted
            if not accepted:
                self.end_reason = "refused"
                return False
            return True
        self.end_reason = "uuid-timeout"
        log.warning("connection sent no UUID within %.1f s; closing", self.settings.uuid_timeout_s)
        return False

    async def _serve(self) -> None:
        self.started_at = self.last_receive_at = trio.current_time()
        self.audio_budget = AudioBudget(
            self.settings.audio_burst_s, bytes_per_s=2 * self.sample_rate, now=self.started_at
        )
        brain = self._brain_factory(self)
        if inspect.isawaitable(brain):  # a factory that looks something up first
            brain = await brain
        self.brain = brain
        log.info("call %s: started", self.name)
        try:
            with trio.move_on_after(self.settings.max_call_s) as deadline:
                async with trio.open_nursery() as nursery:
                    self._scope = nursery.cancel_scope
                    await nursery.start(self.playout.run)
                    nursery.start_soon(self._reader)
                    nursery.start_soon(self._run_brain)
                    nursery.start_soon(self._watchdog)
            if deadline.cancelled_caught:
                self._agent_hangup = True
                self._end("max-duration")
        except* RemoteProtocolError as group:
            self.end_reason = "protocol-error"
            log.warning("call %s: protocol error: %s", self.name, group.exceptions[0])
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            self._end("hangup")  # the peer vanished while we were sending
        except* Exception as group:
            self._failed(group)
        log.info("call %s: ended (%s)", self.name, self.end_reason)

    def _failed(self, group: BaseExceptionGroup) -> None:
        if self._peer_closed() and self.end_reason in HANGUP_REASONS:
            # Something failed on a connection the caller had already closed (e.g. a
            # send after EOF): the caller hung up, nothing went wrong with the call.
            log.info("call %s: after the caller hung up: %r", self.name, group.exceptions[0])
            return
        self.end_reason = "error"
        log.error("call %s: failed", self.name, exc_info=group)
        self._report_provider_errors(group)

    async def _run_brain(self) -> None:
        assert self.brain is not None
        await self.brain.run(self)
        self.hangup("agent")

    def _report_provider_errors(self, group: BaseException) -> None:
        if self.observer is None:
            return
        pending = [group]
        while pending:
            exc = pending.pop()
            if isinstance(exc, BaseExceptionGroup):
                pending.extend(exc.exceptions)
            elif isinstance(exc, ProviderError):
                self.observer.provider_error(exc, "call")

    def _peer_closed(self) -> bool:
        return self.stream.connection.their_state is State.CLOSED

    @property
    def last_agent_frame_at(self) -> float | None:
        """When the last frame of agent speech (not silence) left, for barge-in timing."""
        return self.playout.last_speech_at

    async def _reader(self) -> None:
        stream, brain, rate = self.stream, self.brain, self.sample_rate
        assert brain is not None and self.audio_budget is not None
        caller = CallerAudio(self, brain, self.audio_budget)
        frame, receive = caller.frame, stream.receive_audio_or_event
        # With the process's poller, caller audio is handled inline there
        # (agent.media.inbound); this task takes everything else.
        poller, fd = self._inbound, stream.fileno
        while True:
            event: Any = NEED_DATA
            if poller is not None and fd is not None:
                event = buffered_event(stream, rate)
                if event is NEED_DATA:
                    await poller.serve(fd, caller)
                    event = caller.handed()
            if event is NEED_DATA:
                event = await receive(rate)
            now = self.last_receive_at = trio.current_time()
            if type(event) is bytes:  # a frame of caller audio at our rate: the hot path
                if frame(event, now):
                    continue
                event = FLOOD
            if event is FLOOD:
                # Read no faster than real time from now on: what the peer sends
                # meanwhile waits in the kernel's socket buffer, then TCP stops it,
                # so a flood costs neither memory nor the other calls' CPU.
                await trio.sleep(FLOOD_PAUSE_S)
            elif type(event) is Audio:  # any other rate
                raise RemoteProtocolError(
                    f"caller audio is {event.sample_rate} Hz but the agent runs at {rate} Hz"
                    " (use c(slin) on the AudioSocket channel or set VOICE_AGENT_SAMPLE_RATE)"
                )
            elif event is None:
                self._end("hangup")
                return
            elif type(event) is Dtmf:
                brain.on_dtmf(event.digit, now)
            elif type(event) is Hangup:
                self._end("hangup-message")
                return
            elif type(event) is Error:
                log.warning("call %s: peer sent an error message %r", self.name, event.payload)
                self._end("peer-error")
                return

    async def _watchdog(self) -> None:
        # A peer that stops reading fills our send buffer and blocks playout;
        # Asterisk treats a short write as fatal anyway, so end the call. A peer
        # that stops sending is gone too: Asterisk sends a frame every 20 ms.
        playout = self.playout
        idle_s = self.settings.idle_timeout_s
        check_s = min(SEND_STALL_S, idle_s) / 2
        while True:
            # Looks again when a stall could first be complete, no sooner than every
            # check_s: for a live call, about once a second, not twice.
            wake_at = trio.current_time() + check_s
            last, heard = playout.last_send_at, self.last_receive_at
            if last is not None and heard is not None:
                wake_at = max(wake_at, min(last + SEND_STALL_S, heard + idle_s))
            await trio.sleep_until(wake_at)
            now = trio.current_time()
            last = playout.last_send_at
            if last is not None and now - last > SEND_STALL_S:
                log.warning("call %s: the peer stopped reading audio; ending the call", self.name)
                self._end("send-stalled")
                return
            heard = self.last_receive_at
            if heard is not None and now - heard > idle_s:
                log.warning(
                    "call %s: nothing from the peer for %.1f s (VOICE_AGENT_IDLE_TIMEOUT_S);"
                    " hanging up",
                    self.name,
                    now - heard,
                )
                self._agent_hangup = True
                self._end("peer-idle")
                return

    async def _cleanup(self) -> None:
        if self._peer_closed():
            self._agent_hangup = False  # nobody is left to hear a 0x00
        with trio.move_on_after(self.settings.cleanup_timeout_s) as scope:
            scope.shield = True
            if self._agent_hangup and self.end_reason != "send-stalled":
                # The peer may already be gone; closing is what matters.
                with contextlib.suppress(Exception):
                    await self.stream.send_hangup()
            await self.stream.aclose()
        if scope.cancelled_caught:
            await trio.aclose_forcefully(self.stream.stream)


# Why a call ended when the caller's side closed first.
HANGUP_REASONS = frozenset({"hangup", "hangup-message"})


def _released_factory(call: Call) -> Brain:
    raise RuntimeError("this call has ended")
