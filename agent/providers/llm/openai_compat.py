"""Streaming chat over any OpenAI-compatible endpoint (Groq, Cerebras, OpenAI, Ollama...).

One ``run`` per turn: POST ``{base}/chat/completions`` with ``stream: true``, feed
the body to ``ChatStreamParser`` and send its events to ``out``. httpx errors
are translated here, once, into the ``ProviderError`` tree; the client never
retries (``FallbackChain`` decides that). Cancelling the caller's scope closes
the response and its connection, which is how a barge-in stops generation.

The service's ``SharedClient`` keeps connections alive across turns and calls
(it saves a TLS handshake on every reply), on ``Http1Pool``, the lean client of
``agent.providers.llm.http1``. An ``httpx.AsyncClient`` handed in is used as it
is (httpx then does the pooling); without either, each ``run`` makes its own.
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import Mapping, Sequence
from contextlib import aclosing

import httpx
import trio

from agent.base.errors import ProviderConnectError, ProviderError, ProviderTimeout
from agent.base.events import LlmEvent, Message, ToolSpec
from agent.base.tls import client_context
from agent.providers.llm.http1 import Http1Pool
from agent.providers.llm.openai_settings import PRESETS, LlmSettings
from agent.providers.llm.openai_wire import (
    ChatStreamParser,
    chat_url,
    encode_request_body,
    request_headers,
    status_error,
)
from agent.providers.protocols import LanguageModel

__all__ = ["PRESETS", "LlmSettings", "OpenAICompatibleLLM", "language_model_from_env"]

_MAX_ERROR_BODY = 64 * 1024
_DRAIN_S = 0.5


class SharedClient:
    """One pooled HTTP client for every call of the process: kept-alive connections and
    one TLS context, instead of a new client (an SSL context and a TLS handshake, tens
    of ms) on every turn's critical path. ``run`` holds it open as a service task;
    while it is not running each request makes its own client.

    It is the lean ``Http1Pool`` (``pool``: h11 on the TLS stream the WebSockets use),
    unless the environment names a proxy (``HTTPS_PROXY`` and the like), which only
    httpx honours: then an ``httpx.AsyncClient`` (``client``). ``lean`` says which."""

    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None
        self.pool: Http1Pool | None = None
        self.lean = False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        context = client_context()
        async with contextlib.AsyncExitStack() as stack:
            if _environment_proxies():
                limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
                client = httpx.AsyncClient(limits=limits, verify=context)
                self.client = await stack.enter_async_context(client)
            else:
                self.pool = Http1Pool(context, max_idle=50)
                stack.push_async_callback(self.pool.aclose)  # (closes even when cancelled)
            self.lean = self.pool is not None
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                self.client = self.pool = None


def _environment_proxies() -> bool:
    """Whether the environment names a proxy (httpx honours these by default)."""
    return any(kind != "no" for kind in urllib.request.getproxies())


class OpenAICompatibleLLM:
    """A ``LanguageModel`` for one OpenAI-compatible endpoint."""

    def __init__(
        self,
        settings: LlmSettings,
        client: httpx.AsyncClient | None = None,
        *,
        shared: SharedClient | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.provider
        self._client = client
        self._shared = shared
        self._timeout = httpx.Timeout(
            settings.timeout_s,
            connect=settings.connect_timeout_s,
            pool=settings.connect_timeout_s,
        )

    def wants_warming(self) -> bool:
        """With the service's lean pool: no kept-alive connection to the endpoint now."""
        pool = self._lean_pool()
        return pool is not None and not pool.has_idle(chat_url(self.settings))

    async def warm(self) -> None:
        """Open a kept-alive connection to the endpoint ahead of the next request."""
        pool = self._lean_pool()
        if pool is not None:
            await pool.warm(
                chat_url(self.settings),
                provider=self.name,
                connect_timeout=self.settings.connect_timeout_s,
            )

    def _lean_pool(self) -> Http1Pool | None:
        """The service's ``Http1Pool`` when ``run`` would use it (no client handed in)."""
        if self._client is not None or self._shared is None:
            return None
        return self._shared.pool

    async def run(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        out: trio.MemorySendChannel[LlmEvent],
    ) -> None:
        with out:
            payload = encode_request_body(self.settings, messages, tools)
            client = self._client
            if client is None and self._shared is not None:
                if self._shared.pool is not None:
                    await self._stream_lean(self._shared.pool, payload, out)
                    return
                client = self._shared.client
            if client is not None:
                await self._stream(client, payload, out)
                return
            async with httpx.AsyncClient(timeout=self._timeout, verify=client_context()) as client:
                await self._stream(client, payload, out)

    async def _stream(
        self, client: httpx.AsyncClient, payload: bytes, out: trio.MemorySendChannel[LlmEvent]
    ) -> None:
        request = client.stream(
            "POST",
            chat_url(self.settings),
            content=payload,
            headers=request_headers(self.settings),
            timeout=self._timeout,
        )
        try:
            async with request as response:
                if response.status_code != 200:
                    await response.aread()  # error bodies are small JSON objects
                    raise status_error(
                        self.name,
                        response.status_code,
                        response.headers,
                        response.content[:_MAX_ERROR_BODY],
                        now=time.time(),
                    )
                self._check_content_type(response.headers)
                await self._read_events(response, ChatStreamParser(self.name), out)
        except httpx.HTTPError as exc:
            raise self._translate(exc) from exc

    async def _stream_lean(
        self, pool: Http1Pool, payload: bytes, out: trio.MemorySendChannel[LlmEvent]
    ) -> None:
        async with pool.post(
            chat_url(self.settings),
            request_headers(self.settings),
            payload,
            provider=self.name,
            connect_timeout=self.settings.connect_timeout_s,
            read_timeout=self.settings.timeout_s,
        ) as response:
            if response.status != 200:
                content = await response.read(_MAX_ERROR_BODY)
                raise status_error(
                    self.name, response.status, response.headers, content, now=time.time()
                )
            self._check_content_type(response.headers)
            parser = ChatStreamParser(self.name)
            while chunk := await response.receive_some():
                for event in parser.feed(chunk):
                    await out.send(event)
                if parser.done:
                    # Read the body's end (normally only the last-chunk marker) so the
                    # connection can serve the next turn; else it is closed.
                    with trio.move_on_after(_DRAIN_S):
                        while await response.receive_some():
                            pass
                    return
            for event in parser.feed_eof():
                await out.send(event)

    @staticmethod
    async def _read_events(
        response: httpx.Response, parser: ChatStreamParser, out: trio.MemorySendChannel[LlmEvent]
    ) -> None:
        # The body is left only at its end or by a cancellation raised inside httpx's
        # own read: an exception thrown between chunks (a parse error, a cancelled
        # out.send) would strand httpx's nested async generators, which then raise
        # ResourceWarning when collected. So failures cancel the read and wait for it.
        failure: BaseException | None = None
        with trio.CancelScope() as reading:
            async with aclosing(response.aiter_bytes()) as chunks:
                async for chunk in chunks:
                    if failure is not None or parser.done:
                        continue
                    try:
                        for event in parser.feed(chunk):
                            await out.send(event)
                    except BaseException as exc:
                        failure = exc
                        reading.cancel()
                        continue
                    if parser.done:
                        # Read the body's end (normally only the last-chunk marker) so
                        # the pool can reuse the connection for the next turn.
                        reading.deadline = trio.current_time() + _DRAIN_S
        if failure is not None:
            raise failure
        if not parser.done:
            for event in parser.feed_eof():
                await out.send(event)

    def _check_content_type(self, headers: Mapping[str, str]) -> None:
        kind = headers.get("content-type", "")
        if kind and "text/event-stream" not in kind:
            raise ProviderError(self.name, f"expected an event stream, got {kind!r}")

    def _translate(self, exc: httpx.HTTPError) -> ProviderError:
        url = chat_url(self.settings)
        if isinstance(exc, httpx.ConnectTimeout):
            return ProviderConnectError(self.name, f"connect to {url} timed out", retryable=True)
        if isinstance(exc, httpx.ConnectError):
            return ProviderConnectError(
                self.name, f"cannot connect to {url}: {exc}", retryable=True
            )
        if isinstance(exc, httpx.TimeoutException):
            return ProviderTimeout(self.name, f"no data for {self.settings.timeout_s} s ({exc!r})")
        if isinstance(exc, httpx.TransportError):
            # Dropped or broken connection mid-reply, e.g. an incomplete chunked body.
            return ProviderError(self.name, f"connection failed: {exc!r}", retryable=True)
        return ProviderError(self.name, f"HTTP client error: {exc!r}")


def language_model_from_env(
    env: Mapping[str, str] | None = None,
    *,
    client: httpx.AsyncClient | None = None,
    shared: SharedClient | None = None,
    provider: str | None = None,
) -> LanguageModel:
    """The configured model (``provider``, else LLM_PROVIDER) and the LLM_FALLBACKS
    after it, in a ``FallbackChain``: even alone, a provider gets its one retry where
    the vendor says a retry helps, inside the first-token budget (LLM_TIMEOUT_S)."""
    from agent.providers.llm.fallback import FallbackChain

    primary = LlmSettings.from_env(env, provider=provider)
    chain = (primary, *primary.fallback_settings(env))
    models = [OpenAICompatibleLLM(settings, client, shared=shared) for settings in chain]
    return FallbackChain(models, first_token_budget_s=primary.timeout_s)
