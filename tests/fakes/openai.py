"""A fake OpenAI-compatible chat server on loopback, wire-faithful enough for the real client.

Real HTTP/1.1 (h11 over ``trio.serve_tcp``-style listeners, chunked transfer
encoding) speaking the documented streaming format: a keep-alive comment, a
role chunk, content split into tokens, tool calls split into fragments (the
first with id and name, then argument pieces), a ``finish_reason`` chunk, usage
(as an extra ``choices: []`` chunk when the request asked for
``stream_options.include_usage``, else in Groq's ``x_groq.usage``) and
``data: [DONE]``.

Every request is checked (method, path, ``Authorization``, JSON body shape:
``openai_wire``, which also builds the chunks of each scripted reply); deviations
are recorded in ``violations`` and answered with 400 (401 for a wrong key), so a
test fails loudly. Given a ``provider``, the fake also applies that back-end's own
parameter rules (``openai_rules``: what Groq, OpenAI, Cerebras, Ollama refuse),
answering in the vendor's words. Replies are scripted per request, with latency
(``trio.sleep``, so a MockClock drives it too) and injectable faults. A watcher
notices when the client goes away mid-reply (``disconnects``).

    async with open_fake_openai([ScriptedReply(text="Hi there.")]) as server:
        settings = LlmSettings(provider="openai", base_url=server.base_url,
                               api_key=server.api_key)
"""

from __future__ import annotations

import json
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import h11
import trio

from tests.fakes.openai_rules import refusal
from tests.fakes.openai_wire import (
    Fault,
    RecordedRequest,
    ScriptedReply,
    check_chat_request,
    reply_chunks,
    sse_event,
)
from tests.fakes.wiretime import arrival, open_stamped_listener, send_stamped, wire_of

# The scripted replies are re-exported: tests script and run the fake from here.
__all__ = [
    "FakeOpenAIServer",
    "Fault",
    "RecordedRequest",
    "ScriptedReply",
    "open_fake_openai",
    "refused_base_url",
]


def refused_base_url(base_path: str = "/v1") -> str:
    """A loopback URL where nothing listens (the port was just free)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{base_path}"


class FakeOpenAIServer:
    """Scripted OpenAI-compatible server. Replies are used in order, then ``default_reply``.

    ``reply_for``, when given, is asked first with each request's JSON body and may
    pick the reply from what the request says (``None``: use the queue as usual).
    """

    def __init__(
        self,
        replies: Sequence[ScriptedReply] = (),
        *,
        api_key: str | None = "test-key",
        base_path: str = "/v1",
        model: str | None = None,
        default_reply: ScriptedReply | None = None,
        reply_for: Callable[[Any], ScriptedReply | None] | None = None,
        provider: str | None = None,
    ) -> None:
        self.provider = provider
        self.api_key = api_key
        self.base_path = base_path
        self.model = model
        self.default_reply = default_reply or ScriptedReply()
        self.reply_for = reply_for
        self.replies = deque(replies)
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.disconnects = 0
        self.connections = 0
        self.port = 0
        self.ssl_context: ssl.SSLContext | None = None  # serve https:// when set
        self._disconnected: trio.Event | None = None

    @property
    def base_url(self) -> str:
        scheme = "http" if self.ssl_context is None else "https"
        return f"{scheme}://127.0.0.1:{self.port}{self.base_path}"

    def assert_clean(self) -> None:
        if self.violations:
            raise AssertionError(
                "fake OpenAI server saw bad requests:\n" + "\n".join(self.violations)
            )

    async def wait_for_disconnect(self) -> None:
        """Return once some client has gone away in the middle of a reply."""
        assert self._disconnected is not None, "serve() is not running"
        await self._disconnected.wait()

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        self._disconnected = trio.Event()
        # Stamped at the socket (``wiretime``): a request arrives when its last
        # bytes were read, a token leaves when its first bytes were written.
        listener = await open_stamped_listener(self.ssl_context)
        self.port = listener.port
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle_connection, [listener])
            task_status.started(self.base_url)

    async def _handle_connection(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        connected_at = trio.current_time()
        try:
            while True:
                request = await self._read_request(conn, stream)
                if request is None:
                    return
                request.connected_at = connected_at
                await self._respond(conn, stream, request)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await trio.aclose_forcefully(stream)

    async def _read_request(self, conn: h11.Connection, stream: trio.SocketStream):
        head, body = None, bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                headers = {k.decode().lower(): v.decode() for k, v in head.headers}
                return RecordedRequest(
                    head.method.decode(),
                    head.target.decode(),
                    headers,
                    bytes(body),
                    received_at=arrival(wire_of(stream))[0],
                )
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _respond(
        self, conn: h11.Connection, stream: trio.SocketStream, request: RecordedRequest
    ) -> None:
        problems, request.body = check_chat_request(
            request.method,
            request.path,
            request.headers,
            request.body,
            base_path=self.base_path,
            api_key=self.api_key,
            model=self.model,
        )
        self.requests.append(request)
        if problems:
            self.violations += problems
            status = 401 if any("Authorization" in p for p in problems) else 400
            return await _send_json(
                conn, stream, status, "; ".join(problems), "invalid_request_error"
            )
        refused = refusal(self.provider, request.body)
        if refused is not None:
            self.violations.append(f"{self.provider} refuses: {refused.message}")
            kind = "invalid_request_error"
            return await _send_json(
                conn, stream, refused.status, refused.message, kind, refused.code
            )
        reply = self.reply_for(request.body) if self.reply_for is not None else None
        if reply is None:
            reply = self.replies.popleft() if self.replies else self.default_reply
        if reply.fault is Fault.AUTH:
            return await _send_json(
                conn, stream, 401, "Invalid API Key", "invalid_request_error", "invalid_api_key"
            )
        if reply.fault is Fault.RATE_LIMIT:
            extra = [] if reply.retry_after is None else [("retry-after", f"{reply.retry_after:g}")]
            message = "Rate limit reached for model. Please try again in "
            message += f"{reply.retry_after or 1:g}s."
            return await _send_json(
                conn, stream, 429, message, "tokens", "rate_limit_exceeded", extra
            )
        if reply.fault is Fault.TOOL_USE_FAILED:
            message = (
                "Failed to call a function. Please adjust your prompt."
                " See 'failed_generation' for more details."
            )
            extra_fields = {"failed_generation": '{"name": "check_slots", "arguments": {'}
            return await _send_json(
                conn,
                stream,
                400,
                message,
                "invalid_request_error",
                "tool_use_failed",
                fields=extra_fields,
            )
        if reply.fault is Fault.SERVER_ERROR:
            return await _send_json(
                conn, stream, reply.status or 500, "Internal server error", "internal_server_error"
            )
        options = request.body.get("stream_options") or {}
        chunks = reply_chunks(
            reply, model=request.body["model"], usage_chunk=bool(options.get("include_usage"))
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                self._watch_for_disconnect, conn, stream, request, nursery.cancel_scope
            )
            try:
                await self._stream(conn, stream, reply, chunks, request)
            except trio.BrokenResourceError:
                self._mark_disconnected(request)
            nursery.cancel_scope.cancel()

    async def _stream(
        self,
        conn,
        stream,
        reply: ScriptedReply,
        chunks: list[dict[str, Any]],
        request: RecordedRequest,
    ) -> None:
        async def send(data: bytes) -> None:
            await stream.send_all(conn.send(h11.Data(data=data)))

        await stream.send_all(
            conn.send(
                h11.Response(
                    status_code=200,
                    headers=[
                        ("content-type", "text/event-stream; charset=utf-8"),
                        ("cache-control", "no-cache"),
                        ("transfer-encoding", "chunked"),
                    ],
                )
            )
        )
        await send(b": keep-alive\n\n")
        await trio.sleep(reply.first_token_delay)
        await send(sse_event(chunks[0]))
        for sent, chunk in enumerate(chunks[1:]):
            if sent == reply.fault_after and reply.fault is not Fault.NONE:
                return await self._strike(reply.fault, send)
            if sent:
                await trio.sleep(reply.token_gap)
            if request.first_token_at is None:  # as it reaches the socket (``wiretime``)
                request.first_token_at, _ = await send_stamped(
                    partial(send, sse_event(chunk)), wire_of(stream)
                )
            else:
                await send(sse_event(chunk))
        await send(b"data: [DONE]\n\n")
        await stream.send_all(conn.send(h11.EndOfMessage()))

    async def _strike(self, fault: Fault, send) -> None:
        """Inject a mid-stream fault; the connection is then closed without ending the body."""
        if fault is Fault.MALFORMED_JSON:
            await send(b'data: {"id": "chatcmpl-fake", "choices": [\n\n')
        elif fault is Fault.MALFORMED_SSE:
            await send(b"data: \xff\xfe not utf-8\n\n")
        elif fault is Fault.ERROR_EVENT:
            error = {
                "message": "The server had an error processing your request",
                "type": "server_error",
            }
            await send(sse_event({"error": error}))
        elif fault is Fault.STALL:
            await trio.sleep_forever()  # until the client gives up (the watcher cancels us)

    async def _watch_for_disconnect(
        self, conn, stream, request: RecordedRequest, scope: trio.CancelScope
    ) -> None:
        while True:
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
            if not data:
                self._mark_disconnected(request)
                scope.cancel()
                return
            conn.receive_data(data)  # a pipelined next request: h11 keeps it for later

    def _mark_disconnected(self, request: RecordedRequest) -> None:
        if not request.client_disconnected:
            request.client_disconnected = True
            request.disconnected_at = trio.current_time()
            self.disconnects += 1
            assert self._disconnected is not None
            self._disconnected.set()


async def _send_json(
    conn: h11.Connection,
    stream: trio.SocketStream,
    status: int,
    message: str,
    kind: str,
    code: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
    fields: Mapping[str, Any] | None = None,
) -> None:
    error = {"message": message, "type": kind, "param": None, "code": code, **(fields or {})}
    body = json.dumps({"error": error}).encode()
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        *extra_headers,
    ]
    await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)))
    await stream.send_all(conn.send(h11.Data(data=body)))
    await stream.send_all(conn.send(h11.EndOfMessage()))


@asynccontextmanager
async def open_fake_openai(
    replies: Sequence[ScriptedReply] = (), **options: Any
) -> AsyncIterator[FakeOpenAIServer]:
    """Run a ``FakeOpenAIServer`` on a free loopback port for the ``async with`` body."""
    server = FakeOpenAIServer(replies, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        yield server
        nursery.cancel_scope.cancel()
