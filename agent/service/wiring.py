"""Wiring: settings and environment -> the conversation brain and its services."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import attrs
import trio

from agent.base.config import ServerSettings, env_str
from agent.base.errors import ConfigError
from agent.business.company import (
    EXAMPLE_COMPANIES,
    CompanyDirectory,
    CompanyProfile,
    load_companies,
)
from agent.media.call import BrainFactory, Call

log = logging.getLogger(__name__)
DEFAULT_COMPANIES = EXAMPLE_COMPANIES
# How long a call's start may wait for the context API (a cache miss only).
CONTEXT_WAIT_S = 1.0


@attrs.define
class Conversation:
    """The conversation brain factory plus the services that outlive calls."""

    factory: BrainFactory
    companies: CompanyDirectory
    names: tuple[str, str, str]  # stt, llm, tts
    outbox: object
    backend_for: object
    company_for: Callable[[Call], CompanyProfile] | None = None  # by the call's DID
    context: object | None = None  # agent.business.company_context.CompanyContext, when configured
    did_for: Callable[[Call], str | None] | None = None
    http: object | None = None  # agent.providers.llm.openai_compat.SharedClient
    warm_up: Callable[[], Awaitable[float]] | None = None  # the offline STT's model

    async def prepare(self, call: Call) -> None:
        """Before the call's brain is made: refresh the dialled number's profile from
        the context API if the cached copy is stale (bounded; never fails the call)."""
        did = self.did_for(call) if self.did_for is not None else None
        if self.context is None or not did:
            return
        with trio.move_on_after(CONTEXT_WAIT_S):
            await self.context.prefetch(did, trio.current_time())

    async def run_services(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """The outbox retries bookings the booking API could not take at once; the
        LLM's pooled HTTP client stays open for every call."""
        from agent.business.outbox import run_outbox

        async with trio.open_nursery() as nursery:
            if self.warm_up is not None:
                # Before any call: a first load/decode inside a call stalls every
                # call's frames (heavy imports hold the GIL) and answers slowly.
                seconds = await self.warm_up()
                log.info("speech recognition ready in %.1f s", seconds)
            if self.http is not None:
                await nursery.start(self.http.run)
            await run_outbox(self.outbox, self.backend_for, None, task_status=task_status)


def build_conversation(
    env: Mapping[str, str] | None = None,
    *,
    did_for: Callable[[Call], str | None] | None = None,
    caller_id_for: Callable[[Call], str | None] | None = None,
) -> Conversation:
    """The conversation brain factory for ``serve``. ``did_for`` / ``caller_id_for``
    give a call's dialled number and caller id (from the AGI setup step, see
    ``agent.pbx.callflow``); without them every call gets the default company."""
    from agent.business.booking import BookingClient
    from agent.business.bookingstore import BookingStore, open_database
    from agent.business.company_context import CompanyContext, ContextSettings
    from agent.business.outbox import Outbox
    from agent.conversation import conversation_brain_factory
    from agent.conversation.toolrunner import BookingToolRunner
    from agent.providers.registry import chosen, llm_factory, stt_factory, tts_factory

    env = os.environ if env is None else env
    companies = load_companies(env_str(env, "VOICE_AGENT_COMPANIES", str(DEFAULT_COMPANIES)))
    default = companies.get(companies.default_id) if companies.default_id else None
    if default is None:
        raise ConfigError("VOICE_AGENT_COMPANIES: the companies file names no default company")
    db_path = Path(env_str(env, "VOICE_AGENT_DB", "voice-agent.sqlite3"))
    db = open_database(db_path)
    outbox = Outbox(db)

    def backend_for(company: CompanyProfile):
        if company.booking_api is None:
            return BookingStore(db, company)
        return BookingClient(company.booking_api, env=env)

    def backend_by_id(company_id: str):
        company = companies.get(company_id)
        return backend_for(company) if company is not None else None

    settings = ContextSettings.from_env(env)
    context = CompanyContext(settings, companies) if settings is not None else None

    def company_for(call: Call) -> CompanyProfile:
        # The company of the dialled number (from the AGI setup step): the context
        # API's cached profile when configured, else the companies file; else the
        # default. The brain factory and the offline policy both ask this.
        did = did_for(call) if did_for is not None else None
        if context is not None:
            return context.company_for(did) or default
        return (companies.lookup(did) if did else None) or default

    def tools(call: Call, company: CompanyProfile) -> BookingToolRunner:
        return BookingToolRunner(company, backend_for(company), outbox, None, str(call.uuid))

    from agent.providers.llm.openai_compat import SharedClient

    stt, llm, tts = chosen(env)
    http = SharedClient()
    factory = conversation_brain_factory(
        stt=stt_factory(stt, env),
        llm=llm_factory(llm, env, company_for=company_for, shared=http),
        tts=tts_factory(tts, env),
        tools=tools,
        companies=companies,
        did_for=did_for,
        caller_id_for=caller_id_for,
        company_for=company_for,
    )
    return Conversation(
        factory,
        companies,
        (stt, llm, tts),
        outbox,
        backend_by_id,
        company_for,
        context,
        did_for,
        http,
        _warm_up(stt, env),
    )


def _warm_up(stt: str, env: Mapping[str, str]) -> Callable[[], Awaitable[float]] | None:
    if stt != "whisper":
        return None
    from agent.providers.stt.whisper import WhisperStt

    rate = ServerSettings.from_env(env).sample_rate
    return WhisperStt(rate).warm_up
