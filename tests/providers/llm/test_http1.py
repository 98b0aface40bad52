"""The LLM's lean HTTP/1.1 client (``Http1Pool``) against the fake OpenAI-compatible
server over loopback TLS, and against scripted servers for what the fake never does
(closing a kept-alive connection); real time, as test_openai_compat."""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import AsyncIterator, Callable

import h11
import pytest
import trio

from agent.base.errors import (
    ProviderConnectError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeout,
)
from agent.base.events import Finish, TextDelta
from agent.providers.llm.http1 import Http1Pool
from agent.providers.llm.openai_compat import LlmSettings, OpenAICompatibleLLM, SharedClient
from tests.fakes.openai import FakeOpenAIServer, Fault, ScriptedReply, refused_base_url
from tests.fakes.tls import LoopbackTLS
from tests.providers.llm.test_openai_compat import GUARD_S, MESSAGES, first_events

pytestmark = pytest.mark.realtime


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


@contextlib.asynccontextmanager
async def lean(tls: LoopbackTLS, **options) -> AsyncIterator[tuple[SharedClient, Http1Pool]]:
    """The service's shared client, lean: its pool trusts ``tls``'s authority."""
    shared = SharedClient()
    pool = Http1Pool(tls.client_context(), **options)
    shared.pool, shared.lean = pool, True
    try:
        yield shared, pool
    finally:
        await pool.aclose()


async def run_collect(llm) -> list:
    send, receive = trio.open_memory_channel(math.inf)
    with trio.fail_after(GUARD_S):
        await llm.run(MESSAGES, (), send)
    async with receive:
        return [event async for event in receive]


async def test_replies_stream_on_one_kept_alive_tls_connection(tmp_path):
    tls = LoopbackTLS(tmp_path)
    async with tls_fake(tls) as server, lean(tls) as (shared, pool):
        llm = OpenAICompatibleLLM(settings_for(server), shared=shared)
        first = await run_collect(llm)
        second = await run_collect(llm)
        server.assert_clean()
    assert first == second
    assert first[0] == TextDelta("Hello") and first[-1] == Finish("stop")
    assert server.connections == 1 and pool.connections_opened == 1 and pool.requests == 2


async def test_cancelling_mid_stream_closes_the_connection(tmp_path):
    tls = LoopbackTLS(tmp_path)
    reply = ScriptedReply(text="one two three four five six", token_gap=0.05)
    async with tls_fake(tls, [reply]) as server, lean(tls) as (shared, pool):
        llm = OpenAICompatibleLLM(settings_for(server), shared=shared)
        with trio.fail_after(GUARD_S):
            received = await first_events(llm, (), 2)
            await server.wait_for_disconnect()
        server.assert_clean()
        assert pool.idle_connections == 0  # a half-read response's connection is not kept
    assert received == [TextDelta("one"), TextDelta(" two")]
    assert server.requests[0].client_disconnected
    gc.collect()  # a leaked socket would warn here, and warnings are errors


@pytest.mark.parametrize(
    ("reply", "kind", "retryable"),
    [
        (ScriptedReply(fault=Fault.SERVER_ERROR), ProviderStatusError, True),
        (ScriptedReply(fault=Fault.AUTH), ProviderStatusError, False),
        (ScriptedReply(fault=Fault.CLOSE_MID_STREAM), ProviderError, True),
        (ScriptedReply(fault=Fault.STALL, fault_after=0), ProviderTimeout, True),
    ],
    ids=["server-error", "auth", "close-mid-stream", "stall"],
)
async def test_faults_are_provider_errors(tmp_path, reply, kind, retryable):
    tls = LoopbackTLS(tmp_path)
    async with tls_fake(tls, [reply]) as server, lean(tls) as (shared, pool):
        llm = OpenAICompatibleLLM(settings_for(server, timeout_s=0.3), shared=shared)
        with pytest.raises(ProviderError) as info:
            await run_collect(llm)
        assert pool.idle_connections == (1 if kind is ProviderStatusError else 0)
    assert type(info.value) is kind and info.value.retryable is retryable
    assert info.value.provider == "groq"
    gc.collect()


async def test_an_untrusted_certificate_is_a_connect_error_not_retried(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    server_tls, other = LoopbackTLS(tmp_path / "a"), LoopbackTLS(tmp_path / "b")
    async with tls_fake(server_tls) as server, lean(other) as (shared, _):
        with pytest.raises(ProviderConnectError) as info:
            await run_collect(OpenAICompatibleLLM(settings_for(server), shared=shared))
    assert "certificate was not accepted" in str(info.value)
    assert f":{server.port}" in str(info.value)
    assert not info.value.retryable


async def test_a_refused_connection_is_a_retryable_connect_error(tmp_path):
    async with lean(LoopbackTLS(tmp_path)) as (shared, _):
        settings = LlmSettings(base_url=refused_base_url(), api_key="k")
        with pytest.raises(ProviderConnectError) as info:
            await run_collect(OpenAICompatibleLLM(settings, shared=shared))
    assert info.value.retryable


# --- kept-alive connections the server closes (scripted servers) --------------------

Script = Callable[[int, int], str]  # (connection number, request number on it) -> action


async def scripted_server(
    nursery: trio.Nursery,
    script: Script,
    *,
    tls: LoopbackTLS | None = None,
    stall_first: bool = False,
) -> tuple[str, list[int], list[dict[str, str]]]:
    """A plain HTTP server (https with ``tls``) answering each request with a short
    event stream, or ("close") closing the connection instead, or ("reply-then-close")
    closing it right after a whole reply, or ("say-close") replying with
    ``Connection: close``; ``stall_first``: the first connection is accepted and
    never answered (not even its TLS handshake). The base URL, the requests seen per
    connection and each request's headers."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    seen: list[int] = []
    heads: list[dict[str, str]] = []  # each request's headers

    async def serve(stream: trio.abc.Stream) -> None:
        number = len(seen)
        seen.append(0)
        if stall_first and number == 0:
            await trio.sleep_forever()
        if tls is not None:
            stream = trio.SSLStream(stream, tls.server_context, server_side=True)
        conn = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                    continue
                if type(event) is h11.Request:
                    heads.append({k.decode(): v.decode() for k, v in event.headers})
                if type(event) is not h11.EndOfMessage:
                    continue
                seen[number] += 1
                action = script(number, seen[number])
                if action == "close":
                    return
                body = (
                    b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n'
                )
                head = h11.Response(
                    status_code=200,
                    headers=[
                        ("Content-Type", "text/event-stream"),
                        ("Content-Length", str(len(body))),
                        *([("Connection", "close")] if action == "say-close" else []),
                    ],
                )
                await stream.send_all(
                    conn.send(head) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
                )
                if action in ("reply-then-close", "say-close"):
                    return
                conn.start_next_cycle()

    nursery.start_soon(trio.serve_listeners, serve, listeners)
    scheme = "http" if tls is None else "https"
    return f"{scheme}://127.0.0.1:{port}/v1", seen, heads


async def two_turns(tmp_path, script: Script, **options):
    async with trio.open_nursery() as nursery:
        base_url, seen, heads = await scripted_server(nursery, script)
        async with lean(LoopbackTLS(tmp_path), **options) as (shared, pool):
            llm = OpenAICompatibleLLM(LlmSettings(base_url=base_url, api_key="k"), shared=shared)
            first = await run_collect(llm)
            await trio.sleep(0.1)  # the server's close (if any) reaches us
            second = await run_collect(llm)
        nursery.cancel_scope.cancel()
    return first, second, seen, pool, heads


async def test_a_connection_the_server_closed_while_idle_is_not_used(tmp_path):
    first, second, seen, pool, heads = await two_turns(tmp_path, lambda c, r: "reply-then-close")
    assert first == second and first[0] == TextDelta("Hi")
    head = heads[0]
    assert head["host"].startswith("127.0.0.1:") and head["accept-encoding"] == "identity"
    assert head["authorization"] == "Bearer k" and int(head["content-length"]) > 0
    assert seen == [1, 1] and pool.connections_opened == 2
    assert pool.resent == 0  # seen as closed when taken from the pool, not sent on


async def test_a_request_the_kept_alive_connection_drops_goes_again_on_a_new_one(tmp_path):
    # The server closes the connection on its second request, before any reply (it
    # had timed it out just as we sent): the request goes once more, on a new one.
    first, second, seen, pool, _heads = await two_turns(
        tmp_path, lambda c, r: "close" if (c, r) == (0, 2) else "reply"
    )
    assert first == second
    assert seen == [2, 1] and pool.connections_opened == 2 and pool.resent == 1


async def test_a_reply_saying_connection_close_is_not_kept(tmp_path):
    async with trio.open_nursery() as nursery:
        base_url, seen, _ = await scripted_server(nursery, lambda c, r: "say-close")
        async with lean(LoopbackTLS(tmp_path)) as (shared, pool):
            llm = OpenAICompatibleLLM(LlmSettings(base_url=base_url, api_key="k"), shared=shared)
            first = await run_collect(llm)
            assert pool.idle_connections == 0  # never pooled: the server said it closes
            second = await run_collect(llm)
        nursery.cancel_scope.cancel()
    assert first == second and first[0] == TextDelta("Hi")
    assert seen == [1, 1] and pool.connections_opened == 2 and pool.resent == 0


async def test_idle_connections_expire(tmp_path):
    first, second, seen, pool, _heads = await two_turns(
        tmp_path, lambda c, r: "reply", idle_expiry_s=0.05
    )
    assert first == second and seen == [1, 1] and pool.connections_opened == 2
    assert pool.resent == 0


async def test_a_new_connection_dropped_before_a_reply_is_an_error_not_retried(tmp_path):
    async with trio.open_nursery() as nursery:
        base_url, seen, _ = await scripted_server(nursery, lambda c, r: "close")
        async with lean(LoopbackTLS(tmp_path)) as (shared, pool):
            llm = OpenAICompatibleLLM(LlmSettings(base_url=base_url, api_key="k"), shared=shared)
            with pytest.raises(ProviderError, match="closed the connection") as info:
                await run_collect(llm)
        nursery.cancel_scope.cancel()
    assert info.value.retryable and seen == [1] and pool.connections_opened == 1


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
                kinds.append((shared.lean, shared.pool is not None, shared.client is not None))
                if not proxy:
                    await run_collect(OpenAICompatibleLLM(settings_for(server), shared=shared))
                nursery.cancel_scope.cancel()
            assert shared.pool is None and shared.client is None  # closed with the service
        server.assert_clean()
    assert kinds == [(True, True, False), (False, False, True)]


async def test_a_header_no_request_can_carry_is_one_clear_error(tmp_path):
    async with lean(LoopbackTLS(tmp_path)) as (shared, pool):
        settings = LlmSettings(base_url=refused_base_url(), api_key="key\nwith a newline")
        with pytest.raises(ProviderError, match="cannot make the request") as info:
            await run_collect(OpenAICompatibleLLM(settings, shared=shared))
    assert not info.value.retryable and pool.connections_opened == 0


async def test_a_warmed_connection_serves_the_next_reply_and_two_warmings_open_one(tmp_path):
    async with trio.open_nursery() as nursery:
        base_url, seen, _ = await scripted_server(nursery, lambda c, r: "reply")
        async with lean(LoopbackTLS(tmp_path)) as (shared, pool):
            llm = OpenAICompatibleLLM(LlmSettings(base_url=base_url, api_key="k"), shared=shared)
            assert llm.wants_warming()  # nothing kept yet
            async with trio.open_nursery() as warmers:  # two speech starts at once
                warmers.start_soon(llm.warm)
                warmers.start_soon(llm.warm)
            assert not llm.wants_warming()
            assert (pool.warmed, pool.connections_opened, pool.idle_connections) == (1, 1, 1)
            first = await run_collect(llm)
        nursery.cancel_scope.cancel()
    assert first[0] == TextDelta("Hi") and seen == [1]
    assert pool.connections_opened == 1  # the reply came on the warmed connection


async def test_a_warmed_connection_expires_like_any_idle_one(tmp_path):
    async with trio.open_nursery() as nursery:
        base_url, _seen, _ = await scripted_server(nursery, lambda c, r: "reply")
        async with lean(LoopbackTLS(tmp_path), idle_expiry_s=0.05) as (shared, pool):
            llm = OpenAICompatibleLLM(LlmSettings(base_url=base_url, api_key="k"), shared=shared)
            await llm.warm()
            assert not llm.wants_warming()
            await trio.sleep(0.1)
            assert llm.wants_warming()
            await llm.warm()
        nursery.cancel_scope.cancel()
    assert pool.warmed == 2 and pool.connections_opened == 2


async def test_a_warming_that_cannot_connect_leaves_the_error_to_the_reply(tmp_path):
    async with lean(LoopbackTLS(tmp_path)) as (shared, pool):
        llm = OpenAICompatibleLLM(
            LlmSettings(base_url=refused_base_url(), api_key="k"), shared=shared
        )
        await llm.warm()  # quietly: no call failed yet
        assert llm.wants_warming() and pool.warmed == 0
        with pytest.raises(ProviderConnectError):
            await run_collect(llm)


async def test_a_warming_stuck_in_its_handshake_holds_up_no_reply(tmp_path):
    tls = LoopbackTLS(tmp_path)
    async with trio.open_nursery() as nursery:
        base_url, seen, _ = await scripted_server(
            nursery, lambda c, r: "reply", tls=tls, stall_first=True
        )
        async with lean(tls) as (shared, pool):
            settings = LlmSettings(base_url=base_url, api_key="k", connect_timeout_s=30)
            llm = OpenAICompatibleLLM(settings, shared=shared)
            nursery.start_soon(llm.warm)  # the server never answers its ClientHello
            while not seen:
                await trio.sleep(0.01)
            assert not llm.wants_warming()  # one is on its way: no second warming
            with trio.fail_after(5):  # far inside the warming's connect timeout
                first = await run_collect(llm)
            assert pool.warmed == 0  # the stuck one is still stuck
        nursery.cancel_scope.cancel()
    assert first[0] == TextDelta("Hi") and seen == [0, 1]


async def test_a_client_handed_in_or_a_per_turn_client_is_never_warmed():
    settings = LlmSettings(base_url="https://127.0.0.1:9/v1", api_key="k")
    assert not OpenAICompatibleLLM(settings).wants_warming()
    assert not OpenAICompatibleLLM(settings, shared=SharedClient()).wants_warming()
