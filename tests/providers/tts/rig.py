"""Driving one TTS turn in a test: feed text, collect the audio."""

from __future__ import annotations

import trio

from agent.base.errors import ProviderError
from agent.base.events import AudioChunk


async def speak_all(tts, fragments: list[str]) -> list[AudioChunk]:
    """One turn whose text is all there before it starts."""
    text_send, text_recv = trio.open_memory_channel[str](100)
    out_send, out_recv = trio.open_memory_channel[AudioChunk](1000)
    for fragment in fragments:
        text_send.send_nowait(fragment)
    text_send.close()
    await tts.speak(text_recv, out_send)
    return [chunk async for chunk in out_recv]


async def speak(tts, script, *, gap: float = 0.0, done: list[float] | None = None):
    """One turn with its text streamed: ``script`` items are text fragments (str)
    or pauses in seconds (float), with ``gap`` seconds after each fragment.
    Returns the audio; speak()'s error is raised bare; ``done`` gets the time
    speak() returned."""
    text_send, text_receive = trio.open_memory_channel[str](100)
    out_send, out_receive = trio.open_memory_channel[AudioChunk](1000)
    chunks: list[AudioChunk] = []

    async def feed() -> None:
        async with text_send:
            for step in script:
                if not isinstance(step, str):
                    await trio.sleep(step)
                    continue
                try:
                    await text_send.send(step)
                except trio.BrokenResourceError:
                    return  # speak() gave up
                if gap:
                    await trio.sleep(gap)

    async def collect() -> None:
        async for chunk in out_receive:
            chunks.append(chunk)

    error: ProviderError | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed)
        nursery.start_soon(collect)
        try:
            await tts.speak(text_receive, out_send)
        except ProviderError as exc:
            error = exc
        if done is not None:
            done.append(trio.current_time())
    if error is not None:
        raise error
    return chunks
