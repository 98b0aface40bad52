"""The LLM's HTTP client over the lean TLS stream (``LeanTransport``) against the fake
OpenAI-compatible server over loopback TLS (real time, as test_openai_compat)."""

from __future__ import annotations

import contextlib
import gc
import math
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from agent.base.errors import (
    ProviderConnectError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeout,
)
from agent.base.events import Finish, TextDelta
from agent.providers.llm.lean_http import LeanNetworkBackend, LeanTransport
from agent.providers.llm.openai_compat import LlmSettings, OpenAICompatibleLLM, SharedClient
from agent.providers.llm.openai_wire import build_request_body, chat_url, request_headers
from agent.providers.tls_stream import TlsSocketStream
from tests.fakes.openai import FakeOpenAIServer, Fault, ScriptedReply, refused_base_url
from tests.fakes.tls import LoopbackTLS
from tests.providers.llm.test_openai_compat import GUARD_S, MESSAGES, first_events

pytestmark = pytest.mark.realtime

LIMITS = httpx.Limits(max_connections=10, max_keepalive_connections=5)


def settings_for(server, **overrides) -> LlmSettings:
    return LlmSettings(
        provider="groq", base_url=server.base_url, api_key=server.api_key, **overrides
    )


@contextlib.asynccontextmanager
async def tls_fake(tls: LoopbackTLS, replies=()) -> AsyncIterator[FakeOpenAIServer]:
    """The fake server on https:// (its certificate from ``tls``'s authority)."""
    server = FakeOpenAIServer(replies)
    server.ssl_context = tls.server_context
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        yield server
        nursery.cancel_scope.cancel()


def lean_client(tls: LoopbackTLS) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=LeanTransport(tls.client_context(), LIMITS))


async def run_collect(llm) -> list:
    send, receive = trio.open_memory_channel(math.inf)
    with trio.fail_after(GUARD_S):
        await llm.run(MESSAGES, (), send)
    async with receive:
        return [event async for event in receive]


async def test_a_reply_streams_over_the_lean_stream_on_one_kept_alive_connection(tmp_path):
    tls = LoopbackTLS(tmp_path)
    async with tls_fake(tls) as server, lean_client(tls) as c:
        llm = OpenAICompatibleLLM(settings_for(server), c)
        first = await run_collect(llm)
        second = await run_collect(llm)
        # The connection is OpenSSL's own socket (not Trio's MemoryBIO SSLStream).
        settings = settings_for(server)
        body, headers = build_request_body(settings, MESSAGES, ()), request_headers(settings)
        async with c.stream("POST", chat_url(settings), json=body, headers=headers) as response:
            tls_object = response.extensions["network_stream"].get_extra_info("ssl_object")
            await response.aread()
        server.assert_clean()
    assert first == second
    assert first[0] == TextDelta("Hello") and first[-1] == Finish("stop")
    assert isinstance(tls_object, ssl.SSLSocket)
    assert server.connections == 1


async def test_cancelling_mid_stream_closes_the_connection(tmp_path):
    tls = LoopbackTLS(tmp_path)
    reply = ScriptedReply(text="one two three four five six", token_gap=0.05)
    async with (
        tls_fake(tls, [reply]) as server,
        lean_client(tls) as client,
    ):
        llm = OpenAICompatibleLLM(settings_for(server), client)
        with trio.fail_after(GUARD_S):
            received = await first_events(llm, (), 2)
            await server.wait_for_disconnect()
        server.assert_clean()
    assert received == [TextDelta("one"), TextDelta(" two")]
    assert server.requests[0].client_disconnected
    gc.collect()  # a leaked response or socket would warn here, and warnings are errors


@pytest.mark.parametrize(
    ("reply", "kind", "retryable"),
    [
        (ScriptedReply(fault=Fault.SERVER_ERROR), ProviderStatusError, True),
        (ScriptedReply(fault=Fault.CLOSE_MID_STREAM), ProviderError, True),
        (ScriptedReply(fault=Fault.STALL, fault_after=0), ProviderTimeout, True),
    ],
    ids=["server-error", "close-mid-stream", "stall"],
)
async def test_faults_are_the_same_provider_errors(tmp_path, reply, kind, retryable):
    tls = LoopbackTLS(tmp_path)
    async with (
        tls_fake(tls, [reply]) as server,
        lean_client(tls) as client,
    ):
        llm = OpenAICompatibleLLM(settings_for(server, timeout_s=0.3), client)
        with pytest.raises(ProviderError) as info:
            await run_collect(llm)
    assert type(info.value) is kind and info.value.retryable is retryable
    gc.collect()


async def test_an_untrusted_certificate_is_a_connect_error(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    server_tls, other = LoopbackTLS(tmp_path / "a"), LoopbackTLS(tmp_path / "b")
    async with (
        tls_fake(server_tls) as server,
        lean_client(other) as client,
    ):
        with pytest.raises(ProviderConnectError) as info:
            await run_collect(OpenAICompatibleLLM(settings_for(server), client))
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)


async def test_a_refused_connection_is_a_retryable_connect_error(tmp_path):
    client = lean_client(LoopbackTLS(tmp_path))
    async with client:
        settings = LlmSettings(base_url=refused_base_url(), api_key="k")
        with pytest.raises(ProviderConnectError) as info:
            await run_collect(OpenAICompatibleLLM(settings, client))
    assert info.value.retryable


async def test_an_idle_connection_the_server_closed_reads_as_readable(tmp_path):
    # The pool asks an idle kept-alive connection whether it is readable: a closed
    # one must say so (it is then dropped, not reused for the next turn).
    tls = LoopbackTLS(tmp_path)
    closed = trio.Event()

    async def close_at_once(stream: trio.SSLStream) -> None:
        await stream.do_handshake()
        await stream.aclose()
        closed.set()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    ssl_listeners = [trio.SSLListener(ln, tls.server_context) for ln in listeners]
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, close_at_once, ssl_listeners)
            backend = LeanNetworkBackend()
            tcp = await backend.connect_tcp("127.0.0.1", port)
            assert tcp.get_extra_info("is_readable") is False
            stream = await tcp.start_tls(tls.client_context(), "127.0.0.1")
            await closed.wait()
            while not stream.get_extra_info("is_readable"):
                await trio.sleep(0.01)
            assert await stream.read(100) == b""
            await stream.aclose()
            nursery.cancel_scope.cancel()


async def test_the_services_client_is_lean_unless_a_proxy_is_configured(monkeypatch, tmp_path):
    tls = LoopbackTLS(tmp_path)
    monkeypatch.setenv("VOICE_AGENT_CA_FILE", str(tls.ca_file))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    kinds = []
    async with tls_fake(tls) as server:
        for proxy in (None, "http://127.0.0.1:9"):
            if proxy:
                monkeypatch.setenv("HTTPS_PROXY", proxy)
            shared = SharedClient()
            async with trio.open_nursery() as nursery:
                await nursery.start(shared.run)
                kinds.append(shared.lean)
                if not proxy:
                    await run_collect(OpenAICompatibleLLM(settings_for(server), shared=shared))
                nursery.cancel_scope.cancel()
        server.assert_clean()
    assert kinds == [True, False]
    assert TlsSocketStream  # (the stream the lean client's connections run on)
