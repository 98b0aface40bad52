"""Deepgram wire format (pure, no I/O); the settings are in test_deepgram_settings, the
ledger in test_deepgram_batch.

Payloads are written in the shapes of Deepgram's documented messages.
"""

from __future__ import annotations

import json

import pytest

from agent.base.errors import ProviderStatusError, RemoteProtocolError
from agent.base.events import SpeechStarted, Transcript, UtteranceEnd, Word
from agent.providers.stt.deepgram_wire import (
    CLOSE_STREAM,
    FINALIZE,
    KEEPALIVE,
    DeepgramSettings,
    backoff_delay,
    close_error,
    handshake_headers,
    listen_query,
    listen_url,
    parse_message,
    rejection_error,
    split_url,
)
from tests.fakes.deepgram import check_handshake

KEY = "dg-secret"


def results(text="i need a plumber", *, is_final=True, speech_final=True, **extra):
    message = {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": 1.02,
        "start": 3.26,
        "is_final": is_final,
        "speech_final": speech_final,
        "from_finalize": False,
        "channel": {
            "alternatives": [
                {
                    "transcript": text,
                    "confidence": 0.97,
                    "words": [
                        {
                            "word": "i",
                            "start": 3.30,
                            "end": 3.42,
                            "confidence": 0.99,
                            "punctuated_word": "I",
                        },
                        {"word": "need", "start": 3.42, "end": 3.6, "confidence": 0.9},
                    ]
                    if text
                    else [],
                    "languages": ["en"],
                }
            ]
        },
        "metadata": {
            "request_id": "5d4f",
            "model_uuid": "1234",
            "model_info": {"name": "general-nova-3", "version": "x", "arch": "nova-3"},
        },
    }
    message.update(extra)
    return json.dumps(message)


# --- handshake ------------------------------------------------------------------


def test_query_for_nova3_has_repeated_keyterms_and_no_keywords():
    s = DeepgramSettings(api_key=KEY, keyterms=("plumbing", "Acme Heating"))
    assert listen_query(s, 8000) == [
        ("model", "nova-3"),
        ("language", "en-GB"),
        ("encoding", "linear16"),
        ("sample_rate", "8000"),
        ("channels", "1"),
        ("interim_results", "true"),
        ("endpointing", "400"),
        ("utterance_end_ms", "1000"),
        ("vad_events", "true"),
        ("smart_format", "true"),
        ("keyterm", "plumbing"),
        ("keyterm", "Acme Heating"),
    ]
    url = listen_url(s, 8000)
    assert url.startswith("wss://api.deepgram.com/v1/listen?model=nova-3&")
    assert url.endswith("&keyterm=plumbing&keyterm=Acme%20Heating")


def test_query_for_nova2_has_keywords_and_switches():
    s = DeepgramSettings(
        api_key=KEY,
        model="nova-2-phonecall",
        keywords=("Acme:2",),
        endpointing_ms=0,
        utterance_end_ms=0,
        interim_results=False,
    )
    query = listen_query(s, 16000)
    assert ("keywords", "Acme:2") in query and not any(k == "keyterm" for k, _ in query)
    assert ("endpointing", "false") in query and ("sample_rate", "16000") in query
    assert not any(k == "utterance_end_ms" for k, _ in query)
    assert ("interim_results", "false") in query


@pytest.mark.parametrize(
    ("smart_format", "no_delay", "punctuate", "expected"),
    [
        # Smart format includes punctuation (Deepgram: "no need to also set
        # punctuate=true"); no_delay means something only with smart format.
        (True, False, True, [("smart_format", "true")]),
        (True, True, True, [("smart_format", "true"), ("no_delay", "true")]),
        (False, True, True, [("smart_format", "false"), ("punctuate", "true")]),
        (False, False, False, [("smart_format", "false"), ("punctuate", "false")]),
    ],
)
def test_punctuate_only_without_smart_format(smart_format, no_delay, punctuate, expected):
    s = DeepgramSettings(
        api_key=KEY, smart_format=smart_format, no_delay=no_delay, punctuate=punctuate
    )
    query = [
        (k, v) for k, v in listen_query(s, 8000) if k in ("smart_format", "no_delay", "punctuate")
    ]
    assert query == expected


@pytest.mark.parametrize(
    "settings",
    [
        DeepgramSettings(api_key=KEY, keyterms=("Acme Heating", "boiler")),
        DeepgramSettings(api_key=KEY, model="nova-2", keywords=("Acme:2.5", "boiler")),
        DeepgramSettings(api_key=KEY, endpointing_ms=0, utterance_end_ms=0),
    ],
)
def test_handshake_passes_the_fake_servers_reference_checks(settings):
    endpoint = split_url(listen_url(settings, 8000))
    headers = {k.decode().lower(): v.decode() for k, v in handshake_headers(settings)}
    assert check_handshake(endpoint.resource, headers, KEY, 8000) == (None, "", [])


@pytest.mark.parametrize(
    ("target", "auth", "status", "problem"),
    [
        ("/v1/listen?model=nova-3&encoding=linear16&sample_rate=8000", "Token k", None, None),
        ("/v1/listen?model=nova-3&encoding=linear16&sample_rate=8000", "Token bad", 401, None),
        ("/v1/listen?model=nova-3&encoding=linear16&sample_rate=8000", None, 401, "Authorization"),
        ("/v1/listen?model=nova-3&sample_rate=8000", "Token k", 400, "encoding"),
        ("/v1/listen?model=nova-3&encoding=linear16", "Token k", 400, "sample_rate"),
        ("/v2/listen?model=nova-3&encoding=linear16&sample_rate=8000", "Token k", 400, "path"),
        (
            "/v1/listen?model=nova-3&encoding=linear16&sample_rate=8000&keywords=a:2",
            "Token k",
            400,
            "keywords are not supported",
        ),
        (
            "/v1/listen?model=nova-3&encoding=linear16&sample_rate=8000&keyterm=%5B%27a%27%5D",
            "Token k",
            400,
            "keyterm",
        ),
        (
            "/v1/listen?model=nova-3&encoding=linear16&sample_rate=8000&utterance_end_ms=1000",
            "Token k",
            400,
            "needs interim_results",
        ),
    ],
)
def test_fake_judges_handshakes_like_the_reference(target, auth, status, problem):
    headers = {"authorization": auth} if auth else {}
    got_status, _detail, problems = check_handshake(target, headers, "k", 8000)
    assert got_status == status
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_headers_and_control_messages():
    assert handshake_headers(DeepgramSettings(api_key=KEY)) == [
        (b"Authorization", b"Token " + KEY.encode())
    ]
    assert json.loads(KEEPALIVE) == {"type": "KeepAlive"}
    assert json.loads(FINALIZE) == {"type": "Finalize"}
    assert json.loads(CLOSE_STREAM) == {"type": "CloseStream"}


def test_split_url():
    e = split_url("wss://api.deepgram.com/v1/listen?model=nova-3")
    assert (e.host, e.port, e.resource, e.tls, e.host_header) == (
        "api.deepgram.com",
        443,
        "/v1/listen?model=nova-3",
        True,
        "api.deepgram.com",
    )
    e = split_url("ws://127.0.0.1:8123/v1/listen")
    assert (e.port, e.tls, e.host_header) == (8123, False, "127.0.0.1:8123")
    with pytest.raises(ValueError, match="ws:// or wss://"):
        split_url("http://x/")


# --- server messages ----------------------------------------------------------------


def test_final_results_become_a_transcript_with_call_relative_times():
    parsed = parse_message(results(), offset=10.0)
    (t,) = parsed.events
    assert t == Transcript(
        text="i need a plumber",
        is_final=True,
        end_of_turn=True,
        confidence=0.97,
        start=13.26,
        duration=1.02,
        words=(Word("I", 13.3, 13.42, 0.99), Word("need", 13.42, 13.6, 0.9)),
    )
    assert parsed.final_end == pytest.approx(3.26 + 1.02)  # connection-relative


def test_the_other_alternatives_come_with_the_best_one():
    message = json.loads(results("my postcode is easy for m7ls"))
    best = message["channel"]["alternatives"][0]
    message["channel"]["alternatives"] += [
        {"transcript": "my postcode is EC4M 7LS", "confidence": 0.8, "words": []},
        {"transcript": "", "confidence": 0.1, "words": []},
        {"transcript": "my postcode is easy for m7ls", "confidence": 0.7, "words": []},
        {"transcript": " my postcode is E C 4 M 7 L S ", "confidence": 0.6, "words": []},
        {"transcript": "my postcode is EC4M 7LS", "confidence": 0.5, "words": []},
    ]
    (t,) = parse_message(json.dumps(message)).events
    assert t.text == "my postcode is easy for m7ls" and t.confidence == best["confidence"]
    assert t.alternatives == ("my postcode is EC4M 7LS", "my postcode is E C 4 M 7 L S")
    (only,) = parse_message(results()).events
    assert only.alternatives == ()  # one alternative, as Deepgram sends unasked


def test_a_peer_sending_thousands_of_alternatives_gets_four_kept():
    message = json.loads(results("twenty two baker street"))
    message["channel"]["alternatives"] += [
        {"transcript": f"reading {i}", "confidence": 0.1, "words": []} for i in range(5000)
    ]
    (t,) = parse_message(json.dumps(message)).events
    assert t.alternatives == ("reading 0", "reading 1", "reading 2", "reading 3")


@pytest.mark.parametrize("other", [["not an object"], [{"transcript": 7}]])
def test_a_malformed_other_alternative_is_a_protocol_error(other):
    message = json.loads(results())
    message["channel"]["alternatives"] += other
    with pytest.raises(RemoteProtocolError, match="deepgram"):
        parse_message(json.dumps(message))


def test_interim_results():
    (t,) = parse_message(results("i need", is_final=False, speech_final=False)).events
    assert not t.is_final and not t.end_of_turn and t.text == "i need"
    assert parse_message(results(is_final=False, speech_final=False)).final_end is None


def test_empty_transcripts():
    # Empty interim and plain empty final: nothing to report, the final still acks audio.
    assert parse_message(results("", is_final=False, speech_final=False)).events == ()
    empty_final = parse_message(results("", speech_final=False))
    assert empty_final.events == () and empty_final.final_end == pytest.approx(4.28)
    # Empty speech_final still ends the turn; an empty Finalize answer still answers.
    (end,) = parse_message(results("")).events
    assert end.text == "" and end.end_of_turn
    (flushed,) = parse_message(results("", speech_final=False, from_finalize=True)).events
    assert flushed.is_final and flushed.end_of_turn  # we asked: the turn is over


def test_the_answer_to_finalize_ends_the_turn():
    (final,) = parse_message(
        results("07700 900123.", speech_final=False, from_finalize=True)
    ).events
    assert final.is_final and final.end_of_turn and final.text == "07700 900123."


def test_speech_started_utterance_end_metadata_and_unknown():
    parsed = parse_message('{"type":"SpeechStarted","channel":[0,1],"timestamp":9.54}', offset=1)
    assert parsed.events == (SpeechStarted(10.54),)
    parsed = parse_message('{"type":"UtteranceEnd","channel":[0,1],"last_word_end":2.395}')
    assert parsed.events == (UtteranceEnd(2.395),)
    metadata = {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": "abc",
        "sha256": "00",
        "created": "2026-01-01T00:00:00Z",
        "duration": 3.5,
        "channels": 1,
    }
    parsed = parse_message(json.dumps(metadata))
    assert (parsed.kind, parsed.events, parsed.request_id) == ("Metadata", (), "abc")
    parsed = parse_message('{"type":"ConfigureSuccess"}')
    assert (parsed.kind, parsed.events, parsed.error) == ("ConfigureSuccess", (), None)


def test_in_band_error_is_reported_in_deepgrams_words():
    # ListenV1Error (deepgram-python-sdk 7.x): variant, description, optional code.
    parsed = parse_message(
        '{"type":"Error","variant":"SchemaError","description":"could not parse","message":"x"}'
    )
    assert parsed.kind == "Error" and parsed.events == ()
    assert parsed.error == "SchemaError: could not parse"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"no": "type"}',
        '{"type": "Results"}',
        '{"type": "Results", "channel": {"alternatives": [{"transcript": 5}]}}',
        '{"type": "SpeechStarted", "timestamp": "soon"}',
        results().replace('"start": 3.3,', '"start": null,'),
    ],
)
def test_malformed_messages_are_remote_protocol_errors(text):
    with pytest.raises(RemoteProtocolError, match="deepgram"):
        parse_message(text)


# --- errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (402, False), (403, False), (429, True), (500, True), (503, True)],
)
def test_rejections(status, retryable):
    error = rejection_error(status, ((b"dg-error", b"Invalid credentials."),), b"{}")
    assert isinstance(error, ProviderStatusError)
    assert (error.status, error.retryable, error.provider) == (status, retryable, "deepgram")
    assert "Invalid credentials." in str(error)


def test_rejection_retry_after_and_body():
    error = rejection_error(429, ((b"Retry-After", b"7"),), b'{"err_msg":"slow down"}')
    assert error.retry_after == 7.0 and "slow down" in str(error)
    date = rejection_error(429, ((b"retry-after", b"Wed, 21 Oct 2026 07:28:00 GMT"),), None)
    assert date.retry_after is None


def test_close_codes():
    assert close_error(1011, "NET-0001").retryable
    assert close_error(1000, None).retryable  # an unasked-for close: reconnect
    data = close_error(1008, "DATA-0000")
    assert not data.retryable and data.status == 1008 and "DATA-0000" in str(data)


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_delay(n, 0.25, 2.0) for n in range(6)] == [0.0, 0.25, 0.5, 1.0, 2.0, 2.0]
