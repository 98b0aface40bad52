"""WhisperStt: a decode that ends late (a busy box) is delivered in order, once;
one stuck past ``abandon_after_s`` is given up. Virtual time, the decode stubbed."""

from __future__ import annotations

import threading

import pytest
import trio

from agent.base.events import SpeechStarted, Transcript, UtteranceEnd
from agent.providers.stt import whisper
from agent.providers.stt.whisper import WhisperStt

from .test_whisper import FRAME, fake_model, fake_stt, silence, tone

__all__ = ["fake_model"]  # the fixture, shared with test_whisper


class HeldDecodes:
    """Stands in for ``recognise``: each decode waits until the test lets it end, so
    the test says how long it took on the (virtual) Trio clock."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = iter(texts)
        self.started = trio.Semaphore(0, max_value=10)
        self.release: list[threading.Event] = []
        self._lock = threading.Lock()  # CTranslate2 decodes one at a time

    def __call__(self, model, pcm: bytes) -> whisper.Recognition:
        with self._lock:
            release = threading.Event()
            self.release.append(release)
            trio.from_thread.run_sync(self.started.release)
            release.wait(10)
            return whisper.Recognition(next(self.texts), 0.9, 0.0)


async def feed_two_lines(stt: WhisperStt, decodes: HeldDecodes, clock, steps) -> list:
    """Two utterances into ``stt``; ``steps(clock, decodes)`` lets each decode end
    when it likes; the events in the order they came."""
    audio_in, audio_out = trio.open_memory_channel[bytes](0)
    events_in, events_out = trio.open_memory_channel(100)
    async with trio.open_nursery() as nursery:
        await nursery.start(stt.run, audio_out, events_in)
        pcm = tone(1.0) + silence(0.5) + tone(1.0) + silence(1.0)
        async with audio_in:
            for i in range(0, len(pcm), FRAME):
                await audio_in.send(pcm[i : i + FRAME])
        await steps(clock, decodes)
        return [event async for event in events_out]


async def test_a_late_decode_is_delivered_in_order_and_its_lateness_kept(
    fake_model, monkeypatch, mock_clock
):
    # A 6 s line on a busy box took 13 s, past the 10 s timeout: its words still
    # come, once, before the next line's, and the statistics say by how much.
    decodes = HeldDecodes(["my postcode is SE11 5PH", "07700 900123"])
    stt = fake_stt(transcribe_timeout_s=10.0)
    monkeypatch.setattr(stt, "recognise", decodes)

    async def steps(clock, decodes) -> None:
        await decodes.started.acquire()
        clock.jump(13.0)
        decodes.release[0].set()
        await decodes.started.acquire()
        clock.jump(0.5)
        decodes.release[1].set()

    events = await feed_two_lines(stt, decodes, mock_clock, steps)
    # Both onsets came while the first line was still decoding.
    assert [type(event) for event in events] == [SpeechStarted] * 2 + [Transcript] * 2
    assert [e.text for e in events if isinstance(e, Transcript)] == [
        "my postcode is SE11 5PH",
        "07700 900123",
    ]
    assert not any(isinstance(event, UtteranceEnd) for event in events)
    stats = stt.statistics()
    assert (stats.utterances, stats.late, stats.abandoned) == (2, 1, 0)
    assert stats.late_s_max == pytest.approx(3.0)


async def test_a_decode_past_abandon_after_is_given_up_and_never_delivered_later(
    fake_model, monkeypatch, mock_clock
):
    decodes = HeldDecodes(["stuck", "07700 900123"])
    stt = fake_stt(transcribe_timeout_s=10.0, abandon_after_s=30.0)
    monkeypatch.setattr(stt, "recognise", decodes)

    async def steps(clock, decodes) -> None:
        await decodes.started.acquire()
        clock.jump(31.0)  # given up: the utterance is closed without words
        await trio.testing.wait_all_tasks_blocked()
        # The abandoned decode still holds the model; when it ends, its words are
        # dropped and the next line is decoded, timed from then.
        decodes.release[0].set()
        await decodes.started.acquire()
        clock.jump(12.0)
        decodes.release[1].set()

    events = await feed_two_lines(stt, decodes, mock_clock, steps)
    closing = [event for event in events if not isinstance(event, SpeechStarted)]
    assert [type(event) for event in closing] == [UtteranceEnd, Transcript]
    assert closing[1].text == "07700 900123"
    stats = stt.statistics()
    assert (stats.utterances, stats.late, stats.abandoned) == (2, 1, 1)
    assert stats.late_s_max == pytest.approx(2.0)
