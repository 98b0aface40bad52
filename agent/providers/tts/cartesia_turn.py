"""One agent turn on Cartesia's WebSocket: text out, audio back, on one or more contexts.

``CartesiaTurn.speak`` is the body of ``CartesiaTts.speak`` once the socket is
up. A sender task forwards the turn's text fragments as ``continue: true``
pieces and closes the context when the text ends, or earlier when the text
pauses long enough that the context would expire (``TurnContexts`` holds that
policy and the order of the segments); a receiver forwards the audio. Leaving
``speak`` any other way than through the last ``done`` (barge-in, an error)
cancels every context of the turn the server may still speak on.
"""

from __future__ import annotations

import math

import attrs
import trio
from trio_websocket import ConnectionClosed

from agent.base.errors import ProviderError, ProviderTimeout
from agent.base.events import AudioChunk
from agent.providers.channels import receive_eagerly
from agent.providers.tts.cartesia_contexts import Segment, TurnContexts
from agent.providers.tts.cartesia_wire import (
    PROVIDER,
    CartesiaSettings,
    Chunk,
    cancel_request,
    encode,
    generation_request,
)
from agent.providers.websocket import WebSocket

_TEXT_ENDED = object()  # from the sender: no more text will come
_INBOX_SIZE = 64


@attrs.define(eq=False)
class Connection:
    ws: WebSocket | None = None
    # context_id -> the owning turn's inbox; removed when the turn ends.
    contexts: dict[str, trio.MemorySendChannel[object]] = attrs.field(factory=dict)
    cancelled: set[str] = attrs.field(factory=set)
    closed: bool = False
    error: ProviderError | None = None


@attrs.define(eq=False)
class Counters:
    connections_opened: int = 0
    contexts_started: int = 0
    idle_closes: int = 0
    cancels_sent: int = 0
    late_chunks_dropped: int = 0


class CartesiaTurn:
    def __init__(
        self,
        settings: CartesiaSettings,
        sample_rate: int,
        connection: Connection,
        counters: Counters,
        turn_id: str,
    ) -> None:
        self.settings = settings
        self.sample_rate = sample_rate
        self.connection = connection
        self.counters = counters
        self._first_id = turn_id
        self.contexts = TurnContexts(
            # The first context is the turn's id; later ones (after a pause) add a number.
            make_id=lambda number: turn_id if number == 1 else f"{turn_id}.{number}",
            sample_rate=sample_rate,
            idle_close_s=settings.context_idle_close_s,
        )
        self._inbox, self._receive = trio.open_memory_channel[object](_INBOX_SIZE)
        self._deadline = math.inf
        # The receive wait's scope, so a sender pushing the deadline moves it too.
        self._waiting: trio.CancelScope | None = None

    async def speak(
        self,
        text: trio.MemoryReceiveChannel[str],
        out: trio.MemorySendChannel[AudioChunk],
    ) -> None:
        # Registered before any text, so a socket dropping meanwhile (the reader
        # closes every registered inbox) ends this turn too.
        self.connection.contexts[self._first_id] = self._inbox
        try:
            with self._receive:
                await self._run(text, out)
        finally:
            self.connection.contexts.pop(self._first_id, None)
            for segment in self.contexts.segments:
                self.connection.contexts.pop(segment.context_id, None)
            self._inbox.close()
            if not self.connection.closed:
                for segment in self.contexts.live():
                    self.connection.cancelled.add(segment.context_id)
                    await self._send_cancel(segment.context_id)

    async def _run(
        self, text: trio.MemoryReceiveChannel[str], out: trio.MemorySendChannel[AudioChunk]
    ) -> None:
        error: ProviderError | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._send_text, text)
            try:
                await self._receive_audio(out)
            except ProviderError as exc:
                error = exc  # raised bare below, not wrapped in this nursery's group
            nursery.cancel_scope.cancel()  # the turn is over; stop feeding it
        if error is not None:
            raise error

    def _expect_answer(self) -> None:
        """We sent text or got audio: the server owes us a message within the timeout.

        A later deadline is only noted: the wait's scope fires at the earlier one and
        ``_receive_audio`` waits on to this. Moving a scope's deadline costs Trio more
        than the occasional early wake-up (one per timeout, against one per message)."""
        self._deadline = deadline = trio.current_time() + self.settings.response_timeout_s
        waiting = self._waiting
        if waiting is not None and deadline < waiting.deadline:
            waiting.deadline = deadline

    # --- text out -----------------------------------------------------------

    async def _send_text(self, text: trio.MemoryReceiveChannel[str]) -> None:
        # No server buffering: at least keep words whole (reference §7b).
        keep_words_whole = self.settings.max_buffer_delay_ms == 0
        held = ""
        try:
            while True:
                with trio.move_on_at(self.contexts.idle_close_at()) as pause:
                    try:
                        fragment = await text.receive()
                    except trio.EndOfChannel:
                        break
                if pause.cancelled_caught:
                    # The deadline may be stale (audio came since): check again.
                    if trio.current_time() >= self.contexts.idle_close_at():
                        await self._close_open(idle=True)
                    continue
                held += fragment
                if keep_words_whole:
                    cut = max(held.rfind(" "), held.rfind("\n")) + 1
                    piece, held = held[:cut], held[cut:]
                else:
                    piece, held = held, ""  # pieces are concatenated verbatim by the server
                if self.contexts.open_segment is None and not piece.strip():
                    # Whitespace says nothing on its own: not worth a context. At the
                    # turn's start drop it; after a closed context keep it for the
                    # next one, so the turn's text stays verbatim.
                    held = piece + held if self.contexts.segments else held
                    continue
                if piece:
                    await self._send_piece(piece)
            if held.strip() or (held and self.contexts.open_segment is not None):
                await self._send_piece(held)
            await self._close_open(idle=False)
            self.contexts.text_ended = True
            await self._inbox.send(_TEXT_ENDED)
        except ConnectionClosed:
            pass  # the reader fails the turn with the reason
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the turn is already over

    async def _send_piece(self, piece: str) -> None:
        segment, opened = self.contexts.segment_for_text(trio.current_time())
        if opened:
            # Registered before its first piece goes out, so no answer is missed.
            self.connection.contexts[segment.context_id] = self._inbox
            self.counters.contexts_started += 1
        # The aligner learns the text before any of its audio can come back.
        self.contexts.sent(segment, piece, trio.current_time())
        await self._send(segment, piece, more=True)

    async def _close_open(self, *, idle: bool) -> None:
        segment = self.contexts.close_open()
        if segment is not None:
            if idle:
                self.counters.idle_closes += 1
            await self._send(segment, "", more=False)

    async def _send(self, segment: Segment, piece: str, *, more: bool) -> None:
        assert self.connection.ws is not None
        request = generation_request(
            self.settings,
            context_id=segment.context_id,
            transcript=piece,
            more=more,
            sample_rate=self.sample_rate,
        )
        await self.connection.ws.send_message(encode(request))
        self._expect_answer()

    # --- audio back -----------------------------------------------------------

    async def _receive_audio(self, out: trio.MemorySendChannel[AudioChunk]) -> None:
        while True:
            # One scope for many messages: its deadline is only ever moved earlier
            # (``_expect_answer``); when it fires, the real deadline is looked at.
            with trio.move_on_at(self._deadline) as self._waiting:
                while True:
                    try:
                        message = await receive_eagerly(self._receive)
                    except trio.EndOfChannel:
                        raise self.connection.error or ProviderError(
                            PROVIDER, "connection lost", retryable=True
                        ) from None
                    if message is not _TEXT_ENDED:
                        if isinstance(message, Chunk):
                            self._expect_answer()
                        for chunk in self.contexts.on_message(message, trio.current_time()):
                            await out.send(chunk)
                    if self.contexts.finished:
                        return
                    if not self.contexts.live():
                        # Every context is done and the text goes on (a tool call):
                        # the server owes us nothing until we send more.
                        self._deadline = math.inf
            self._waiting = None
            if trio.current_time() >= self._deadline:
                (segment, *_) = self.contexts.live() or self.contexts.segments
                raise ProviderTimeout(
                    PROVIDER,
                    f"no audio for context {segment.context_id} within "
                    f"{self.settings.response_timeout_s} s",
                )

    async def _send_cancel(self, context_id: str) -> None:
        assert self.connection.ws is not None
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self.settings.cancel_timeout_s
            try:
                await self.connection.ws.send_message(encode(cancel_request(context_id)))
                self.counters.cancels_sent += 1
            except ConnectionClosed:
                pass
