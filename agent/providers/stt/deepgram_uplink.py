"""Deepgram live STT: the caller's audio on its way up, one session's sending side.

``DeepgramUplink`` takes the caller's audio (``push``, or ``pump`` from a
channel), keeps it in an ``AudioLedger`` whatever the connection's state, and
sends it in the ``AudioBatcher``'s messages, with KeepAlive, Finalize and
CloseStream, on the connection it is given (``send_loop``).

A message due while the caller's audio is being read goes out right there
(``push``): when the sender task is idle and the socket takes the frame at
once, there is no task to wake and no trip round the scheduler. That is most of
them: around a pause every frame is a message of its own. Anything else (a
Finalize pinned to the audio so far, the end of the audio, a socket that cannot
take it, the batch alarm when frames stop coming) wakes the sender.
"""

from __future__ import annotations

import math

import trio
from trio_websocket import ConnectionClosed

from agent.providers.stt.deepgram_batch import AudioBatcher, AudioLedger
from agent.providers.stt.deepgram_settings import DeepgramSettings
from agent.providers.stt.deepgram_wire import CLOSE_STREAM, FINALIZE, KEEPALIVE
from agent.providers.websocket import WebSocket

__all__ = ["DeepgramUplink"]


class DeepgramUplink:
    """The sending side of one ``DeepgramStt`` session (see the module doc)."""

    def __init__(self, settings: DeepgramSettings, sample_rate: int) -> None:
        self._keepalive_s = settings.keepalive_s
        self._close_timeout_s = settings.close_timeout_s
        self.ledger = AudioLedger(sample_rate, settings.max_buffer_s)
        self.batcher = AudioBatcher.for_stream(
            sample_rate, settings.batch_ms, settings.endpointing_ms
        )
        self._wakeup = trio.Event()
        # The sender's sleep while it has one: new audio moves its deadline
        # instead of waking it to compute the deadline itself.
        self._sender_sleep: trio.CancelScope | None = None
        self._ws: WebSocket | None = None  # while connected: audio may go inline
        self._last_sent = 0.0  # the last message on the connection (KeepAlive timing)
        self._finalize_at: int | None = None
        self.audio_done = False  # the caller's audio has ended (the channel closed)
        self.close_sent = False  # CloseStream went on this connection
        self.audio_messages = 0
        self.keepalives = 0
        self.finalizes = 0

    # --- the caller's side ----------------------------------------------------

    def push(self, pcm: bytes) -> None:
        """The caller's audio, handed over directly: sent inline when a message is due."""
        ledger, batcher = self.ledger, self.batcher
        ledger.push(pcm)
        unsent = ledger.unsent_bytes
        now = trio.current_time()
        if batcher.added(unsent, now):
            self._send_inline(now)
            return
        alarm = batcher.pump_alarm_at(unsent)
        if alarm < math.inf:
            sleep = self._sender_sleep
            if sleep is None:
                self._wakeup.set()  # busy or not connected: it looks before sleeping
            else:
                if alarm < sleep.deadline:
                    sleep.deadline = alarm
                batcher.pump_alarm_rang()

    def finalize(self) -> None:
        """A Finalize pinned to the audio taken so far (it goes right after it)."""
        self._finalize_at = self.ledger.pushed_bytes
        self._wakeup.set()

    def speaking(self) -> None:
        now = trio.current_time()
        self.batcher.speaking(now)
        if self.batcher.due(self.ledger.unsent_bytes, now):
            self._wakeup.set()

    def pausing(self) -> None:
        self.batcher.pausing(trio.current_time())
        self._wakeup.set()

    def turn_ended(self) -> None:
        self.batcher.turn_ended(trio.current_time())

    async def pump(self, audio: trio.MemoryReceiveChannel[bytes]) -> None:
        """The caller's audio from a channel (``DeepgramStt.run``'s): the sender is
        woken once a batch is due, not for every frame. When frames stop coming
        mid-batch, the alarm on the wait for the next one wakes it."""
        ledger, batcher = self.ledger, self.batcher
        async with audio:
            while True:
                with trio.move_on_at(batcher.pump_alarm_at(ledger.unsent_bytes)) as alarm:
                    try:
                        frame = await audio.receive()
                    except trio.EndOfChannel:
                        break
                if alarm.cancelled_caught:
                    batcher.pump_alarm_rang()
                    self._wakeup.set()
                    continue
                ledger.push(frame)
                if batcher.added(ledger.unsent_bytes, trio.current_time()):
                    self._wakeup.set()
        self.audio_done = True
        self._wakeup.set()

    def _send_inline(self, now: float) -> None:
        ws, sleep = self._ws, self._sender_sleep
        if ws is None or sleep is None or self._finalize_at is not None or self.audio_done:
            self._wakeup.set()
            return
        ledger, batcher = self.ledger, self.batcher
        message = ledger.next_unsent(batcher.max_message_bytes)
        assert message is not None  # due: something is unsent
        try:
            whole = ws.send_nowait(message)
        except ConnectionClosed:
            self._wakeup.set()  # the sender meets the same close and ends
            return
        keepalive_was_at = self._last_sent + self._keepalive_s
        self._audio_sent(now)
        if not whole or batcher.due(ledger.unsent_bytes, now):
            self._wakeup.set()  # the sender flushes the rest, or sends what is due
            return
        # The sender's deadline was for this audio's batch (move it), or for the
        # KeepAlive, now due later: that one stays, and the sender wakes at it once
        # and sleeps on (cheaper than moving a scope's deadline on every message).
        wake_at = batcher.sleep_until(ledger.unsent_bytes, now + self._keepalive_s)
        deadline = sleep.deadline
        if wake_at < deadline or deadline < keepalive_was_at:
            sleep.deadline = wake_at

    def _audio_sent(self, now: float) -> None:
        """The message from ``ledger.next_unsent`` went out at ``now``."""
        self.ledger.mark_sent()
        self._last_sent = now
        self.batcher.sent(self.ledger.unsent_bytes, now)
        self.audio_messages += 1

    # --- the connection's side --------------------------------------------------

    def connected(self) -> float:
        """A new connection: what it has not acknowledged is sent again. Returns the
        call time its timestamps start from."""
        offset = self.ledger.rewind()
        self.batcher.rewound(self.ledger.unsent_bytes)
        self.close_sent = False
        return offset

    async def send_loop(self, ws: WebSocket, receive_scope: trio.CancelScope) -> None:
        """Send on ``ws`` until the audio ends (then CloseStream, and the receiver
        gets ``close_timeout_s`` for the server's close) or the connection closes."""
        self._ws = ws
        try:
            await self._send_loop(ws, receive_scope)
        except ConnectionClosed:
            return  # the receiver sees the same close and reports it
        finally:
            self._ws = None

    async def _send_loop(self, ws: WebSocket, receive_scope: trio.CancelScope) -> None:
        ledger, batcher = self.ledger, self.batcher
        self._last_sent = trio.current_time()
        while True:
            # A fresh event before looking at the state: a wake-up that comes
            # while we send is not lost.
            self._wakeup = trio.Event()
            if ws.owes:  # audio sent inline that the socket could not take whole
                await ws.flush()
            now = trio.current_time()
            finalize_at = self._finalize_at
            if finalize_at is not None and ledger.position >= finalize_at:
                self._finalize_at = None
                await ws.send_message(FINALIZE)
                self.finalizes += 1
                self._last_sent = trio.current_time()
                continue
            # The audio before a Finalize, and at the end all of it, goes now.
            flush = self.audio_done or finalize_at is not None
            if batcher.due(ledger.unsent_bytes, now, flush=flush):
                limit = batcher.max_message_bytes
                if finalize_at is not None:
                    limit = min(limit, finalize_at - ledger.position)
                message = ledger.next_unsent(limit)
                assert message is not None  # due: something is unsent
                await ws.send_message(message)
                self._audio_sent(trio.current_time())
                if ledger.unsent_bytes:
                    # A send the socket takes at once is no schedule point: a
                    # replayed backlog must not hold every other call meanwhile.
                    await trio.lowlevel.checkpoint()
                continue
            if self.audio_done:
                self.close_sent = True
                await ws.send_message(CLOSE_STREAM)
                receive_scope.deadline = trio.current_time() + self._close_timeout_s
                return
            keepalive_at = self._last_sent + self._keepalive_s
            if now >= keepalive_at:
                await ws.send_message(KEEPALIVE)
                self.keepalives += 1
                self._last_sent = trio.current_time()
                continue
            with trio.move_on_at(batcher.sleep_until(ledger.unsent_bytes, keepalive_at)) as sleep:
                self._sender_sleep = sleep
                try:
                    await self._wakeup.wait()
                finally:
                    self._sender_sleep = None
