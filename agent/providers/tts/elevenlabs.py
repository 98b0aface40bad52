"""ElevenLabs streaming TTS over the single-context stream-input WebSocket.

The single-context endpoint cannot multiplex, so each ``speak`` opens its own
socket (connecting while the LLM thinks) and ``run`` only marks the session's
lifetime. Text is forwarded at word boundaries as it arrives (pieces must end
with whitespace); a finished sentence is flushed at once. Cancelling ``speak``
closes the socket, which stops the generation.
"""

from __future__ import annotations

import functools
import logging
import math

import attrs
import trio
from trio_websocket import ConnectionClosed

from agent.base.errors import ConfigError, ProviderError, ProviderTimeout, RemoteProtocolError
from agent.base.events import AudioChunk
from agent.providers.tts.cartesia import run_websocket
from agent.providers.tts.elevenlabs_wire import (
    END_OF_INPUT,
    PCM_RATES,
    PROVIDER,
    Audio,
    ElevenLabsSettings,
    Final,
    ServerError,
    connect_headers,
    encode,
    handshake_error,
    init_message,
    parse_message,
    server_error,
    split_words,
    stream_url,
    text_message,
)
from agent.providers.unusable import UnusableMessages
from agent.providers.websocket import WebSocket

__all__ = ["ElevenLabsSettings", "ElevenLabsTts"]

log = logging.getLogger(__name__)


@attrs.define(eq=False)
class _Turn:
    response_timeout: float
    scope: trio.CancelScope  # the turn's nursery: cancelled when the turn must stop
    error: ProviderError | None = None
    final: bool = False
    deadline: float = math.inf
    waiting: trio.CancelScope | None = None
    carry: bytes = b""

    def expect_answer(self) -> None:
        self.deadline = trio.current_time() + self.response_timeout
        if self.waiting is not None:
            self.waiting.deadline = self.deadline

    def fail(self, error: ProviderError) -> None:
        if self.error is None:
            self.error = error
        self.scope.cancel()


class ElevenLabsTts:
    """``TextToSpeech`` over ElevenLabs stream-input (see module doc)."""

    name = PROVIDER

    def __init__(self, settings: ElevenLabsSettings, sample_rate: int = 8000) -> None:
        if sample_rate not in PCM_RATES:
            raise ConfigError(f"sample_rate={sample_rate}: ElevenLabs PCM rates are {PCM_RATES}")
        self.settings = settings
        self.sample_rate = sample_rate
        self._url = stream_url(settings, sample_rate)
        self._unusable = UnusableMessages(PROVIDER, log)  # logged once, skipped

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()  # nothing is kept across turns
        await trio.sleep_forever()

    async def speak(
        self,
        text: trio.MemoryReceiveChannel[str],
        out: trio.MemorySendChannel[AudioChunk],
    ) -> None:
        async with text, out:
            async with trio.open_nursery() as nursery:
                turn = _Turn(self.settings.response_timeout_s, nursery.cancel_scope)
                try:
                    ws = await nursery.start(
                        functools.partial(
                            run_websocket,
                            self._url,
                            connect_headers(self.settings),
                            functools.partial(self._receive, turn, out),
                            provider=PROVIDER,
                            on_reject=handshake_error,
                            connect_timeout=self.settings.connect_timeout_s,
                        )
                    )
                except ProviderError as exc:
                    turn.fail(exc)
                else:
                    await self._send_text(ws, turn, text)
            if turn.error is not None:
                raise turn.error

    async def _send_text(
        self,
        ws: WebSocket,
        turn: _Turn,
        text: trio.MemoryReceiveChannel[str],
    ) -> None:
        held = ""
        sent_any = False
        try:
            await ws.send_message(encode(init_message(self.settings)))
            async for fragment in text:
                held += fragment
                if not sent_any and not held.strip():
                    held = ""  # leading whitespace says nothing
                    continue
                piece, held = split_words(held)
                if piece:
                    await ws.send_message(encode(text_message(piece)))
                    sent_any = True
                    turn.expect_answer()
            if held.strip():
                await ws.send_message(encode(text_message(held + " ")))
                sent_any = True
            if not sent_any:
                turn.final = True
                turn.scope.cancel()  # nothing to say: close without asking for audio
                return
            await ws.send_message(encode(END_OF_INPUT))
            turn.expect_answer()
        except ConnectionClosed:
            pass  # the receiver reports why

    async def _receive(
        self,
        turn: _Turn,
        out: trio.MemorySendChannel[AudioChunk],
        ws: WebSocket,
    ) -> None:
        try:
            while not turn.final:
                with trio.move_on_at(turn.deadline) as turn.waiting:
                    raw = await ws.get_message()
                    try:
                        message = parse_message(raw)
                    except RemoteProtocolError as exc:
                        self._unusable.skip(str(exc))  # a message we cannot use
                        continue
                    if isinstance(message, Final):
                        turn.final = True
                    elif isinstance(message, ServerError):
                        turn.fail(server_error(message))
                        return
                    elif isinstance(message, Audio):
                        turn.expect_answer()
                        await self._forward(turn, out, message)
                    continue
                turn.waiting = None
                if trio.current_time() >= turn.deadline:
                    turn.fail(
                        ProviderTimeout(
                            PROVIDER, f"no audio within {self.settings.response_timeout_s} s"
                        )
                    )
                    return
        except ConnectionClosed as exc:
            reason = exc.reason
            error = ProviderError(
                PROVIDER,
                f"connection closed before the end of the audio ({reason.code if reason else '?'})",
                retryable=True,
            )
            error.__cause__ = exc
            turn.fail(error)

    async def _forward(
        self, turn: _Turn, out: trio.MemorySendChannel[AudioChunk], message: Audio
    ) -> None:
        pcm = turn.carry + message.pcm
        whole = len(pcm) - len(pcm) % 2
        pcm, turn.carry = pcm[:whole], pcm[whole:]
        if pcm or message.text:
            await out.send(AudioChunk(pcm, message.text))
