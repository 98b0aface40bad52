"""A process that is stopped with SIGTERM while Whisper decodes a long line: run by
tests/providers/stt/test_whisper_exit.py (``python -m tests.providers.stt.whisper_exit_child``).
Prints ``decoding`` once the decode has started; exits 0 after a clean stop."""

from __future__ import annotations

import signal
import sys

import numpy as np
import trio

from agent.demo.scenarios import CALLER_LINES
from agent.providers.stt.whisper import WhisperStt

RATE = 8000
FRAME = 320


def long_line() -> bytes:
    """About 25 s of the fixtures' speech, one utterance (no pause the VAD ends on)."""
    from agent.base.wav import read_wav

    speech = [np.frombuffer(read_wav(path, RATE), np.int16) for path in CALLER_LINES.glob("*.wav")]
    joined = np.concatenate(speech)[: 25 * RATE]
    hiss = np.random.default_rng(0).normal(0, 400, joined.size)  # no silent gaps
    return np.clip(joined + hiss, -32768, 32767).astype(np.int16).tobytes()


async def main() -> None:
    stt = WhisperStt(RATE, max_utterance_s=29)
    await stt.warm_up()
    pcm = long_line()
    decoding = trio.Event()
    real = stt.recognise

    def recognise(model, audio: bytes):
        trio.from_thread.run_sync(decoding.set)
        return real(model, audio)

    stt.recognise = recognise  # type: ignore[method-assign]
    audio_in, audio_out = trio.open_memory_channel[bytes](0)
    events_in, _events_out = trio.open_memory_channel(100)  # kept open: nothing read
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(stt.run, audio_out, events_in)
            async with audio_in:  # closing it flushes the utterance: the decode starts
                for i in range(0, len(pcm), FRAME):
                    await audio_in.send(pcm[i : i + FRAME])
            await decoding.wait()
            print("decoding", flush=True)
            async for _ in signals:  # the service's stop: cancel everything, return
                nursery.cancel_scope.cancel()
                break
    sys.stdout.write("stopped\n")


if __name__ == "__main__":
    trio.run(main)
