"""The OpenAI chat-completions wire as the fake server (``tests.fakes.openai``) speaks it.

Pure (no I/O library): the scripted replies and their faults, the streamed
``chat.completion.chunk`` objects of a reply, and the checks every request must
pass (method, path, ``Authorization``, JSON body shape).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

from agent.base.events import ToolCall, Usage

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
    connected_at: float | None = None  # when its connection was accepted


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


def sse_event(chunk: dict[str, Any]) -> bytes:
    """One server-sent event carrying ``chunk`` as compact JSON."""
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
