"""The company context API client: TTL cache, last good copy, 404, garbage."""

from __future__ import annotations

import json
import logging

import pytest
import trio

from agent.base.errors import ConfigError
from agent.business.company import EXAMPLE_COMPANIES, parse_directory
from agent.business.company_context import CompanyContext, ContextSettings
from agent.demo.booking_api import Fault, open_fake_booking

DATA = json.loads(EXAMPLE_COMPANIES.read_text())
DIRECTORY = parse_directory(DATA)
PLUMBER, SPARKS = DATA["companies"][0], DATA["companies"][1]
DID = "+442071234567"
OTHER_DID = "+441619876543"


def remote_plumber() -> dict:
    """The plumber as the API knows it: a different greeting than the local file."""
    return {**PLUMBER, "greeting": "Thames Plumbing, from the context API."}


def context(api, **changes) -> CompanyContext:
    settings = ContextSettings(api.base_url, "test-key", **changes)
    return CompanyContext(settings, DIRECTORY)


async def test_prefetch_caches_the_api_profile_for_the_ttl(autojump_clock):
    async with open_fake_booking(companies={DID: remote_plumber()}) as api:
        ctx = context(api, ttl_s=300)
        profile = await ctx.prefetch("020 7123 4567", 0.0)  # any spelling of the DID
        assert profile.greeting == "Thames Plumbing, from the context API."
        assert ctx.company_for(DID) is profile
        await ctx.prefetch(DID, 299.0)  # still fresh: no request
        assert len(api.requests) == 1
        await ctx.prefetch(DID, 301.0)
        assert len(api.requests) == 2
        assert api.requests[0].path == f"/companies/{DID}"
        assert api.requests[0].headers["authorization"] == "Bearer test-key"
        api.assert_clean()


async def test_api_failures_keep_the_last_good_copy(autojump_clock, caplog):
    async with open_fake_booking(companies={DID: remote_plumber()}) as api:
        ctx = context(api, ttl_s=0)
        good = await ctx.prefetch(DID, 0.0)
        api.fail(Fault.SERVER_ERROR, times=1, path=None)
        with caplog.at_level(logging.WARNING):
            assert await ctx.prefetch(DID, 1.0) is good
        assert "HTTP 500; using the last good copy" in caplog.text
        api.fail(Fault.STALL, times=1, path=None)
        assert await ctx.prefetch(DID, 2.0) is good  # a timeout (3 s, virtual)
        api.companies[DID] = {"id": "broken"}  # garbage: does not validate
        assert await ctx.prefetch(DID, 3.0) is good
        assert "does not validate" in caplog.text
        assert ctx.statistics()["failures"] == 3


async def test_unreachable_api_falls_back_to_the_companies_file(autojump_clock):
    async with open_fake_booking() as api:
        ctx = context(api)
        api.down()
        profile = await ctx.prefetch(DID, 0.0)
    assert profile.id == PLUMBER["id"] and profile.greeting == PLUMBER["greeting"]


async def test_404_means_no_company_for_the_number_so_the_file_decides(autojump_clock):
    async with open_fake_booking(companies={DID: remote_plumber()}) as api:
        ctx = context(api)
        profile = await ctx.prefetch(OTHER_DID, 0.0)
        api.assert_clean()
    # Unknown to the API and to the file: the file's default company answers.
    assert profile.id == DIRECTORY.default_id


def test_company_for_without_a_did_is_the_default():
    ctx = CompanyContext(ContextSettings("http://127.0.0.1:9"), DIRECTORY)
    assert ctx.company_for(None).id == DIRECTORY.default_id


def test_settings_from_env():
    assert ContextSettings.from_env({}) is None
    env = {"VOICE_AGENT_CONTEXT_URL": "https://ctx.example/", "VOICE_AGENT_CONTEXT_TTL_S": "60"}
    settings = ContextSettings.from_env(env)
    assert settings.url == "https://ctx.example" and settings.ttl_s == 60 and settings.key is None
    with pytest.raises(ConfigError, match=r"CONTEXT_URL='ftp://x': expected a URL \(http://"):
        ContextSettings.from_env({"VOICE_AGENT_CONTEXT_URL": "ftp://x"})
    with pytest.raises(ConfigError, match="CTX_KEY is not set"):
        ContextSettings.from_env({**env, "VOICE_AGENT_CONTEXT_KEY_ENV": "CTX_KEY"})


async def test_cancelled_prefetch_leaves_nothing_running(autojump_clock):
    async with open_fake_booking(companies={DID: remote_plumber()}) as api:
        api.fail(Fault.STALL, times=1, path=None)
        ctx = context(api)
        with trio.move_on_after(0.5):
            await ctx.prefetch(DID, 0.0)
        assert ctx.company_for(DID).greeting == PLUMBER["greeting"]


async def test_serve_wiring_takes_the_dialled_numbers_profile_from_the_api(tmp_path):
    from agent.service.wiring import build_conversation

    async with open_fake_booking(companies={DID: remote_plumber()}) as api:
        env = {
            "VOICE_AGENT_CONTEXT_URL": api.base_url,
            "VOICE_AGENT_CONTEXT_KEY_ENV": "CTX_KEY",
            "CTX_KEY": "test-key",
            "VOICE_AGENT_DB": str(tmp_path / "agent.db"),
            "VOICE_AGENT_OFFLINE": "1",
        }
        dialled = {"call-1": DID, "call-2": None}
        conversation = build_conversation(env, did_for=lambda call: dialled[call])
        # Before the call's brain is made, the profile is fetched (once per TTL) ...
        assert conversation.company_for("call-1").greeting == PLUMBER["greeting"]
        await conversation.prepare("call-1")
        assert conversation.company_for("call-1").greeting.endswith("from the context API.")
        await conversation.prepare("call-1")
        await conversation.prepare("call-2")  # no dialled number: nothing to fetch
        assert len(api.requests) == 1
        assert conversation.company_for("call-2").id == DIRECTORY.default_id
        api.assert_clean()
