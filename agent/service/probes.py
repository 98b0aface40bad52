"""Minimal authenticated requests that prove a configured provider answers.

Each probe runs the provider's real client the way a call does, as small as
it gets: Deepgram gets a live session with 0.1 s of silence; each LLM endpoint
(the primary and every fallback) a one-line chat capped at 16 tokens; a TTS a
three-character utterance. So a wrong key, voice, model or URL fails here, with
the provider's own error text. The base URLs come from the settings (and so
from DEEPGRAM_URL, LLM_BASE_URL, CARTESIA_URL, ELEVENLABS_URL).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import attrs
import trio

from agent.base.events import AudioChunk, Finish, LlmEvent, Message, SttEvent
from agent.providers.llm.openai_compat import OpenAICompatibleLLM
from agent.providers.llm.openai_settings import LlmSettings
from agent.providers.stt.deepgram import DeepgramStt
from agent.providers.stt.deepgram_settings import DeepgramSettings
from agent.providers.tts.cartesia import CartesiaTts
from agent.providers.tts.cartesia_wire import CartesiaSettings
from agent.providers.tts.elevenlabs import ElevenLabsTts
from agent.providers.tts.elevenlabs_wire import ElevenLabsSettings

Probe = Callable[[], Awaitable[str]]  # returns what it saw; raises on failure


def deepgram_probe(env: Mapping[str, str]) -> Probe:

    settings = attrs.evolve(DeepgramSettings.from_env(env), reconnect_attempts=0)

    async def probe() -> str:
        stt = DeepgramStt(settings, 8000)
        audio_send, audio_receive = trio.open_memory_channel[bytes](10)
        out_send, out_receive = trio.open_memory_channel[SttEvent](100)
        seen = 0

        async def feed() -> None:
            async with audio_send:
                for _ in range(5):
                    await audio_send.send(bytes(320))  # 0.1 s of silence

        async def drain() -> None:
            nonlocal seen
            async for _ in out_receive:
                seen += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed)
            nursery.start_soon(drain)
            await stt.run(audio_receive, out_send)
        return f"live session opened and closed at {settings.url} (model {settings.model})"

    return probe


def llm_probes(env: Mapping[str, str], name: str) -> list[tuple[str, Probe]]:
    """One probe per endpoint: the primary ``name`` and each LLM_FALLBACKS entry."""

    primary = LlmSettings.from_env(env, provider=name)
    chain = (primary, *primary.fallback_settings(env))
    probes = []
    for settings in chain:
        small = attrs.evolve(settings, max_tokens=16)
        probes.append((f"llm {settings.provider}", _llm_probe(OpenAICompatibleLLM(small))))
    return probes


def _llm_probe(model) -> Probe:
    async def probe() -> str:
        messages = [Message("system", "Reply with the word OK."), Message("user", "ping")]
        send, receive = trio.open_memory_channel[LlmEvent](100)
        finished = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(model.run, messages, [], send)
            async for event in receive:
                if isinstance(event, Finish):
                    finished = event
        if finished is None:
            raise RuntimeError("the stream ended without a finish")
        settings = model.settings
        return f"chat answered at {settings.base_url} (model {settings.model})"

    return probe


def tts_probe(env: Mapping[str, str], name: str) -> Probe:
    if name == "cartesia":
        cartesia = CartesiaSettings.from_env(env)
        return _tts_probe(lambda: CartesiaTts(cartesia, 8000), cartesia.url)

    eleven = ElevenLabsSettings.from_env(env)
    return _tts_probe(lambda: ElevenLabsTts(eleven, 8000), eleven.url)


def _tts_probe(make, url: str) -> Probe:
    async def probe() -> str:
        tts = make()
        text_send, text_receive = trio.open_memory_channel[str](4)
        out_send, out_receive = trio.open_memory_channel[AudioChunk](256)
        audio = 0
        collected = trio.Event()

        async def collect() -> None:
            nonlocal audio
            async for chunk in out_receive:
                audio += len(chunk.pcm)
            collected.set()

        async with trio.open_nursery() as nursery:
            await nursery.start(tts.run)
            nursery.start_soon(collect)
            async with text_send:
                await text_send.send("OK. ")
            async with out_send:
                await tts.speak(text_receive, out_send)
            await collected.wait()
            nursery.cancel_scope.cancel()  # ends the session
        if not audio:
            raise RuntimeError("no audio came back")
        return f"spoke {audio // 16} ms of audio from {url}"

    return probe
