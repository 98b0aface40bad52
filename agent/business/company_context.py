"""Company profiles from the company's HTTP context API, cached per dialled number.

``GET {url}/companies/{did}`` (the DID in E.164) answers the profile (the same
JSON as one entry of the companies file); 404 means no company for that number.
Profiles are cached per DID for ``ttl_s``; when the API fails (timeout, 5xx,
garbage) the last good copy is kept and used, and a DID never fetched falls
back to the companies file. A profile that does not validate counts as a
failure, with a warning naming the problem.

Picking the company happens when a call starts, which must not wait for HTTP:
``prefetch(did)`` runs in the FastAGI setup step (before Asterisk opens the
AudioSocket), and ``company_for(did)`` is sync: the cached profile if any,
else the companies file. A stale entry is refreshed in the background by the
next ``prefetch`` (or ``refresh``), never on the call's path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote

import attrs
import httpx

from agent.base.errors import ConfigError, ProviderError
from agent.base.settings import Env, setting
from agent.business.booking import _JsonHttp
from agent.business.company import CompanyDirectory, CompanyProfile, parse_company, to_e164

log = logging.getLogger(__name__)

__all__ = ["CompanyContext", "ContextSettings"]


@attrs.frozen
class ContextSettings:
    url: str
    key: str | None = attrs.field(default=None, repr=False)
    ttl_s: float = setting("VOICE_AGENT_CONTEXT_TTL_S")
    connect_timeout_s: float = 1.0
    timeout_s: float = 3.0

    def __attrs_post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"VOICE_AGENT_CONTEXT_URL={self.url!r}: want an http(s) URL")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None) -> ContextSettings | None:
        """None when ``VOICE_AGENT_CONTEXT_URL`` is unset (the companies file only)."""
        reader = Env.of(env)
        url = reader.get("VOICE_AGENT_CONTEXT_URL")
        if not url:
            return None
        key_env = reader.get("VOICE_AGENT_CONTEXT_KEY_ENV")
        key = reader.named("context API key", key_env) if key_env else None
        if key_env and not key:
            raise ConfigError(f"VOICE_AGENT_CONTEXT_KEY_ENV: {key_env} is not set")
        return cls(url.rstrip("/"), key, ttl_s=reader.get("VOICE_AGENT_CONTEXT_TTL_S"))


@attrs.define
class _Entry:
    profile: CompanyProfile | None  # None: the API said 404
    fetched_at: float


class CompanyContext:
    def __init__(
        self,
        settings: ContextSettings,
        fallback: CompanyDirectory,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.fallback = fallback
        self._http = _JsonHttp(
            "context-api",
            client,
            api_key=settings.key,
            connect_timeout=settings.connect_timeout_s,
            timeout=settings.timeout_s,
        )
        self._cache: dict[str, _Entry] = {}
        self.failures = 0

    def company_for(self, did: str | None) -> CompanyProfile | None:
        """The profile for ``did``: cached from the API (even if stale), else the file."""
        e164 = to_e164(did) if did else None
        entry = self._cache.get(e164) if e164 else None
        if entry is not None and entry.profile is not None:
            return entry.profile
        if did:
            return self.fallback.lookup(did)
        return self.fallback.get(self.fallback.default_id) if self.fallback.default_id else None

    def is_fresh(self, did: str, now: float) -> bool:
        e164 = to_e164(did)
        entry = self._cache.get(e164) if e164 else None
        return entry is not None and now - entry.fetched_at < self.settings.ttl_s

    async def prefetch(self, did: str | None, now: float) -> CompanyProfile | None:
        """Fetch ``did``'s profile unless a fresh copy is cached; never raises for API
        trouble (the last good copy, or the companies file, stays in use)."""
        if not did:
            return self.company_for(None)
        if not self.is_fresh(did, now):
            await self.refresh(did, now)
        return self.company_for(did)

    async def refresh(self, did: str, now: float) -> None:
        e164 = to_e164(did)
        if e164 is None:
            log.warning("context API: %r is not a phone number; using the companies file", did)
            return
        url = f"{self.settings.url}/companies/{quote(e164, safe='+')}"
        try:
            status, data = await self._http.request("GET", url)
        except ProviderError as exc:
            self._failed(e164, f"no answer ({exc})")
            return
        if status == 404:
            self._cache[e164] = _Entry(None, now)
            return
        if status != 200:
            self._failed(e164, f"HTTP {status}")
            return
        try:
            profile = parse_company(data)
        except ConfigError as exc:
            self._failed(e164, f"the profile does not validate: {exc}")
            return
        self._cache[e164] = _Entry(profile, now)

    def _failed(self, e164: str, why: str) -> None:
        self.failures += 1
        kept = self._cache.get(e164)
        fallback = "the last good copy" if kept and kept.profile else "the companies file"
        log.warning("context API for %s: %s; using %s", e164, why, fallback)

    def statistics(self) -> dict[str, int]:
        return {"cached": len(self._cache), "failures": self.failures}
