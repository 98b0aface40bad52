"""ElevenLabsTts: wire shapes, and the client against the fake over loopback."""

from __future__ import annotations

import gc
import json

import pytest
import trio

from agent.base.errors import ConfigError, ProviderError, ProviderStatusError
from agent.base.events import AudioChunk
from agent.providers.protocols import TextToSpeech
from agent.providers.tts.elevenlabs import ElevenLabsSettings, ElevenLabsTts
from agent.providers.tts.elevenlabs_wire import (
    Audio,
    Final,
    ServerError,
    init_message,
    parse_message,
    server_error,
    split_words,
    stream_url,
    text_message,
)
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.tone_text import decode_tones
from tests.providers.tts.rig import speak

LIMIT = 5
SETTINGS = ElevenLabsSettings(api_key="xi-test", voice_id="voice 1")


def test_url_init_and_text_messages():
    url = stream_url(SETTINGS, 8000)
    assert url == (
        "wss://api.elevenlabs.io/v1/text-to-speech/voice%201/stream-input"
        "?model_id=eleven_flash_v2_5&output_format=pcm_8000&inactivity_timeout=20"
    )
    init = init_message(SETTINGS)
    assert init["text"] == " "
    assert init["generation_config"] == {"chunk_length_schedule": [50, 120, 160, 250]}
    assert text_message("Hello there ") == {"text": "Hello there ", "try_trigger_generation": True}
    assert text_message("All done. ") == {"text": "All done. ", "flush": True}
    with pytest.raises(ValueError, match="whitespace"):
        text_message("Hel")
    assert split_words("Hello wor") == ("Hello ", "wor")
    with pytest.raises(ConfigError, match="16001"):
        stream_url(SETTINGS, 16001)


def test_parse_audio_final_and_errors():
    audio = {"audio": "AQA=", "isFinal": None,
             "alignment": {"chars": ["H", "i"], "charStartTimesMs": [0, 3],
                           "charsDurationsMs": [3, 4]}}  # fmt: skip
    assert parse_message(json.dumps(audio)) == Audio(b"\x01\x00", "Hi")
    assert parse_message('{"isFinal": true}') == Final()
    assert parse_message('{"is_final": true, "audio": null}') == Final()
    error = parse_message('{"message": "no text", "error": "input_timeout_exceeded", "code": 1008}')
    assert error == ServerError("input_timeout_exceeded", "no text", 1008)
    assert server_error(error).retryable
    assert not server_error(ServerError("invalid_input_message", "bad", 1008)).retryable


def test_settings_from_env():
    settings = ElevenLabsSettings.from_env(
        {
            "ELEVENLABS_API_KEY": "sk-secret",
            "ELEVENLABS_VOICE_ID": "v",
            "ELEVENLABS_URL": "ws://127.0.0.1:1",
        }
    )
    assert settings.url == "ws://127.0.0.1:1" and settings.api_key == "sk-secret"
    assert "sk-secret" not in repr(settings)
    with pytest.raises(ConfigError, match="ELEVENLABS_API_KEY"):
        ElevenLabsSettings.from_env({})


@pytest.fixture
async def fake(nursery):
    fake = await nursery.start(FakeElevenLabs().serve)
    yield fake
    assert fake.violations == []


@pytest.fixture
async def tts(fake):
    tts = ElevenLabsTts(ElevenLabsSettings(api_key="test-key", voice_id="v1", url=fake.url))
    async with trio.open_nursery() as nursery:
        await nursery.start(tts.run)
        yield tts
        nursery.cancel_scope.cancel()


async def test_happy_path_streams_words_and_speaks_the_text(tts, fake):
    fragments = ["Hel", "lo, thanks", " for call", "ing. How can", " I help?"]
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, fragments, gap=0.01)
    text = "".join(fragments)
    assert isinstance(tts, TextToSpeech)
    # Pieces must end with whitespace, so the last one gets a space (the fake
    # speaks it as a tone, like every character it receives).
    assert decode_tones(b"".join(c.pcm for c in chunks)) == text + " "
    assert "".join(c.text for c in chunks) == text + " "
    (stream,) = fake.streams
    assert stream.voice_id == "v1" and stream.query["output_format"] == "pcm_8000"
    assert [piece for _, piece in stream.fragments] == [
        "Hello, ",
        "thanks for ",
        "calling. How ",
        "can I ",
        "help? ",
    ]  # fmt: skip  (whole words only, sent as soon as they are complete)
    assert stream.ended and stream.final_sent


async def test_cancel_closes_the_socket_and_the_next_turn_works(tts, fake):
    fake.chunk_gap = 0.02
    fake.chars_per_chunk = 2
    out_send, out_receive = trio.open_memory_channel[AudioChunk](1000)
    text_send, text_receive = trio.open_memory_channel[str](10)
    long_text = "A long answer the caller cuts off. "
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as turn:
            turn.start_soon(tts.speak, text_receive, out_send)
            await text_send.send(long_text)  # input left open: the LLM is still talking
            await out_receive.receive()
            turn.cancel_scope.cancel()
        await fake.wait_until(lambda: fake.streams[0].closed_by_client_early)
    stream = fake.streams[0]
    assert not stream.final_sent and stream.chunks_sent < len(long_text) // 2
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Yes?"])
    assert decode_tones(b"".join(c.pcm for c in chunks)) == "Yes? "
    assert len(fake.streams) == 2
    gc.collect()


async def test_error_message_maps_to_provider_error(tts, fake):
    fake.error_code = "invalid_input_message"
    with trio.fail_after(LIMIT), pytest.raises(ProviderStatusError) as caught:
        await speak(tts, ["Hello there."])
    assert caught.value.status == 1008 and not caught.value.retryable
    assert "invalid_input_message" in str(caught.value)


async def test_refused_handshake_and_dropped_socket(tts, fake):
    fake.reject_status = 429
    with trio.fail_after(LIMIT), pytest.raises(ProviderStatusError) as caught:
        await speak(tts, ["Hello."])
    assert caught.value.status == 429 and caught.value.retryable
    fake.reject_status = None
    fake.close_after_chunks = 1
    with trio.fail_after(LIMIT), pytest.raises(ProviderError) as dropped:
        await speak(tts, ["Hello there, cut off."])
    assert dropped.value.retryable
    gc.collect()


async def test_unusable_message_is_logged_once_and_skipped(tts, fake, caplog):
    # Issue 20: a message we cannot use is skipped, never the end of the turn.
    fake.malformed_after_chunks = 1
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Still all here. "])
    assert decode_tones(b"".join(c.pcm for c in chunks)) == "Still all here. "
    warnings = [r for r in caplog.records if "cannot use" in r.getMessage()]
    assert len(warnings) == 1 and "not JSON" in warnings[0].getMessage()
