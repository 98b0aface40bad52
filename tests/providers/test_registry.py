"""The provider registry's TTS chain: VOICE_AGENT_TTS_FALLBACK parsing, the
default espeak fallback behind a cloud voice, and a chain built from the
environment falling back over loopback when Cartesia fails."""

from __future__ import annotations

import importlib.util
import sys

import attrs
import pytest
import trio

from agent.base.errors import ConfigError
from agent.providers import registry
from agent.providers.registry import espeak_available, tts_factory, tts_fallbacks
from agent.providers.tts.cartesia import CartesiaTts
from agent.providers.tts.espeak import EspeakTts
from agent.providers.tts.fallback import FallbackTts
from agent.service import check
from agent.service.wiring import build_conversation
from tests.fakes.cartesia import FakeCartesia
from tests.fakes.elevenlabs import FakeElevenLabs
from tests.fakes.tone_text import decode_tones
from tests.providers.tts.rig import speak_all as speak

LIMIT = 3  # seconds: the loopback tests run in real time
CARTESIA = {"CARTESIA_API_KEY": "test-key", "CARTESIA_VOICE_ID": "voice-1"}
ELEVENLABS = {"ELEVENLABS_API_KEY": "test-key", "ELEVENLABS_VOICE_ID": "voice-2"}
SENTENCE = "Your engineer arrives at ten."


@attrs.frozen
class CallStub:
    """What the TTS factories read from a call."""

    sample_rate: int = 8000


@pytest.fixture
def espeak_installed(monkeypatch):
    monkeypatch.setattr(registry, "espeak_available", lambda: True)


@pytest.fixture
def espeak_missing(monkeypatch):
    monkeypatch.setattr(registry, "espeak_available", lambda: False)


# --- VOICE_AGENT_TTS_FALLBACK -------------------------------------------------------


@pytest.mark.parametrize("primary", ["cartesia", "elevenlabs"])
def test_unset_a_cloud_voice_falls_back_to_espeak_when_it_is_installed(primary, espeak_installed):
    assert tts_fallbacks({}, primary) == ("espeak",)


def test_unset_there_is_no_fallback_without_espeak_or_behind_espeak(monkeypatch):
    monkeypatch.setattr(registry, "espeak_available", lambda: False)
    assert tts_fallbacks({}, "cartesia") == ()
    monkeypatch.setattr(registry, "espeak_available", lambda: True)
    assert tts_fallbacks({}, "espeak") == ()


def test_espeak_available_finds_the_wheel_without_importing_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "espeakng_loader", raising=False)
    found = espeak_available()
    assert "espeakng_loader" not in sys.modules  # deciding loads nothing (GPL, start-up)
    assert found == (importlib.util.find_spec("espeakng_loader") is not None)


@pytest.mark.parametrize("value", ["none", "None", " NONE "])
def test_none_disables_the_fallback(value, espeak_installed):
    assert tts_fallbacks({"VOICE_AGENT_TTS_FALLBACK": value}, "cartesia") == ()


@pytest.mark.parametrize("value", ["", "  "])
def test_empty_is_the_default_as_for_every_setting(value, espeak_installed):
    """`VOICE_AGENT_TTS_FALLBACK=` in an env file is the same as no line."""
    assert tts_fallbacks({"VOICE_AGENT_TTS_FALLBACK": value}, "cartesia") == ("espeak",)


def test_a_list_is_tried_in_its_order(espeak_missing):
    env = {"VOICE_AGENT_TTS_FALLBACK": " elevenlabs , espeak"}
    assert tts_fallbacks(env, "cartesia") == ("elevenlabs", "espeak")
    assert tts_fallbacks({"VOICE_AGENT_TTS_FALLBACK": "cartesia"}, "espeak") == ("cartesia",)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("polly", "unknown TTS 'polly'"),
        ("espeak,", "unknown TTS ''"),
        ("espeak,espeak", "'espeak' is listed twice"),
        ("elevenlabs,cartesia", "'cartesia' is the primary voice"),
    ],
)
def test_bad_values_name_the_variable_and_the_value(value, why):
    with pytest.raises(ConfigError) as caught:
        tts_fallbacks({"VOICE_AGENT_TTS_FALLBACK": value}, "cartesia")
    assert str(caught.value).startswith(f"VOICE_AGENT_TTS_FALLBACK={value!r}: ")
    assert why in str(caught.value)


# --- the factory ------------------------------------------------------------------


def test_without_a_fallback_the_call_gets_the_voice_alone(espeak_missing):
    assert type(tts_factory("cartesia", CARTESIA)(CallStub())) is CartesiaTts
    env = {**CARTESIA, "VOICE_AGENT_TTS_FALLBACK": "none"}
    assert type(tts_factory("cartesia", env)(CallStub())) is CartesiaTts


@pytest.mark.parametrize("rate", [8000, 16000])
def test_cartesia_then_espeak_is_built_at_the_calls_rate(rate, espeak_installed):
    make = tts_factory("cartesia", CARTESIA)
    tts = make(CallStub(rate))
    assert isinstance(tts, FallbackTts) and tts.name == "cartesia>espeak"
    assert [type(v) for v in tts.voices] == [CartesiaTts, EspeakTts]
    # espeak resamples its 22050 Hz to the call's rate, so the chain is one rate.
    assert tts.sample_rate == rate and {v.sample_rate for v in tts.voices} == {rate}
    assert make(CallStub(rate)) is not tts  # one session per call


def test_a_fallback_voice_without_its_keys_stops_start_up(tmp_path):
    env = {**CARTESIA, "VOICE_AGENT_TTS_FALLBACK": "elevenlabs"}
    with pytest.raises(ConfigError, match=r"VOICE_AGENT_TTS_FALLBACK.*ELEVENLABS_API_KEY"):
        tts_factory("cartesia", env)
    serve_env = {
        **env,
        "VOICE_AGENT_OFFLINE": "1",  # whisper and the rule policy: the TTS chain is the point
        "VOICE_AGENT_TTS": "cartesia",
        "VOICE_AGENT_DB": str(tmp_path / "a.db"),
    }
    with pytest.raises(ConfigError, match="VOICE_AGENT_TTS_FALLBACK"):
        build_conversation(serve_env)


async def test_a_chain_from_the_environment_falls_back_when_cartesia_fails(nursery):
    """Loopback, real time: Cartesia answers the turn's context with a 500; the
    ElevenLabs fake (the configured fallback) speaks the whole turn."""
    cartesia = await nursery.start(FakeCartesia().serve)
    eleven = await nursery.start(FakeElevenLabs().serve)
    cartesia.error_context = 1
    env = {
        **CARTESIA,
        **ELEVENLABS,
        "CARTESIA_URL": cartesia.url,
        "ELEVENLABS_URL": eleven.url,
        "VOICE_AGENT_TTS": "cartesia",
        "VOICE_AGENT_TTS_FALLBACK": "elevenlabs",
    }
    tts = tts_factory(registry.chosen(env)[2], env)(CallStub())
    with trio.fail_after(LIMIT):
        await nursery.start(tts.run)
        chunks = await speak(tts, ["Your engineer", " arrives at ten."])
    # ElevenLabs is sent pieces that end in whitespace, so its audio ends in a pause.
    assert decode_tones(b"".join(c.pcm for c in chunks)).strip() == SENTENCE
    assert tts.current == 1 and tts.switches == 1
    assert cartesia.contexts and [s.text.strip() for s in eleven.streams] == [SENTENCE]
    assert cartesia.violations == [] and eleven.violations == []


@pytest.mark.offline
@pytest.mark.skipif(not espeak_available(), reason="needs the offline extra (espeakng-loader)")
async def test_the_default_chain_speaks_with_espeak_when_cartesia_fails(nursery):
    """The production default: a cloud voice, no VOICE_AGENT_TTS_FALLBACK, espeak
    installed. Cartesia's context fails; espeak says the turn at 8000 Hz."""
    cartesia = await nursery.start(FakeCartesia().serve)
    cartesia.error_context = 1
    env = {**CARTESIA, "CARTESIA_URL": cartesia.url}
    tts = tts_factory("cartesia", env)(CallStub(8000))
    with trio.fail_after(LIMIT):
        await nursery.start(tts.run)
        chunks = await speak(tts, ["Your engineer", " arrives at ten."])
    assert tts.name == "cartesia>espeak" and tts.current == 1
    assert "".join(c.text for c in chunks).split() == SENTENCE.split()
    assert sum(len(c.pcm) for c in chunks) / 2 / 8000 > 1.0  # seconds of speech


# --- voice-agent check ---------------------------------------------------------------


def test_check_names_the_chain_and_checks_each_fallback_voice(espeak_missing):
    env = {
        **CARTESIA,
        "VOICE_AGENT_STT": "whisper",
        "VOICE_AGENT_LLM": "offline",
        "VOICE_AGENT_TTS_FALLBACK": "elevenlabs,espeak",
    }
    results: list[check.Result] = []
    plan = check.Plan()
    check.providers(env, results, plan)
    found = {f"{r.section} {r.name}": r for r in results}
    assert found["config providers"].detail.endswith("tts cartesia, then elevenlabs, then espeak")
    assert found["keys tts cartesia"].ok
    assert not found["keys tts elevenlabs"].ok  # no ElevenLabs key: a fallback must work too
    assert "provider tts espeak" in found
    assert [name for name, _ in plan.probes] == ["tts cartesia"]

    results.clear()
    check.providers({**env, "VOICE_AGENT_TTS_FALLBACK": "cartesia"}, results, check.Plan())
    assert [(r.name, r.ok) for r in results] == [("providers", False)]
    assert "VOICE_AGENT_TTS_FALLBACK='cartesia'" in results[0].detail
