"""A ``TextToSpeech`` that moves to the next voice when one fails.

``FallbackTts([cartesia, elevenlabs, espeak])`` is one call-scoped session.
``run`` starts the first voice that comes up (a refused handshake at call start
moves on at once); the others are started only when needed. The voice reads
the turn's text through ``_TextIn``, which remembers what it took, and its
audio goes to the turn from its own task through ``_AudioOut``, which notes the
text it covers (neither is a forwarding task). So when the voice fails mid-turn with a
``ProviderError`` the turn goes on with the next voice:

* nothing was heard yet: the next voice says all the text taken so far, then
  the rest as it comes (the caller only hears the fallback voice);
* some audio went out: the next voice starts after the last text the sent audio
  covered (the TTS's alignment); without alignment we cannot tell where the
  caller is, so the error is raised and the turn fails as it would without us.

The call then stays on the voice that worked: switching voices back and forth
within a call is worse than a steady second-best voice. When every voice has
failed, the last error is raised with the others as notes. Cancelling ``speak``
(barge-in) cancels the voice's turn only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attrs
import trio

from agent.base.errors import ConfigError, ProviderError
from agent.base.events import AudioChunk
from agent.providers.attempt import AttemptChannel
from agent.providers.channels import receive_eagerly, send_eagerly
from agent.providers.protocols import TextToSpeech

__all__ = ["FallbackTts", "replay_after"]

log = logging.getLogger(__name__)


def replay_after(taken: str, covered: str) -> str | None:
    """The part of ``taken`` the caller has not heard, given the text ``covered`` by
    the audio already sent, or ``None`` if ``covered`` is not a prefix of ``taken``
    (whitespace aside: a TTS may drop or add spaces in its alignment)."""
    want = "".join(covered.split())
    seen = 0
    for index, char in enumerate(taken):
        if seen == len(want):
            return taken[index:]
        if char.isspace():
            continue
        if char != want[seen]:
            return None
        seen += 1
    return "" if seen == len(want) else None


@attrs.define
class _Progress:
    taken: str = ""  # every fragment read from the turn's text, in order
    covered: str = ""  # the text of the audio forwarded to ``out``
    audio_bytes: int = 0


class _AudioOut(AttemptChannel[AudioChunk]):
    """Where one attempt's voice sends its audio: on to ``out`` at once, from the
    voice's own task (no forwarding task: a chunk reaches playout without a trip
    round the run loop), counting what went out in ``progress``. Closing it closes
    only the attempt; ``speak`` closes ``out`` when every attempt is done."""

    def __init__(self, out: trio.MemorySendChannel[AudioChunk], progress: _Progress) -> None:
        super().__init__("the attempt's audio channel")
        self._out = out
        self._progress = progress

    async def send(self, value: AudioChunk) -> None:
        self._check_open()
        await send_eagerly(self._out, value)
        self._progress.audio_bytes += len(value.pcm)
        self._progress.covered += value.text


class _TextIn(trio.abc.ReceiveChannel[str]):
    """The turn's text as one attempt's voice reads it: ``replay`` first, then the
    turn's own channel, each fragment noted in ``progress.taken`` as the voice takes
    it (so a failure replays it). Read in the voice's task: no forwarding task, no
    trip round the run loop per fragment. Closing it closes only the attempt's view:
    the next attempt reads on from the same channel."""

    def __init__(
        self, text: trio.MemoryReceiveChannel[str], replay: str, progress: _Progress
    ) -> None:
        self._text = text
        self._replay = replay
        self._progress = progress
        self._closed = False

    async def receive(self) -> str:
        if self._closed:
            raise trio.ClosedResourceError("the attempt's text channel is closed")
        if self._replay.strip():
            fragment, self._replay = self._replay, ""
            await trio.lowlevel.checkpoint()
        else:
            # A replay of bare whitespace (the space after the last word heard) goes
            # with the next fragment: alone it would be a fragment saying nothing.
            fragment = self._replay + await receive_eagerly(self._text)
            self._replay = ""
        self._progress.taken += fragment
        return fragment

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> _TextIn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()


class _Status:
    """Passes ``started`` on and remembers that it was called."""

    def __init__(self, inner: trio.TaskStatus[Any]) -> None:
        self.inner = inner
        self.called = False

    def started(self, value: Any = None) -> None:
        self.called = True
        self.inner.started(value)


class FallbackTts:
    """Voices in order of preference; see the module docstring for the policy."""

    def __init__(self, voices: Sequence[TextToSpeech]) -> None:
        if not voices:
            raise ConfigError("FallbackTts needs at least one voice")
        rates = {voice.sample_rate for voice in voices}
        if len(rates) != 1:
            raise ConfigError(f"FallbackTts: every voice must speak one sample rate, got {rates}")
        self.voices = tuple(voices)
        self.sample_rate = voices[0].sample_rate
        self.name = ">".join(getattr(v, "name", type(v).__name__) for v in self.voices)
        self.current = 0  # the voice turns use now
        self.switches = 0
        self.failures: list[ProviderError] = []
        self._running: set[int] = set()
        self._nursery: trio.Nursery | None = None
        self._lock = trio.Lock()

    # --- call scope ---------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # Raised after the nursery, so callers get a bare ProviderError, not a group.
        error: ProviderError | None = None
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                await self._ensure_running()
                task_status.started()
                await trio.sleep_forever()
            except ProviderError as exc:
                error = exc
            finally:
                self._nursery = None
        if error is not None:
            raise error

    async def _ensure_running(self) -> int:
        """Start the current voice if needed (moving on past those that fail to start)."""
        async with self._lock:
            while self.current not in self._running:
                if self._nursery is None:
                    raise RuntimeError("FallbackTts.speak() needs run() to be running")
                try:
                    await self._nursery.start(self._run_voice, self.current)
                except ProviderError as exc:
                    self._give_up_on(self.current, exc)
                else:
                    self._running.add(self.current)
            return self.current

    async def _run_voice(self, index: int, *, task_status: trio.TaskStatus[None]) -> None:
        status = _Status(task_status)
        try:
            await self.voices[index].run(task_status=status)  # type: ignore[arg-type]
        except ProviderError as exc:
            if not status.called:
                raise  # nursery.start hands it to _ensure_running
            self._running.discard(index)
            self._give_up_on(index, exc)
        else:
            self._running.discard(index)
        if status.called:
            return
        raise ProviderError(self._name(index), "session ended before it was ready")

    def _give_up_on(self, index: int, exc: ProviderError) -> None:
        """Record the failure; the next voice becomes current (or raise: none left)."""
        self.failures.append(exc)
        if index != self.current:
            return
        if index + 1 >= len(self.voices):
            for earlier in self.failures[:-1]:
                exc.add_note(f"earlier failure in {self.name}: {earlier}")
            raise exc
        self.current = index + 1
        self.switches += 1
        log.warning(
            "tts: %s failed (%s); using %s", self._name(index), exc, self._name(self.current)
        )

    def _name(self, index: int) -> str:
        voice = self.voices[index]
        return getattr(voice, "name", type(voice).__name__)

    # --- turn scope ---------------------------------------------------------------

    async def speak(
        self,
        text: trio.MemoryReceiveChannel[str],
        out: trio.MemorySendChannel[AudioChunk],
    ) -> None:
        with text, out:
            progress = _Progress()
            replay = ""
            while True:
                index = await self._ensure_running()
                error = await self._attempt(self.voices[index], replay, text, out, progress)
                if error is None:
                    return
                if progress.audio_bytes == 0:
                    rest: str | None = progress.taken
                elif progress.covered.strip():
                    rest = replay_after(progress.taken, progress.covered)
                else:
                    rest = None  # audio went out, but no text says how much of it
                if rest is None:
                    error.add_note("tts fallback: audio without alignment was sent; not resumed")
                    raise error
                if index == self.current:
                    self._give_up_on(index, error)  # raises when no voice is left
                replay = rest
                # The next attempt gets the unheard text again, then the live rest.
                progress.taken = progress.taken[: len(progress.taken) - len(rest)]

    async def _attempt(
        self,
        voice: TextToSpeech,
        replay: str,
        text: trio.MemoryReceiveChannel[str],
        out: trio.MemorySendChannel[AudioChunk],
        progress: _Progress,
    ) -> ProviderError | None:
        """One voice speaks ``replay`` then the rest of ``text``; its error, if any."""
        text_in = _TextIn(text, replay, progress)
        audio = _AudioOut(out, progress)
        # Closed here too: not every voice closes its channels when done.
        with text_in, audio:
            try:
                await voice.speak(text_in, audio)  # type: ignore[arg-type]
            except ProviderError as exc:
                return exc
        return None
