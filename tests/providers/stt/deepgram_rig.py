"""DeepgramStt driven over a plan of frames and pauses against the fake Deepgram
server, for the Deepgram tests: the tone and silence they speak, the settings that
point at the fake, and ``transcribe`` that runs a session and keeps its events."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import trio

from agent.base.events import Transcript
from agent.providers.stt.deepgram import DeepgramSettings, DeepgramStt

RATE = 8000
FRAME = 320  # 20 ms of 16-bit mono at 8 kHz
LIMIT = 60  # virtual seconds


def tone(ms: int) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (np.sin(2 * np.pi * 300 * t) * 8000).astype("<i2").tobytes()


def silence(ms: int) -> bytes:
    return bytes(RATE * ms // 1000 * 2)


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME] for i in range(0, len(pcm), FRAME)]


def settings_for(fake: Any, **changes: Any) -> DeepgramSettings:
    return DeepgramSettings(api_key=fake.api_key, url=fake.url, **changes)


@attrs.define
class Session:
    stt: DeepgramStt
    events: list[Any] = attrs.Factory(list)
    times: list[float] = attrs.Factory(list)


async def transcribe(stt: DeepgramStt, plan: list[Any], *, direct: bool = False) -> Session:
    """Run ``stt`` over ``plan``: bytes = a 20 ms frame (sent in real time; with
    ``direct`` by ``push_audio``, as the caller's feed does, else on the channel),
    a float = a pause in seconds, "finalize" = call finalize(), "pausing" =
    call caller_pausing() (the VAD heard the caller stop), "speaking" = call
    caller_speaking() (the VAD heard the caller start)."""
    session = Session(stt)
    audio_in, audio_out = trio.open_memory_channel[bytes](50)
    events_in, events_out = trio.open_memory_channel[Any](100)

    async def feed() -> None:
        async with audio_in:
            for step in plan:
                if isinstance(step, bytes):
                    if direct:
                        stt.push_audio(step)
                    else:
                        await audio_in.send(step)
                    await trio.sleep(0.02)
                elif step == "finalize":
                    stt.finalize()
                elif step == "pausing":
                    stt.caller_pausing()
                elif step == "speaking":
                    stt.caller_speaking()
                else:
                    await trio.sleep(step)

    async with trio.open_nursery() as nursery:
        await nursery.start(stt.run, audio_out, events_in)
        nursery.start_soon(feed)
        async for event in events_out:
            session.events.append(event)
            session.times.append(trio.current_time())
    return session


def finals(events: list[Any]) -> list[Transcript]:
    return [e for e in events if isinstance(e, Transcript) and e.is_final]


SPEECH = tone(800) + silence(1500) + tone(600) + silence(1500)
SCRIPT = ["I need a plumber.", "Tomorrow morning."]
