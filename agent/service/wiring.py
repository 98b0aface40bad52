"""Wiring: settings and environment -> the conversation brain and its services."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import attrs
import trio

from agent.base.config import ServerSettings
from agent.base.errors import ConfigError
from agent.base.settings import Env
from agent.base.tls import client_context
from agent.business.booking import BookingClient, Notifier
from agent.business.bookingstore import BookingStore
from agent.business.company import (
    EXAMPLE_COMPANIES,
    CompanyDirectory,
    CompanyProfile,
    load_companies,
)
from agent.business.company_context import CompanyContext, ContextSettings
from agent.business.outbox import Outbox
from agent.business.outbox_delivery import run_outbox
from agent.conversation import conversation_brain_factory
from agent.conversation.params import ConversationParams
from agent.conversation.toolrunner import BookingToolRunner
from agent.media.call import BrainFactory, Call
from agent.providers.llm.openai_compat import SharedClient
from agent.providers.registry import OFFLINE_NAMES, chosen, llm_factory, stt_factory, tts_factory
from agent.service.preflight import check_database

log = logging.getLogger(__name__)
DEFAULT_COMPANIES = EXAMPLE_COMPANIES
ROLES = ("stt", "llm", "tts")
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
    outbox_lease_s: float = 20.0  # VOICE_AGENT_OUTBOX_LEASE_S

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

        async with trio.open_nursery() as nursery:
            if self.warm_up is not None:
                # Before any call: a first load/decode inside a call stalls every
                # call's frames (heavy imports hold the GIL) and answers slowly.
                seconds = await self.warm_up()
                log.info("speech recognition ready in %.1f s", seconds)
            if self.http is not None:
                await nursery.start(self.http.run)
            # Notifications (a booking made or failed) go to the company's notify URL.
            notifier = Notifier()
            await run_outbox(
                self.outbox,
                self.backend_for,
                notifier,
                lease_s=self.outbox_lease_s,
                task_status=task_status,
            )


def build_conversation(
    env: Mapping[str, str] | None = None,
    *,
    did_for: Callable[[Call], str | None] | None = None,
    caller_id_for: Callable[[Call], str | None] | None = None,
) -> Conversation:
    """The conversation brain factory for ``serve``. ``did_for`` / ``caller_id_for``
    give a call's dialled number and caller id (from the AGI setup step, see
    ``agent.pbx.callflow``); without them every call gets the default company."""

    reader = Env.of(env)
    companies = load_companies(companies_path(reader))
    default = companies.get(companies.default_id) if companies.default_id else None
    if default is None:
        raise ConfigError("VOICE_AGENT_COMPANIES: the companies file names no default company")
    check_booking_keys(reader, companies)
    client_context(reader)  # a bad VOICE_AGENT_CA_FILE stops start-up, not the first call
    db = open_store(reader)
    outbox = Outbox(db)
    lease_s = reader.get("VOICE_AGENT_OUTBOX_LEASE_S")

    def backend_for(company: CompanyProfile):
        if company.booking_api is None:
            return BookingStore(db, company)
        return BookingClient(company.booking_api, env=env)

    def backend_by_id(company_id: str):
        company = companies.get(company_id)
        return backend_for(company) if company is not None else None

    settings = ContextSettings.from_env(reader)
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
        return BookingToolRunner(
            company, backend_for(company), outbox, None, str(call.uuid), held_lease_s=lease_s
        )

    stt, llm, tts = chosen(reader)
    warn_offline(reader, (stt, llm, tts))
    http = SharedClient()
    factory = conversation_brain_factory(
        stt=stt_factory(stt, reader),
        llm=llm_factory(llm, reader, company_for=company_for, shared=http),
        tts=tts_factory(tts, reader),
        tools=tools,
        companies=companies,
        did_for=did_for,
        caller_id_for=caller_id_for,
        company_for=company_for,
        params=ConversationParams(consent=reader.get("VOICE_AGENT_CONSENT")),
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
        _warm_up(stt, reader),
        reader.get("VOICE_AGENT_OUTBOX_LEASE_S"),
    )


def open_store(env: Mapping[str, str] | Env | None):
    """The store ``VOICE_AGENT_DB`` names (a SQLite file or PostgreSQL), migrated;
    a problem is one ConfigError naming the variable."""
    from agent.business.database import open_database, shown

    reader = Env.of(env)
    target = reader.get("VOICE_AGENT_DB")
    check_database("VOICE_AGENT_DB", target)
    try:
        return open_database(target, pool_size=reader.get("VOICE_AGENT_DB_POOL_SIZE"))
    except ConfigError:
        raise
    except Exception as exc:  # sqlite3.Error or psycopg.Error: the engine's own words
        raise ConfigError(f"VOICE_AGENT_DB={shown(target)!r}: {exc}") from None


def companies_path(env: Mapping[str, str] | Env | None) -> str:
    """VOICE_AGENT_COMPANIES, else the bundled example (with a WARNING: every call
    would be answered as the example company)."""
    path = Env.of(env).get("VOICE_AGENT_COMPANIES")
    if path is None:
        log.warning(
            "VOICE_AGENT_COMPANIES is not set: calls are answered as the bundled example"
            " company (%s)",
            DEFAULT_COMPANIES,
        )
        return str(DEFAULT_COMPANIES)
    return path


def check_booking_keys(env: Mapping[str, str] | Env | None, companies: CompanyDirectory) -> None:
    """Each company's booking API key is set: a ConfigError naming the variable, or
    for the bundled example only a WARNING (a first try has no key for it)."""
    reader = Env.of(env)
    for company in companies.companies:
        api = company.booking_api
        if api is None or not api.key_env or reader.named("booking API key", api.key_env):
            continue
        if not reader.is_set("VOICE_AGENT_COMPANIES"):
            log.warning(
                "%s is not set: the example company %s cannot book", api.key_env, company.id
            )
            continue
        raise ConfigError(
            f"{api.key_env} is not set: the booking API key of company {company.id!r}"
            f" (booking_api.key_env in {reader.get('VOICE_AGENT_COMPANIES')})"
        )


def warn_offline(env: Mapping[str, str] | Env | None, names: tuple[str, str, str]) -> None:
    """One WARNING naming the offline providers in use (chosen explicitly: see
    ``agent.providers.registry.chosen``), so a production log shows them."""

    pairs = zip(ROLES, names, strict=True)
    offline = [f"{role} {name}" for role, name in pairs if name in OFFLINE_NAMES]
    if offline:
        log.warning("offline providers in use (not for production): %s", ", ".join(offline))


def check_providers(env: Mapping[str, str] | Env | None) -> tuple[str, str, str]:
    """Build the chosen providers' settings (keys included) without starting them:
    a missing key is a ConfigError here, at start-up."""

    reader = Env.of(env)
    names = chosen(reader)
    stt_factory(names[0], reader)
    llm_factory(names[1], reader, company_for=lambda call: None)
    tts_factory(names[2], reader)
    client_context(reader)  # a bad VOICE_AGENT_CA_FILE stops start-up, not the first call
    return names


def _warm_up(stt: str, env: Mapping[str, str] | Env) -> Callable[[], Awaitable[float]] | None:
    if stt != "whisper":
        return None
    from agent.providers.stt.whisper import WhisperStt

    rate = ServerSettings.from_env(env).sample_rate
    return WhisperStt(rate).warm_up
