"""Service wiring: what `serve --brain conversation` prepares before the first call,
and that it never quietly swaps a missing cloud provider for the offline one."""

from __future__ import annotations

import logging
import re

import pytest

from agent.base.errors import ConfigError
from agent.service.wiring import build_conversation, check_providers


def test_the_offline_speech_model_is_warmed_up_by_the_service(tmp_path):
    db = str(tmp_path / "agent.db")
    offline = build_conversation({"VOICE_AGENT_DB": db, "VOICE_AGENT_OFFLINE": "1"})
    assert offline.names == ("whisper", "offline", "espeak")
    assert offline.warm_up is not None and offline.warm_up.__name__ == "warm_up"
    cloud = build_conversation(
        {
            "VOICE_AGENT_DB": db,
            "DEEPGRAM_API_KEY": "k",
            "VOICE_AGENT_OFFLINE": "1",
            "VOICE_AGENT_STT": "deepgram",
        }
    )
    assert cloud.names[0] == "deepgram" and cloud.warm_up is None


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "DEEPGRAM_API_KEY"),
        ({"DEEPGRAM_API_KEY": "k"}, "GROQ_API_KEY"),
        ({"DEEPGRAM_API_KEY": "k", "GROQ_API_KEY": "k"}, "CARTESIA_API_KEY"),
        ({"DEEPGRAM_API_KEY": "k", "LLM_PROVIDER": "openai", "CARTESIA_API_KEY": "k"},
         "OPENAI_API_KEY"),
        ({"VOICE_AGENT_OFFLINE": "1", "VOICE_AGENT_TTS": "cartesia"}, "CARTESIA_API_KEY"),
    ],
)  # fmt: skip
def test_a_missing_key_stops_start_up_instead_of_going_offline(tmp_path, env, missing):
    """Before: no key meant Whisper tiny, the rule policy or espeak, silently."""
    env = {"VOICE_AGENT_DB": str(tmp_path / "agent.db"), **env}
    with pytest.raises(ConfigError, match=f"^{missing} is not set"):
        build_conversation(env)
    with pytest.raises(ConfigError, match=f"^{missing} is not set"):
        check_providers(env)  # what `serve --workers N` checks in the parent


def test_the_offline_stack_is_chosen_explicitly_and_logged(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    env = {"VOICE_AGENT_DB": str(tmp_path / "agent.db"), "VOICE_AGENT_OFFLINE": "yes"}
    assert check_providers(env) == ("whisper", "offline", "espeak")
    build_conversation(env)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "offline providers in use (not for production): stt whisper, llm offline," in (
        " ".join(warnings)
    )
    assert any("VOICE_AGENT_COMPANIES is not set" in w for w in warnings)  # the example company


def test_own_companies_file_gives_no_example_warning(tmp_path, caplog):
    from agent.business.company import EXAMPLE_COMPANIES

    own = tmp_path / "companies.json"
    own.write_text(EXAMPLE_COMPANIES.read_text())
    env = {
        "VOICE_AGENT_DB": str(tmp_path / "a.db"),
        "VOICE_AGENT_OFFLINE": "1",
        "VOICE_AGENT_COMPANIES": str(own),
    }
    # Its own file's booking key is needed: a start-up error, not a failed booking later.
    with pytest.raises(ConfigError, match=r"^BRIGHTSPARK_BOOKING_KEY is not set: the booking"):
        build_conversation(env)
    caplog.set_level(logging.WARNING)
    build_conversation({**env, "BRIGHTSPARK_BOOKING_KEY": "k"})
    assert [r.getMessage() for r in caplog.records if "COMPANIES" in r.getMessage()] == []


def test_the_example_companys_missing_booking_key_is_only_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    build_conversation({"VOICE_AGENT_DB": str(tmp_path / "a.db"), "VOICE_AGENT_OFFLINE": "1"})
    assert "BRIGHTSPARK_BOOKING_KEY is not set: the example company brightspark cannot book" in (
        caplog.messages
    )


def test_an_unreadable_ca_file_stops_start_up(tmp_path):
    env = {
        "VOICE_AGENT_DB": str(tmp_path / "agent.db"),
        "DEEPGRAM_API_KEY": "k",
        "GROQ_API_KEY": "k",
        "CARTESIA_API_KEY": "k",
        "CARTESIA_VOICE_ID": "a0e99841-438c-4a64-b679-ae501e7d6091",
        "VOICE_AGENT_CA_FILE": str(tmp_path / "missing.pem"),
    }
    missing = re.escape(f"{tmp_path}/missing.pem")
    refused = rf"^VOICE_AGENT_CA_FILE={missing}: not a readable PEM file"
    with pytest.raises(ConfigError, match=refused):
        check_providers(env)
    with pytest.raises(ConfigError, match=refused):
        build_conversation(env)
