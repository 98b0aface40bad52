"""Deepgram settings (pure, no I/O): the defaults, every variable read from the
environment, and bad values refused with the variable named."""

from __future__ import annotations

import pytest

from agent.base.errors import ConfigError
from agent.providers.stt.deepgram_wire import DeepgramSettings

KEY = "dg-secret"


def test_settings_defaults_follow_the_issue():
    s = DeepgramSettings(api_key=KEY)
    assert (s.url, s.model, s.language) == ("wss://api.deepgram.com/v1/listen", "nova-3", "en-GB")
    assert s.interim_results and s.vad_events and s.smart_format
    assert (s.endpointing_ms, s.utterance_end_ms) == (400, 1000)
    assert s.batch_ms == 100
    assert KEY not in repr(s)


def test_settings_from_env_reads_every_variable():
    env = {
        "DEEPGRAM_API_KEY": KEY,
        "DEEPGRAM_URL": "ws://127.0.0.1:9/v1/listen",
        "DEEPGRAM_MODEL": "nova-2-phonecall",
        "DEEPGRAM_LANGUAGE": "en-US",
        "DEEPGRAM_INTERIM_RESULTS": "yes",
        "DEEPGRAM_ENDPOINTING_MS": "300",
        "DEEPGRAM_UTTERANCE_END_MS": "1500",
        "DEEPGRAM_VAD_EVENTS": "off",
        "DEEPGRAM_SMART_FORMAT": "0",
        "DEEPGRAM_PUNCTUATE": "false",
        "DEEPGRAM_KEYWORDS": "Acme:2, boiler",
        "DEEPGRAM_KEEPALIVE_S": "3",
        "DEEPGRAM_RECONNECT_INITIAL_S": "0.1",
        "DEEPGRAM_RECONNECT_MAX_S": "2",
        "DEEPGRAM_RECONNECT_ATTEMPTS": "3",
        "DEEPGRAM_MAX_BUFFER_S": "5",
        "DEEPGRAM_CONNECT_TIMEOUT_S": "2",
        "DEEPGRAM_CLOSE_TIMEOUT_S": "1",
        "DEEPGRAM_BATCH_MS": "20",
    }
    s = DeepgramSettings.from_env(env)
    assert s == DeepgramSettings(
        api_key=KEY,
        url="ws://127.0.0.1:9/v1/listen",
        model="nova-2-phonecall",
        language="en-US",
        interim_results=True,
        endpointing_ms=300,
        utterance_end_ms=1500,
        vad_events=False,
        smart_format=False,
        punctuate=False,
        keywords=("Acme:2", "boiler"),
        keepalive_s=3.0,
        reconnect_initial_s=0.1,
        reconnect_max_s=2.0,
        reconnect_attempts=3,
        max_buffer_s=5.0,
        connect_timeout_s=2.0,
        close_timeout_s=1.0,
        batch_ms=20,
    )
    assert DeepgramSettings.from_env(
        {"DEEPGRAM_API_KEY": KEY, "DEEPGRAM_KEYTERMS": "a b, c"}
    ).keyterms == (
        "a b",
        "c",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "DEEPGRAM_API_KEY is not set"),
        ({"DEEPGRAM_INTERIM_RESULTS": "maybe"}, "DEEPGRAM_INTERIM_RESULTS='maybe'"),
        ({"DEEPGRAM_ENDPOINTING_MS": "-5"}, "DEEPGRAM_ENDPOINTING_MS='-5': must be 0 to 60000"),
        ({"DEEPGRAM_KEEPALIVE_S": "12"}, "DEEPGRAM_KEEPALIVE_S='12': must be 0.1 to 9"),
        ({"DEEPGRAM_URL": "https://api.deepgram.com/v1/listen"}, "ws:// or wss://"),
        ({"DEEPGRAM_URL": "wss://x/v1/listen?model=a"}, "no query string"),
        ({"DEEPGRAM_KEYWORDS": "Acme:2"}, "DEEPGRAM_KEYWORDS are not supported by nova-3"),
        (
            {"DEEPGRAM_MODEL": "nova-2", "DEEPGRAM_KEYTERMS": "boiler"},
            "DEEPGRAM_KEYTERMS are a nova-3 feature",
        ),
        (
            {"DEEPGRAM_MODEL": "nova-2", "DEEPGRAM_KEYWORDS": "Acme:loud"},
            "expected WORD or WORD:BOOST",
        ),
        (
            {"DEEPGRAM_INTERIM_RESULTS": "false"},
            "DEEPGRAM_UTTERANCE_END_MS needs DEEPGRAM_INTERIM_RESULTS=true",
        ),
        (
            {"DEEPGRAM_RECONNECT_INITIAL_S": "3", "DEEPGRAM_RECONNECT_MAX_S": "1"},
            "DEEPGRAM_RECONNECT_MAX_S=1 is below DEEPGRAM_RECONNECT_INITIAL_S=3",
        ),
        ({"DEEPGRAM_BATCH_MS": "10"}, "DEEPGRAM_BATCH_MS='10': must be 20 to 250"),
        ({"DEEPGRAM_BATCH_MS": "300"}, "DEEPGRAM_BATCH_MS='300': must be 20 to 250"),
        ({"DEEPGRAM_BATCH_MS": "0.1"}, "DEEPGRAM_BATCH_MS='0.1': expected a whole number"),
    ],
)
def test_bad_settings_are_config_errors(env, message):
    env = {"DEEPGRAM_API_KEY": KEY, **env} if env else env
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        DeepgramSettings.from_env(env)


@pytest.mark.parametrize("batch_ms", [19, 251])
def test_batch_outside_deepgrams_advice_is_refused_in_code_too(batch_ms):
    with pytest.raises(ConfigError, match=f"DEEPGRAM_BATCH_MS={batch_ms}: must be 20 to 250"):
        DeepgramSettings(api_key=KEY, batch_ms=batch_ms)
