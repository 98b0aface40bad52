"""EspeakTts: sentence chunking, 8 kHz output, and abort on cancel (barge-in)."""

from __future__ import annotations

import importlib.util
import sys
import threading

import numpy as np
import pytest
import trio
import trio.testing

from agent.base.errors import ProviderError
from agent.base.events import AudioChunk
from agent.providers.tts import espeak
from agent.providers.tts.espeak import EspeakTts, SentenceChunker

RATE = 8000
SENTENCE = "Your plumber will arrive tomorrow morning between eight and ten."

HAVE_ESPEAK = importlib.util.find_spec("espeakng_loader") is not None
requires_espeak = pytest.mark.skipif(
    not HAVE_ESPEAK,
    reason="offline extra not installed (espeakng-loader): pip install 'voice-agent[offline]'",
)

# --- chunking (pure) -------------------------------------------------------------


def test_chunker_cuts_sentences_once_the_next_fragment_shows_the_boundary():
    chunker = SentenceChunker()
    assert chunker.feed("Hello there.") == []  # "." might be "there.com"
    assert chunker.feed(" How can I") == ["Hello there."]
    assert chunker.feed(" help? It costs £85.50") == ["How can I help?"]
    assert chunker.feed(" in total.\n") == ["It costs £85.50 in total."]
    assert chunker.flush() == []


def test_chunker_cuts_long_clauses_at_commas_but_not_short_ones():
    chunker = SentenceChunker(min_clause_chars=12)
    units = chunker.feed("Yes, we can send a plumber tomorrow, between eight and ten, ok")
    assert units == ["Yes, we can send a plumber tomorrow,", "between eight and ten,"]
    assert chunker.flush() == ["ok"]


def test_chunker_cuts_unpunctuated_text_at_a_space_and_drops_unspeakable_units():
    chunker = SentenceChunker(min_clause_chars=5, max_chars=20)
    units = chunker.feed("one two three four five six seven eight nine ")
    assert units and all(len(unit) <= 20 for unit in units)
    assert " ".join(units + chunker.flush()) == "one two three four five six seven eight nine"
    assert chunker.feed("... ") == []
    assert chunker.flush() == []
    assert chunker.feed("Line one\nLine two ") == ["Line one"]
    assert chunker.flush() == ["Line two"]


def test_chunker_rejects_bad_limits():
    with pytest.raises(ValueError, match="min_clause_chars"):
        SentenceChunker(min_clause_chars=50, max_chars=20)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="rate_wpm"):
        EspeakTts(RATE, rate_wpm=1000)
    with pytest.raises(ValueError, match="sample_rate"):
        EspeakTts(100)


def test_missing_library_is_a_clear_provider_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with pytest.raises(ProviderError, match=r"offline extra is not installed"):
        espeak._Engine()


async def test_speak_before_run_is_refused():
    _text_in, text_out = trio.open_memory_channel[str](1)
    audio_in, _audio_out = trio.open_memory_channel[AudioChunk](1)
    with pytest.raises(RuntimeError, match=r"run\(\) is not running"):
        await EspeakTts(RATE).speak(text_out, audio_in)


# --- synthesis -------------------------------------------------------------------


async def speak_all(tts: EspeakTts, fragments: list[str]) -> list[AudioChunk]:
    text_in, text_out = trio.open_memory_channel[str](len(fragments))
    audio_in, audio_out = trio.open_memory_channel[AudioChunk](1000)
    async with text_in:
        for fragment in fragments:
            text_in.send_nowait(fragment)
    await tts.speak(text_out, audio_in)
    return [chunk async for chunk in audio_out]


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)))


@pytest.mark.offline
@requires_espeak
async def test_speak_yields_call_rate_pcm_with_the_text_it_covers(nursery):
    tts = EspeakTts(RATE, voice="en-gb")
    await nursery.start(tts.run)
    # Streamed like LLM tokens: the sentence is cut mid-word.
    fragments = [SENTENCE[:17], SENTENCE[17:40], SENTENCE[40:], " Is that OK?"]
    with trio.fail_after(10):
        chunks = await speak_all(tts, fragments)
    pcm = b"".join(chunk.pcm for chunk in chunks)
    assert len(chunks) > 5  # streamed in pieces, not one blob
    assert all(len(chunk.pcm) % 2 == 0 for chunk in chunks)
    seconds = len(pcm) / 2 / RATE
    assert 1.5 < seconds < 10, seconds  # 10 + 3 words at ~165 words/minute
    assert rms(pcm) > 500
    spoken = "".join(chunk.text for chunk in chunks)
    assert spoken.split() == (SENTENCE + " Is that OK?").split()
    assert tts.statistics().sentences == 2 and tts.statistics().aborted == 0


@pytest.mark.offline
@requires_espeak
async def test_resamples_to_the_sessions_rate_and_voices_differ(nursery):
    narrow, wide = EspeakTts(8000, voice="en-us"), EspeakTts(16000, voice="en-gb")
    await nursery.start(narrow.run)
    await nursery.start(wide.run)
    with trio.fail_after(10):
        pcm8 = b"".join(c.pcm for c in await speak_all(narrow, [SENTENCE]))
        pcm16 = b"".join(c.pcm for c in await speak_all(wide, [SENTENCE]))
    seconds8, seconds16 = len(pcm8) / 2 / 8000, len(pcm16) / 2 / 16000
    assert 0.5 < seconds8 < 8 and 0.5 < seconds16 < 8
    assert pcm8 != pcm16[: len(pcm8)]


@pytest.mark.offline
@requires_espeak
async def test_unknown_voice_is_a_provider_error():
    with pytest.raises(ProviderError, match="no voice named 'xx-nowhere'"):
        await EspeakTts(RATE, voice="xx-nowhere").run()


@pytest.mark.offline
@requires_espeak
async def test_cancel_aborts_mid_sentence_and_nothing_follows(nursery, monkeypatch):
    tts = EspeakTts(RATE)
    await nursery.start(tts.run)
    engine = espeak._get_engine()
    long_sentence = " ".join([SENTENCE.rstrip(".")] * 6) + "."
    # Hold the synthesis thread inside espeak's callback after a few pieces, so
    # the cancel deterministically lands mid-sentence.
    paused, resume = threading.Event(), threading.Event()
    real_words_end = espeak._words_end
    calls = 0

    def pausing_words_end(text, events):
        nonlocal calls
        calls += 1
        if calls == 5:
            paused.set()
            resume.wait(5)
        return real_words_end(text, events)

    monkeypatch.setattr(espeak, "_words_end", pausing_words_end)
    text_in, text_out = trio.open_memory_channel[str](1)
    audio_in, audio_out = trio.open_memory_channel[AudioChunk](1000)
    text_in.send_nowait(long_sentence)
    text_in.close()
    with trio.fail_after(10):
        with trio.CancelScope() as turn:
            async with trio.open_nursery() as inner:
                inner.start_soon(tts.speak, text_out, audio_in)
                await trio.to_thread.run_sync(paused.wait)
                await trio.testing.wait_all_tasks_blocked()
                sent_before_cancel = tts.statistics().chunks
                turn.cancel()  # the barge-in
                resume.set()
    assert turn.cancelled_caught
    stats = tts.statistics()
    assert stats.aborted == 1 and stats.sentences == 1
    assert stats.chunks == sent_before_cancel  # nothing reached ``out`` after the cancel
    got = []
    while True:
        try:
            got.append(audio_out.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    assert 0 < len(got) == sent_before_cancel
    # espeak_Synth returned (the callback's abort took effect): no job, lock free.
    assert engine.job is None and not engine.lock.locked()
    assert calls < 30  # a whole sentence is ~150 pieces; it stopped right after the pause

    # The session is still usable for the next turn.
    monkeypatch.setattr(espeak, "_words_end", real_words_end)
    with trio.fail_after(10):
        chunks = await speak_all(tts, ["Sorry, go ahead."])
    assert rms(b"".join(c.pcm for c in chunks)) > 500
    assert tts.statistics().aborted == 1
