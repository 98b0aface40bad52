"""A fake OpenAI-compatible chat server on loopback, wire-faithful enough for the real client.

Real HTTP/1.1 (h11 over ``trio.serve_tcp``-style listeners, chunked transfer
encoding) speaking the documented streaming format: a keep-alive comment, a
role chunk, content split into tokens, tool calls split into fragments (the
first with id and name, then argument pieces), a ``finish_reason`` chunk, usage
(as an extra ``choices: []`` chunk when the request asked for
``stream_options.include_usage``, else in Groq's ``x_groq.usage``) and
``data: [DONE]``.

Every request is checked (method, path, ``Authorization``, JSON body shape);
deviations are recorded in ``violations`` and answered with 400 (401 for a
wrong key), so a test fails loudly. Given a ``provider``, the fake also applies
that back-end's own parameter rules (``openai_rules``: what Groq, OpenAI,
Cerebras, Ollama refuse), answering in the vendor's words. Replies are scripted per request, with
latency (``trio.sleep``, so a MockClock drives it too) and injectable faults.
A watcher notices when the client goes away mid-reply (``disconnects``).

    async with open_fake_openai([ScriptedReply(text="Hi there.")]) as server:
        settings = LlmSettings(provider="openai", base_url=server.base_url,
                               api_key=server.api_key)
"""

from __future__ import annotations

import enum
import json
import re
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import h11
import trio

from agent.base.events import ToolCall, Usage
from tests.fakes.openai_rules import refusal

_DEFAULT_USAGE = Usage(prompt_tokens=12, completion_tokens=5)


class Fault(enum.Enum):
    NONE = "none"
    AUTH = "auth"  # 401 invalid key
    RATE_LIMIT = "rate_limit"  # 429 with retry-after (header and message)
    SERVER_ERROR = "server_error"  # 500 (or ScriptedReply.status)
    CLOSE_MID_STREAM = "close_mid_stream"  # drop the connection without ending the body
    MALFORMED_JSON = "malformed_json"  # a data: line that is not JSON
    MALFORMED_SSE = "malformed_sse"  # bytes that are not UTF-8
    ERROR_EVENT = "error_event"  # an {"error": ...} chunk inside the 200 stream
    STALL = "stall"  # stop sending, keep the connection open
    # Groq's 400 when the sampled tool call is malformed (a retry usually succeeds)
    TOOL_USE_FAILED = "tool_use_failed"


@attrs.frozen
class ScriptedReply:
    """One scripted answer. Mid-stream faults strike after ``fault_after`` chunks."""

    text: str = "Hello there."
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str = ""  # streamed as delta.reasoning first: must never be spoken
    finish_reason: str | None = None  # default: "tool_calls" if any, else "stop"
    usage: Usage | None = _DEFAULT_USAGE
    first_token_delay: float = 0.0
    token_gap: float = 0.0
    fault: Fault = Fault.NONE
    fault_after: int = 1
    retry_after: float | None = 1.0
    status: int | None = None


@attrs.define
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    client_disconnected: bool = False  # went away before the reply ended
    received_at: float | None = None  # the whole request was in
    first_token_at: float | None = None  # the first content chunk left
    disconnected_at: float | None = None


def split_tokens(text: str) -> list[str]:
    """Word-ish tokens with their leading space, like real tokenisers stream them."""
    return re.findall(r"\s*\S+", text) or ([text] if text else [])


def reply_chunks(reply: ScriptedReply, *, model: str, usage_chunk: bool) -> list[dict[str, Any]]:
    """The chat.completion.chunk objects of ``reply``, in order (without ``[DONE]``)."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1767225600,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    first = chunk({"role": "assistant", "content": ""})
    if not usage_chunk:
        first["x_groq"] = {"id": "req_fake"}
    chunks = [first]
    chunks += [chunk({"reasoning": piece}) for piece in split_tokens(reply.reasoning)]
    chunks += [chunk({"content": piece}) for piece in split_tokens(reply.text)]
    for index, call in enumerate(reply.tool_calls):
        head = {"index": index, "id": call.id, "type": "function"}
        chunks.append(
            chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]})
        )
        for start in range(0, len(call.arguments), 7):
            piece = call.arguments[start : start + 7]
            chunks.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            )
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    last = chunk({}, finish)
    chunks.append(last)
    if reply.usage is not None:
        usage = {
            "prompt_tokens": reply.usage.prompt_tokens,
            "completion_tokens": reply.usage.completion_tokens,
            "total_tokens": reply.usage.prompt_tokens + reply.usage.completion_tokens,
        }
        if usage_chunk:
            chunks.append({**chunk({}), "choices": [], "usage": usage})
        else:
            last["x_groq"] = {"id": "req_fake", "usage": {**usage, "queue_time": 0.01}}
    return chunks


_ROLES = {"system", "developer", "user", "assistant", "tool"}
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_chat_request(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    base_path: str,
    api_key: str | None,
    model: str | None,
) -> tuple[list[str], Any]:
    """Problems with a chat-completions request (empty if it is well-formed), and its JSON."""
    problems: list[str] = []
    if method != "POST":
        problems.append(f"method {method}, expected POST")
    if path != f"{base_path}/chat/completions":
        problems.append(f"path {path!r}, expected {base_path + '/chat/completions'!r}")
    if api_key is not None and headers.get("authorization") != f"Bearer {api_key}":
        problems.append("Authorization header is not 'Bearer <the configured key>'")
    if "application/json" not in headers.get("content-type", ""):
        problems.append(f"Content-Type {headers.get('content-type')!r}, expected JSON")
    try:
        data = json.loads(body)
    except ValueError:
        return [*problems, "body is not JSON"], None
    if not isinstance(data, dict):
        return [*problems, "body is not a JSON object"], data
    if not isinstance(data.get("model"), str) or not data["model"]:
        problems.append("'model' missing or not a non-empty string")
    elif model is not None and data["model"] != model:
        problems.append(f"model {data['model']!r}, expected {model!r}")
    if data.get("stream") is not True:
        problems.append("'stream' is not true")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        problems.append("'messages' missing or empty")
    else:
        for i, message in enumerate(messages):
            problems += [f"messages[{i}]: {p}" for p in _message_problems(message)]
    tools = data.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            problems.append("'tools' is not a list")
        else:
            for i, tool in enumerate(tools):
                problems += [f"tools[{i}]: {p}" for p in _tool_problems(tool)]
    options = data.get("stream_options")
    if options is not None and not (
        isinstance(options, dict) and isinstance(options.get("include_usage", False), bool)
    ):
        problems.append("'stream_options' is not {'include_usage': bool}")
    if data.get("n", 1) != 1:
        problems.append("'n' must be 1")
    for key in ("max_tokens", "max_completion_tokens"):
        if key in data and not (isinstance(data[key], int) and data[key] > 0):
            problems.append(f"{key!r} is not a positive integer")
    return problems, data


def _message_problems(message: Any) -> list[str]:
    if not isinstance(message, dict):
        return ["not an object"]
    role = message.get("role")
    if role not in _ROLES:
        return [f"role {role!r} unknown"]
    content = message.get("content")
    if content is not None and not isinstance(content, (str, list)):
        return ["content is neither a string nor null"]
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        return ["tool message without tool_call_id"]
    if role in ("system", "user") and not content:
        return [f"{role} message without content"]
    problems = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not (
            isinstance(function, dict)
            and call.get("type") == "function"
            and isinstance(call.get("id"), str)
            and isinstance(function.get("name"), str)
            and isinstance(function.get("arguments"), str)
        ):
            problems.append(f"malformed tool_calls entry {call!r}")
    return problems


def _tool_problems(tool: Any) -> list[str]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or tool.get("type") != "function":
        return ["not {'type': 'function', 'function': {...}}"]
    problems = []
    if not isinstance(function.get("name"), str) or not _TOOL_NAME.match(function["name"]):
        problems.append(f"function name {function.get('name')!r} invalid")
    parameters = function.get("parameters", {"type": "object"})
    if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
        problems.append("parameters is not a JSON schema object")
    return problems


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
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        if self.ssl_context is not None:
            listeners = [trio.SSLListener(ln, self.ssl_context) for ln in listeners]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle_connection, listeners)
            task_status.started(self.base_url)

    async def _handle_connection(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(conn, stream)
                if request is None:
                    return
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
                    received_at=trio.current_time(),
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
        await send(_sse(chunks[0]))
        for sent, chunk in enumerate(chunks[1:]):
            if sent == reply.fault_after and reply.fault is not Fault.NONE:
                return await self._strike(reply.fault, send)
            if sent:
                await trio.sleep(reply.token_gap)
            await send(_sse(chunk))
            if request.first_token_at is None:
                request.first_token_at = trio.current_time()
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
            await send(_sse({"error": error}))
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


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


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
