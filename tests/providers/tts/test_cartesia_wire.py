"""Cartesia wire format: request shapes, message parsing, errors, word alignment."""

from __future__ import annotations

import base64
import json

import pytest

from agent.base.errors import ConfigError, ProviderStatusError, RemoteProtocolError
from agent.providers.tts.cartesia_wire import (
    CartesiaSettings,
    Chunk,
    Done,
    FlushDone,
    Other,
    ServerError,
    Timestamps,
    WordAligner,
    cancel_request,
    connect_headers,
    encode,
    generation_request,
    handshake_error,
    parse_message,
    server_error,
)
from tests.fakes.tone_text import decode_tones, encode_tones

SETTINGS = CartesiaSettings(api_key="sk_car_test", voice_id="a0e99841-438c-4a64-b679")


def test_generation_request_has_the_documented_shape():
    request = generation_request(
        SETTINGS,
        context_id="call-7",
        transcript="Thanks for calling, ",
        more=True,
        sample_rate=8000,
    )
    assert request == {
        "context_id": "call-7",
        "model_id": "sonic-3",
        "transcript": "Thanks for calling, ",
        "voice": "a0e99841-438c-4a64-b679",
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 8000},
        "language": "en",
        "continue": True,
        "max_buffer_delay_ms": 300,
        "add_timestamps": True,
    }
    final = generation_request(
        SETTINGS, context_id="call-7", transcript="", more=False, sample_rate=8000
    )
    # Only transcript and continue may differ within one context.
    changed = {key for key in request if request[key] != final[key]}
    assert changed == {"transcript", "continue"}
    assert json.loads(encode(final))["continue"] is False


@pytest.mark.parametrize(
    ("version", "voice"),
    [
        # 2026-08-14 (cartesia-python 4.0.0) dropped the voice's "mode".
        ("2026-08-14", "v-1"),
        ("2026-03-01", {"mode": "id", "id": "v-1"}),
        ("2025-04-16", {"mode": "id", "id": "v-1"}),
    ],
)
def test_voice_has_the_shape_of_the_pinned_version(version, voice):
    settings = CartesiaSettings(api_key="k", voice_id="v-1", version=version)
    request = generation_request(
        settings, context_id="c", transcript="Hi. ", more=True, sample_rate=8000
    )
    assert request["voice"] == voice
    assert connect_headers(settings)[1] == (b"Cartesia-Version", version.encode())
    assert "locale" not in request  # language or locale, never both: we send language


def test_cancel_and_headers():
    assert cancel_request("call-7") == {"context_id": "call-7", "cancel": True}
    assert connect_headers(SETTINGS) == [
        (b"Authorization", b"Bearer sk_car_test"),
        (b"Cartesia-Version", b"2026-08-14"),
    ]
    assert "sk_car_test" not in repr(SETTINGS)


def test_unsupported_rate_is_refused():
    with pytest.raises(ConfigError, match="sample_rate=11025"):
        generation_request(SETTINGS, context_id="c", transcript="x", more=True, sample_rate=11025)


def test_parse_chunk_timestamps_flush_done_and_unknown():
    pcm = b"\x01\x00\xff\xff"
    chunk = {"type": "chunk", "context_id": "c", "status_code": 206, "done": False,
             "step_time": 41.2, "data": base64.b64encode(pcm).decode(), "flush_id": 1}  # fmt: skip
    assert parse_message(json.dumps(chunk)) == Chunk("c", pcm, 1)
    stamps = {"type": "timestamps", "context_id": "c", "done": False, "status_code": 206,
              "word_timestamps": {"words": ["Hi", "there"], "start": [0, 0.2],
                                  "end": [0.2, 0.5]}}  # fmt: skip
    assert parse_message(json.dumps(stamps)) == Timestamps(
        "c", ("Hi", "there"), (0, 0.2), (0.2, 0.5)
    )
    flush = '{"type":"flush_done","context_id":"c","flush_id":1,"flush_done":true,"done":false}'
    assert parse_message(flush) == FlushDone("c", 1)
    assert parse_message('{"type":"done","context_id":"c","status_code":206,"done":true}') == Done(
        "c"
    )
    # word_timestamps is optional in the SDK's types (cartesia-python 4.x): no words.
    bare = '{"type":"timestamps","context_id":"c","done":false}'
    assert parse_message(bare) == Timestamps("c", (), (), ())
    assert parse_message('{"type":"chunk","context_id":"c","data":""}') == Chunk("c", b"")
    assert parse_message('{"type":"phoneme_timestamps","context_id":"c"}') == Other(
        "phoneme_timestamps", "c"
    )


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"type": "chunk", "context_id": "c"}',
        '{"type": "chunk", "context_id": "c", "data": "***"}',
        '{"type": "chunk", "data": "AAAA"}',
        '{"type": "done", "context_id": 7}',
        '{"type": "timestamps", "context_id": "c", "word_timestamps": {"words": ["a"]}}',
        '{"type": "timestamps", "context_id": "c", "word_timestamps": 7}',
        '{"context_id": "c"}',
    ],
)
def test_malformed_messages_name_the_problem(raw):
    with pytest.raises(RemoteProtocolError, match="cartesia"):
        parse_message(raw)


def test_errors_new_and_old_style():
    new = ('{"type":"error","context_id":"c","status_code":429,"title":"Too many",'
           '"message":"concurrency limit","error_code":"rate_limited","done":true}')  # fmt: skip
    parsed = parse_message(new)
    assert parsed == ServerError("c", 429, "Too many: concurrency limit", "rate_limited")
    error = server_error(parsed)
    assert isinstance(error, ProviderStatusError) and error.status == 429 and error.retryable
    old = parse_message('{"type":"error","error":"bad voice","done":true}')
    assert old.context_id is None and old.message == "bad voice"
    assert not server_error(old).retryable
    sunset = ServerError("c", 500, "gone", "model_sunsetted")
    assert not server_error(sunset).retryable


@pytest.mark.parametrize(
    ("status", "retryable"), [(401, False), (403, False), (429, True), (500, True), (503, True)]
)
def test_handshake_error_mapping(status, retryable):
    error = handshake_error(status, [(b"Retry-After", b"2")], b'{"error":"nope"}')
    assert error.status == status and error.retryable is retryable
    assert error.retry_after == 2.0 and "nope" in str(error)


def test_settings_from_env_and_validation():
    env = {"CARTESIA_API_KEY": "k", "CARTESIA_VOICE_ID": "v",
           "CARTESIA_URL": "ws://127.0.0.1:9/tts/websocket",
           "CARTESIA_MAX_BUFFER_DELAY_MS": "0"}  # fmt: skip
    settings = CartesiaSettings.from_env(env)
    assert settings.url == "ws://127.0.0.1:9/tts/websocket"
    assert settings.max_buffer_delay_ms == 0 and settings.model_id == "sonic-3"
    with pytest.raises(ConfigError, match="CARTESIA_VOICE_ID"):
        CartesiaSettings.from_env({"CARTESIA_API_KEY": "k"})
    with pytest.raises(ConfigError, match="CARTESIA_MAX_BUFFER_DELAY_MS"):
        CartesiaSettings.from_env({**env, "CARTESIA_MAX_BUFFER_DELAY_MS": "9000"})
    with pytest.raises(ConfigError, match=r"CARTESIA_URL='https://api\.cartesia\.ai'"):
        CartesiaSettings(api_key="k", voice_id="v", url="https://api.cartesia.ai")
    with pytest.raises(ConfigError, match="CARTESIA_VERSION='latest'"):
        CartesiaSettings(api_key="k", voice_id="v", version="latest")
    assert settings.context_idle_close_s == 0.5
    for idle in (0, 1.0):  # must close before Cartesia's ~1 s expiry
        with pytest.raises(ConfigError, match="context_idle_close_s"):
            CartesiaSettings(api_key="k", voice_id="v", context_idle_close_s=idle)


def test_aligner_gives_words_to_the_chunk_where_they_end():
    aligner = WordAligner(8000)  # 16 bytes per ms
    aligner.add_sent_text("Hi there, friend.")
    aligner.add_timestamps(["Hi", "there,", "friend."], [0.1, 0.3, 0.6])
    assert aligner.text_for_chunk(16 * 50) == ""  # 0..50 ms: no word finished
    assert aligner.text_for_chunk(16 * 100) == "Hi"  # ..150 ms
    assert aligner.text_for_chunk(16 * 300) == " there,"  # ..450 ms
    assert aligner.finish() == " friend."  # timestamps beyond the audio: at done


def test_aligner_late_timestamps_go_to_the_next_chunk_and_normalised_words():
    aligner = WordAligner(8000)
    aligner.add_sent_text("Pay $5 now ")
    assert aligner.text_for_chunk(16 * 200) == ""  # audio before its timestamps
    aligner.add_timestamps(["Pay", "five", "dollars", "now"], [0.1, 0.2, 0.3, 0.5])
    assert aligner.text_for_chunk(16 * 200) == "Pay"  # "$5" was spoken as other words
    assert aligner.text_for_chunk(16 * 100) == " $5 now"
    assert aligner.finish() == ""  # only whitespace left


def test_aligner_can_keep_the_whitespace_a_context_ended_with():
    aligner = WordAligner(8000)
    aligner.add_sent_text("Let me check. ")
    aligner.add_timestamps(["Let", "me", "check."], [0.1, 0.2, 0.3])
    assert aligner.text_for_chunk(16 * 400) == "Let me check."
    assert aligner.finish(keep_whitespace=True) == " "  # the next context's text follows


def test_aligner_without_timestamps_returns_everything_at_the_end():
    aligner = WordAligner(8000)
    aligner.add_sent_text("Hello ")
    aligner.add_sent_text("world.")
    assert aligner.text_for_chunk(1600) == ""
    assert aligner.finish() == "Hello world."
    assert aligner.finish() == ""


# --- tone_text: the fakes' "PCM that says which text was spoken" -------------------


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_tone_text_round_trip(rate):
    text = "Hi! Call 555-0100, ok?"
    pcm = encode_tones(text, rate)
    assert len(pcm) == 2 * rate * len(text) * 30 // 1000
    assert decode_tones(pcm, rate) == text


def test_tone_text_survives_silence_inside_bursts_and_truncation():
    pcm = encode_tones("abc")
    paused = b"\0" * 100 + pcm[:500] + b"\0" * 640 + pcm[500:]  # playout pause mid-"b"
    assert decode_tones(paused) == "abc"
    assert decode_tones(pcm[:-300] + encode_tones("xyz")) == "abxyz"  # barge-in mid-"c"
    assert decode_tones(encode_tones("é")) == "?"
