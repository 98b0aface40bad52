"""OpenAI-compatible chat completions: the wire format (pure).

Everything here is sans-IO: build the request, turn the streamed body into
``LlmEvent`` values (``ChatStreamParser``), and turn an HTTP error reply into the
right ``ProviderError``. ``openai_compat`` does the HTTP under Trio.

The presets (``openai_presets``) carry each back-end's quirks (which output-cap
field it takes, whether it honours ``stream_options`` and ``tool_choice``) and a
capability table per model (reasoning or not, ``temperature``,
``parallel_tool_calls``, the reasoning options); here they shape the request, and
keep reasoning models fast and their hidden thinking out of the spoken reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import attrs

from agent.base.errors import (
    LocalProtocolError,
    ProviderError,
    ProviderStatusError,
    RemoteProtocolError,
)
from agent.base.events import Finish, LlmEvent, Message, TextDelta, ToolCall, ToolSpec, Usage
from agent.base.jsontext import compact_json
from agent.providers.llm.openai_settings import LlmSettings
from agent.wire.sse import SseDecoder

DONE = "[DONE]"


# --- request ------------------------------------------------------------------


def chat_url(settings: LlmSettings) -> str:
    return f"{settings.base_url}/chat/completions"


def request_headers(settings: LlmSettings) -> dict[str, str]:
    headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    return headers


def reasoning_options(settings: LlmSettings) -> dict[str, Any]:
    """Fields that keep a reasoning model quick and its thinking out of ``content``:
    the capability table's options ("auto"), nothing ("omit"), or the level given."""
    effort = settings.reasoning_effort
    if not settings.preset.reasoning_effort or effort == "omit":
        return {}
    if effort != "auto":
        return {"reasoning_effort": effort}
    return dict(settings.caps.reasoning_options)


def build_request_body(
    settings: LlmSettings, messages: Sequence[Message], tools: Sequence[ToolSpec]
) -> dict[str, Any]:
    if not messages:
        raise LocalProtocolError("a chat request needs at least one message")
    body: dict[str, Any] = {
        "model": settings.model,
        "messages": [message.to_openai() for message in messages],
        "stream": True,
    }
    if tools:
        body["tools"] = [tool.to_openai() for tool in tools]
    body.update(_request_options(settings, bool(tools)))
    return body


def encode_request_body(
    settings: LlmSettings, messages: Sequence[Message], tools: Sequence[ToolSpec]
) -> bytes:
    """``build_request_body`` as compact JSON (UTF-8), from each message's and tool's
    own JSON, which they keep (``openai_json``): the system prompt, the tools and
    the history are 9 of a request's 10 KB and repeat on every turn of a call, so
    only what is new is encoded on the reply's critical path."""
    if not messages:
        raise LocalProtocolError("a chat request needs at least one message")
    parts = [
        '{"model":',
        compact_json(settings.model),
        ',"messages":[',
        ",".join([message.openai_json for message in messages]),
        '],"stream":true',
    ]
    if tools:
        parts += [',"tools":[', ",".join([tool.openai_json for tool in tools]), "]"]
    for key, value in _request_options(settings, bool(tools)).items():
        parts += [",", compact_json(key), ":", compact_json(value)]
    parts.append("}")
    return "".join(parts).encode()


def _request_options(settings: LlmSettings, with_tools: bool) -> dict[str, Any]:
    """The request's fields after the messages, the stream flag and the tools."""
    preset, caps = settings.preset, settings.caps
    options: dict[str, Any] = {}
    if with_tools:
        if preset.tool_choice:
            options["tool_choice"] = "auto"
        if caps.parallel_tool_calls:
            options["parallel_tool_calls"] = False  # one action at a time on a phone call
    if preset.stream_usage:
        options["stream_options"] = {"include_usage": True}
    if caps.temperature:
        options["temperature"] = settings.temperature
    options[preset.token_limit_field] = settings.max_tokens
    options.update(reasoning_options(settings))
    return options


# --- errors -------------------------------------------------------------------

_RETRYABLE_STATUS = frozenset({408, 409, 422, 424, 425, 429, 498})
# Groq's 400 when the model's tool call came out malformed ("Failed to call a
# function. Please adjust your prompt."): a sampling failure, not a bad request,
# which one more try usually fixes (groq/groq-typescript#28, pipecat-ai/pipecat#1168).
SAMPLING_FAILED = "tool_use_failed"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_TRY_AGAIN = re.compile(r"try again in ((?:\d+(?:\.\d+)?(?:ms|us|µs|ns|h|m|s))+)", re.I)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """A Go-style duration ("7.66s", "6m0s", "120ms") in seconds, or None."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def parse_retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date).

    ``now`` is the wall-clock time (epoch seconds), needed only for a date.
    """
    lower = {key.lower(): value.strip() for key, value in headers.items()}
    if raw := lower.get("retry-after-ms"):
        try:
            if (ms := float(raw)) > 0:
                return ms / 1000.0
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - now)
    except (TypeError, ValueError, OverflowError):
        return None


def _error_fields(payload: Any) -> tuple[str, str, str]:
    """(message, type, code) from an OpenAI-style ``{"error": ...}`` value."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if error is None and isinstance(payload, dict) and "message" in payload:
        error = payload  # an ``event: error`` whose data is the error object itself
    if isinstance(error, dict):
        return (str(error.get("message") or ""), str(error.get("type") or ""),
                str(error.get("code") or ""))  # fmt: skip
    if isinstance(error, str):
        return error, "", ""
    return "", "", ""


def status_error(
    provider: str, status: int, headers: Mapping[str, str], body: bytes, *, now: float
) -> ProviderStatusError:
    """The ``ProviderStatusError`` for a non-200 reply (retryable for 408/429/5xx...)."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    message, kind, code = _error_fields(payload)
    if not message:
        message = body.decode("utf-8", "replace").strip()
    retryable = status in _RETRYABLE_STATUS or status >= 500
    if "insufficient_quota" in (kind, code):
        retryable = False  # OpenAI's 429 for an empty account: waiting never helps
    should_retry = {k.lower(): v for k, v in headers.items()}.get("x-should-retry", "").lower()
    if should_retry in ("true", "false"):
        retryable = should_retry == "true"
    retry_after = parse_retry_after(headers, now=now)
    if retry_after is None and (hint := _TRY_AGAIN.search(message)):
        retry_after = parse_duration(hint.group(1))
    if code == SAMPLING_FAILED:
        retryable, retry_after = True, 0.0  # a bad sample: the same request again, at once
    return ProviderStatusError(
        provider,
        f"HTTP {status}: {message[:300] or 'no details'}",
        status=status,
        retryable=retryable,
        retry_after=retry_after,
    )


def stream_error(provider: str, payload: Any) -> ProviderError:
    """An error reported inside a 200 stream (``{"error": ...}``, Cerebras ``status_code``)."""
    message, kind, code = _error_fields(payload)
    status = payload.get("status_code") if isinstance(payload, dict) else None
    text = f"error in stream: {message[:300] or 'no details'}"
    if code == SAMPLING_FAILED:
        return ProviderError(provider, text, retryable=True, retry_after=0.0)
    if isinstance(status, int) and not isinstance(status, bool):
        retryable = status in _RETRYABLE_STATUS or status >= 500
        return ProviderStatusError(provider, text, status=status, retryable=retryable)
    return ProviderError(provider, text, retryable=kind != "invalid_request_error")


# --- response stream ------------------------------------------------------------


def parse_usage(raw: Mapping[str, Any]) -> Usage:
    """Usage from ``usage`` or Groq's ``x_groq.usage``; other figures go to ``extra``."""
    extra: list[tuple[str, Any]] = []
    for key, value in raw.items():
        if key in ("prompt_tokens", "completion_tokens"):
            continue
        if isinstance(value, dict):
            extra.extend((f"{key}.{k}", v) for k, v in value.items() if _is_scalar(v))
        elif _is_scalar(value):
            extra.append((key, value))
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
        extra=tuple(sorted(extra)),
    )


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


@attrs.define
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = attrs.Factory(list)


class ChatStreamParser:
    """Turns a streamed chat-completions body into ``LlmEvent`` values.

    ``feed`` returns ``TextDelta`` per content fragment and each ``ToolCall`` once
    the model finished it; at ``[DONE]`` (or at end of body after a
    ``finish_reason``) come ``Usage`` (if reported) and ``Finish``. Reasoning
    deltas are dropped: they must never be spoken. Any problem raises
    ``ProviderError``.
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.done = False  # the reply is complete; the caller may stop reading
        self._sse = SseDecoder()
        self._calls: dict[int, _PartialCall] = {}
        self._calls_sent = False
        self._finish_reason: str | None = None
        self._usage: Usage | None = None

    def feed(self, data: bytes | str) -> list[LlmEvent]:
        try:
            events = self._sse.feed(data)
        except RemoteProtocolError as exc:
            raise ProviderError(self.provider, f"malformed event stream: {exc}") from exc
        out: list[LlmEvent] = []
        for event in events:
            if self.done:
                break
            if event.data == DONE:
                self._finish(out)
            else:
                self._handle_chunk(event.event, event.data, out)
        return out

    def feed_eof(self) -> list[LlmEvent]:
        """The body ended. Without a ``finish_reason`` the reply is incomplete: an error."""
        if self.done:
            return []
        try:
            self._sse.feed_eof()
        except RemoteProtocolError as exc:
            raise ProviderError(self.provider, f"malformed event stream: {exc}") from exc
        if self._finish_reason is None:
            raise ProviderError(
                self.provider, "stream ended before the reply finished", retryable=True
            )
        out: list[LlmEvent] = []
        self._finish(out)
        return out

    def _handle_chunk(self, event_type: str, data: str, out: list[LlmEvent]) -> None:
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise ProviderError(self.provider, f"malformed JSON chunk {data[:80]!r}") from exc
        if not isinstance(chunk, dict):
            raise ProviderError(self.provider, f"chunk is not a JSON object: {data[:80]!r}")
        if event_type == "error" or chunk.get("error"):
            raise stream_error(self.provider, chunk)
        x_groq = chunk.get("x_groq")
        if isinstance(x_groq, dict):
            if x_groq.get("error"):
                raise stream_error(self.provider, {"error": x_groq["error"]})
            if isinstance(x_groq.get("usage"), dict):
                self._usage = parse_usage(x_groq["usage"])
        if isinstance(chunk.get("usage"), dict):
            self._usage = parse_usage(chunk["usage"])
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise ProviderError(self.provider, f"'choices' is not a list: {data[:80]!r}")
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise ProviderError(self.provider, f"'delta' is not an object: {data[:80]!r}")
            # delta.reasoning / reasoning_content are hidden thinking: never forwarded.
            for key in ("content", "refusal"):
                if isinstance(text := delta.get(key), str) and text:
                    out.append(TextDelta(text))
            if delta.get("tool_calls"):
                self._add_tool_fragments(delta["tool_calls"])
            if choice.get("finish_reason"):
                self._finish_reason = str(choice["finish_reason"])
                self._send_tool_calls(out)

    def _add_tool_fragments(self, fragments: Any) -> None:
        if not isinstance(fragments, list):
            raise ProviderError(self.provider, "'tool_calls' delta is not a list")
        for fragment in fragments:
            if not isinstance(fragment, dict):
                raise ProviderError(self.provider, "tool call fragment is not an object")
            index = fragment.get("index")
            if not isinstance(index, int):
                # Some servers send whole calls without an index: one entry per new id.
                same = [i for i, c in self._calls.items() if c.id and c.id == fragment.get("id")]
                index = same[0] if same else len(self._calls)
            call = self._calls.setdefault(index, _PartialCall())
            function = fragment.get("function") or {}
            if fragment.get("id"):
                call.id = str(fragment["id"])
            if function.get("name"):
                call.name = str(function["name"])
            if isinstance(arguments := function.get("arguments"), str):
                call.arguments.append(arguments)

    def _send_tool_calls(self, out: list[LlmEvent]) -> None:
        if self._calls_sent:
            return
        self._calls_sent = True
        for index in sorted(self._calls):
            call = self._calls[index]
            if not call.name:
                raise ProviderError(self.provider, f"tool call #{index} has no function name")
            arguments = "".join(call.arguments) or "{}"
            out.append(ToolCall(id=call.id or f"call_{index}", name=call.name, arguments=arguments))

    def _finish(self, out: list[LlmEvent]) -> None:
        self.done = True
        self._send_tool_calls(out)
        if self._usage is not None:
            out.append(self._usage)
        out.append(Finish(self._finish_reason or "stop"))
