"""Pure wire functions of the OpenAI-compatible client, on chunk shapes from the providers
(its settings and presets: test_openai_settings.py)."""

from __future__ import annotations

import json

import pytest

from agent.base.errors import (
    LocalProtocolError,
    ProviderError,
    ProviderStatusError,
)
from agent.base.events import Finish, Message, TextDelta, ToolCall, ToolSpec, Usage
from agent.providers.llm.openai_presets import PRESETS
from agent.providers.llm.openai_settings import LlmSettings
from agent.providers.llm.openai_wire import (
    ChatStreamParser,
    build_request_body,
    encode_request_body,
    parse_duration,
    parse_retry_after,
    parse_usage,
    status_error,
    stream_error,
)

TOOL = ToolSpec(
    "check_slots",
    "List free appointment slots",
    {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]},
)
MESSAGES = [
    Message("system", "You are a receptionist for Acme Plumbing."),
    Message("user", "Can someone come tomorrow?"),
    Message(
        "assistant", None, tool_calls=(ToolCall("call_1", "check_slots", '{"day":"tomorrow"}'),)
    ),
    Message("tool", '{"slots":["09:00","14:00"]}', tool_call_id="call_1"),
]


def sse(*chunks: dict | str) -> bytes:
    parts = [c if isinstance(c, str) else json.dumps(c) for c in chunks]
    return b"".join(f"data: {part}\n\n".encode() for part in parts)


def chunk(delta: dict | None = None, finish: str | None = None, **extra) -> dict:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return {"id": "chatcmpl-abc", "object": "chat.completion.chunk", "choices": [choice], **extra}


def parse_all(data: bytes, *, piece: int | None = None) -> list:
    parser = ChatStreamParser("groq")
    events = []
    step = piece or len(data) or 1
    for start in range(0, len(data), step):
        events += parser.feed(data[start : start + step])
    return events + parser.feed_eof()


# --- request body ----------------------------------------------------------------


def test_groq_body_with_tools_and_hidden_reasoning():
    body = build_request_body(LlmSettings(api_key="k"), MESSAGES, [TOOL])
    assert body["model"] == "openai/gpt-oss-20b"
    assert body["stream"] is True
    assert body["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"day":"tomorrow"}'
    assert body["messages"][3] == {
        "role": "tool",
        "content": '{"slots":["09:00","14:00"]}',
        "tool_call_id": "call_1",
    }
    assert body["tools"] == [TOOL.to_openai()]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("auto", False)
    assert body["max_completion_tokens"] == 512 and "max_tokens" not in body
    assert (body["reasoning_effort"], body["include_reasoning"]) == ("low", False)
    assert "stream_options" not in body  # Groq reports usage in x_groq
    assert body["temperature"] == 0.3


def test_ollama_body_uses_max_tokens_and_no_tool_choice():
    body = build_request_body(LlmSettings(provider="ollama", model="qwen3:8b"), MESSAGES, [TOOL])
    assert body["max_tokens"] == 512 and "max_completion_tokens" not in body
    assert "tool_choice" not in body and "parallel_tool_calls" not in body
    assert body["stream_options"] == {"include_usage": True}
    assert "reasoning_format" not in body


def test_no_tools_means_no_tool_fields():
    body = build_request_body(LlmSettings(provider="cerebras", api_key="k"), MESSAGES[:2], [])
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & body.keys()
    assert body["reasoning_effort"] == "low" and "include_reasoning" not in body


def test_reasoning_options_come_from_the_capability_table():
    qwen = LlmSettings(model="qwen/qwen3-32b", api_key="k")
    assert build_request_body(qwen, MESSAGES, [])["reasoning_format"] == "hidden"
    luna = LlmSettings(provider="openai", api_key="k")  # the default: gpt-6-luna
    body = build_request_body(luna, MESSAGES, [TOOL])
    assert body["reasoning_effort"] == "none" and "temperature" not in body
    assert "parallel_tool_calls" not in body
    omitted = LlmSettings(api_key="k", reasoning_effort="omit")
    assert "reasoning_effort" not in build_request_body(omitted, MESSAGES, [])
    chosen = LlmSettings(api_key="k", reasoning_effort="high")
    assert build_request_body(chosen, MESSAGES, [])["reasoning_effort"] == "high"
    llamacpp = LlmSettings(provider="llamacpp", model="gpt-oss-20b")
    assert "reasoning_effort" not in build_request_body(llamacpp, MESSAGES, [])
    ollama = LlmSettings(provider="ollama", model="gpt-oss:20b")  # an Ollama tag
    assert build_request_body(ollama, MESSAGES, [])["reasoning_effort"] == "low"


def test_empty_conversation_is_refused():
    with pytest.raises(LocalProtocolError, match="at least one message"):
        build_request_body(LlmSettings(api_key="k"), [], [])
    with pytest.raises(LocalProtocolError, match="at least one message"):
        encode_request_body(LlmSettings(api_key="k"), [], [])


@pytest.mark.parametrize("provider", sorted(PRESETS))
@pytest.mark.parametrize("tools", [[], [TOOL]])
def test_the_encoded_body_is_the_body_as_compact_json(provider, tools):
    settings = LlmSettings(provider=provider, model=PRESETS[provider].model or "m1", api_key="k")
    spoken = [*MESSAGES, Message("assistant", "Café at 9? £80 — “fine”.\nOK")]
    encoded = encode_request_body(settings, spoken, tools)
    compact = json.dumps(
        build_request_body(settings, spoken, tools), ensure_ascii=False, separators=(",", ":")
    )
    assert encoded == compact.encode()
    assert "£80" in encoded.decode()  # UTF-8, not \u escapes: a third fewer bytes


def test_each_message_and_tool_is_encoded_once_however_many_requests(monkeypatch):
    converted: list[object] = []
    for kind in (Message, ToolSpec):
        to_openai = kind.to_openai

        def counting(self, to_openai=to_openai):
            converted.append(self)
            return to_openai(self)

        monkeypatch.setattr(kind, "to_openai", counting)
    history = [Message(m.role, m.content, m.tool_calls, m.tool_call_id) for m in MESSAGES]
    tool = ToolSpec(TOOL.name, TOOL.description, TOOL.parameters)
    settings = LlmSettings(api_key="k")
    first = encode_request_body(settings, history, [tool])
    history.append(Message("user", "Nine is fine."))
    second = encode_request_body(settings, history, [tool])
    # The second request encoded only the message that is new since the first.
    assert converted == [*history[:-1], tool, history[-1]]
    assert second.startswith(first[: first.index(b"]")])


# --- stream parsing ------------------------------------------------------------------

REFERENCE_STREAM = sse(
    chunk({"role": "assistant", "content": ""}, x_groq={"id": "req_01"}),
    chunk({"content": "Sure, "}),
    chunk({"content": "tomorrow works."}),
    chunk(
        {},
        "stop",
        x_groq={
            "id": "req_01",
            "usage": {
                "prompt_tokens": 812,
                "completion_tokens": 41,
                "total_tokens": 853,
                "queue_time": 0.01,
            },
        },
    ),
    "[DONE]",
)


def test_reference_stream_with_groq_usage():
    expected = [
        TextDelta("Sure, "),
        TextDelta("tomorrow works."),
        Usage(812, 41, extra=(("queue_time", 0.01), ("total_tokens", 853))),
        Finish("stop"),
    ]
    assert parse_all(REFERENCE_STREAM) == expected
    assert parse_all(REFERENCE_STREAM, piece=1) == expected


def test_usage_chunk_with_empty_choices():
    data = sse(
        chunk({"content": "Hi"}),
        chunk({}, "length"),
        {"id": "x", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
        "[DONE]",
    )
    assert parse_all(data) == [TextDelta("Hi"), Usage(3, 1), Finish("length")]


def test_parallel_tool_calls_interleaved_with_content():
    data = sse(
        chunk({"content": "One moment."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                               "function": {"name": "check_slots", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                               "function": {"name": "quote", "arguments": '{"jo'}}]}),
        chunk({"tool_calls": [{"index": 0, "id": None, "function": {"arguments": '{"day":'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"name": None, "arguments": 'b":"tap"}'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"mon"}'}}]}),
        chunk({}, "tool_calls"),
        "[DONE]",
    )  # fmt: skip
    assert parse_all(data, piece=5) == [
        TextDelta("One moment."),
        ToolCall("call_a", "check_slots", '{"day":"mon"}'),
        ToolCall("call_b", "quote", '{"job":"tap"}'),
        Finish("tool_calls"),
    ]


def test_tool_calls_are_sent_at_finish_reason_before_usage():
    parser = ChatStreamParser("groq")
    whole = {"id": "c1", "type": "function", "function": {"name": "hang_up", "arguments": ""}}
    assert parser.feed(sse(chunk({"tool_calls": [{"index": 0, **whole}]}))) == []
    assert parser.feed(sse(chunk({}, "tool_calls"))) == [ToolCall("c1", "hang_up", "{}")]
    assert parser.feed(sse("[DONE]")) == [Finish("tool_calls")]
    assert parser.done


def test_tool_calls_without_index_or_id():
    call = {"type": "function", "function": {"name": "book", "arguments": '{"a":1}'}}
    data = sse(chunk({"tool_calls": [call]}), chunk({"tool_calls": [{**call, "id": "x"}]}))
    assert parse_all(data + sse(chunk({}, "tool_calls"))) == [
        ToolCall("call_0", "book", '{"a":1}'),
        ToolCall("x", "book", '{"a":1}'),
        Finish("tool_calls"),
    ]


def test_tool_call_without_name_is_an_error():
    data = sse(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}))
    with pytest.raises(ProviderError, match="no function name"):
        parse_all(data + sse(chunk({}, "tool_calls")))


def test_reasoning_is_never_forwarded():
    data = sse(
        chunk({"reasoning": "The user wants"}),
        chunk({"reasoning_content": " a plumber."}),
        chunk({"content": "Yes.", "reasoning": None}),
        chunk({}, "stop"),
        "[DONE]",
    )
    assert parse_all(data) == [TextDelta("Yes."), Finish("stop")]


def test_comments_event_lines_and_null_content_are_ignored():
    data = b": keep-alive\n\nevent: message\n" + sse(chunk({"content": None}))
    data += sse(chunk({"content": "ok"}, "stop"), "[DONE]")
    assert parse_all(data) == [TextDelta("ok"), Finish("stop")]


def test_refusal_is_spoken():
    data = sse(chunk({"refusal": "I can't help with that."}, "stop"), "[DONE]")
    assert parse_all(data) == [TextDelta("I can't help with that."), Finish("stop")]


def test_done_without_finish_reason_and_anything_after_done():
    parser = ChatStreamParser("groq")
    events = parser.feed(sse(chunk({"content": "a"}), "[DONE]", chunk({"content": "late"})))
    assert events == [TextDelta("a"), Finish("stop")]
    assert parser.feed(b"data: more\n\n") == []
    assert parser.feed_eof() == []


def test_end_of_body_after_finish_reason_but_without_done():
    data = sse(chunk({"content": "a"}, "stop")) + b"data: [DO"
    assert parse_all(data) == [TextDelta("a"), Finish("stop")]


def test_end_of_body_before_finish_reason_is_retryable():
    with pytest.raises(ProviderError, match="before the reply finished") as info:
        parse_all(sse(chunk({"content": "a"})))
    assert info.value.retryable


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b'data: {"choices": [\n\n', "malformed JSON"),
        (b"data: \xff\n\n", "malformed event stream"),
        (b"data: [1, 2]\n\n", "not a JSON object"),
        (b'data: {"choices": {"index": 0}}\n\n', "'choices' is not a list"),
        (b'data: {"choices": [{"index": 0, "delta": "x"}]}\n\n', "'delta'"),
        (b'data: {"choices": [{"delta": {"tool_calls": {"index": 0}}}]}\n\n', "not a list"),
    ],
)
def test_malformed_streams_are_provider_errors(data, match):
    with pytest.raises(ProviderError, match=match) as info:
        ChatStreamParser("groq").feed(data)
    assert not info.value.retryable
    assert type(info.value) is ProviderError


def test_error_inside_the_stream():
    error = {"error": {"message": "overloaded", "type": "server_error"}}
    with pytest.raises(ProviderError, match="overloaded") as info:
        ChatStreamParser("groq").feed(sse(chunk({"content": "a"}), error))
    assert info.value.retryable
    with pytest.raises(ProviderError, match="stopped"):
        ChatStreamParser("groq").feed(sse(chunk({}, x_groq={"error": "stopped"})))
    with pytest.raises(ProviderError, match="bad"):
        ChatStreamParser("groq").feed(b'event: error\ndata: {"message": "bad"}\n\n')


def test_cerebras_error_chunk_with_status_code():
    err = stream_error("cerebras", {"error": {"message": "slow down"}, "status_code": 429})
    assert isinstance(err, ProviderStatusError)
    assert (err.status, err.retryable) == (429, True)
    err = stream_error("cerebras", {"error": {"message": "no"}, "status_code": 400})
    assert (err.status, err.retryable) == (400, False)
    err = stream_error("groq", {"error": {"message": "no", "type": "invalid_request_error"}})
    assert not err.retryable


def test_parse_usage_flattens_details():
    details = {"reasoning_tokens": 1}
    raw = {"prompt_tokens": 5, "completion_tokens": 2, "completion_tokens_details": details}
    usage = parse_usage({**raw, "ignored_list": [1]})
    assert usage == Usage(5, 2, extra=(("completion_tokens_details.reasoning_tokens", 1),))


# --- HTTP errors ------------------------------------------------------------------

NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_client_errors_are_not_retryable(status):
    err = status_error("groq", status, {}, error_body("Invalid API Key"), now=NOW)
    assert (err.status, err.retryable, err.retry_after) == (status, False, None)
    assert "Invalid API Key" in str(err) and f"HTTP {status}" in str(err)


@pytest.mark.parametrize("status", [408, 409, 429, 498, 500, 502, 503])
def test_transient_errors_are_retryable(status):
    assert status_error("groq", status, {}, b"", now=NOW).retryable


def test_retry_after_sources_in_order_of_preference():
    body = error_body("Rate limit reached. Please try again in 7.66s.", "tokens")
    assert status_error("groq", 429, {}, body, now=NOW).retry_after == pytest.approx(7.66)
    headers = {"Retry-After": "3"}
    assert status_error("groq", 429, headers, body, now=NOW).retry_after == 3.0
    headers = {"retry-after-ms": "250", "retry-after": "3"}
    assert status_error("groq", 429, headers, body, now=NOW).retry_after == 0.25


def test_retry_after_as_http_date():
    headers = {"retry-after": "Thu, 01 Jan 2026 00:00:05 GMT"}
    assert parse_retry_after(headers, now=NOW) == pytest.approx(5.0)
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 00:00:05 GMT"}, now=NOW + 9) == 0
    assert parse_retry_after({"retry-after": "soon"}, now=NOW) is None
    assert parse_retry_after({"retry-after-ms": "-5"}, now=NOW) is None


def test_insufficient_quota_and_should_retry_header():
    body = error_body("You exceeded your current quota", "insufficient_quota", "insufficient_quota")
    assert not status_error("openai", 429, {}, body, now=NOW).retryable
    assert not status_error("openai", 500, {"x-should-retry": "false"}, b"", now=NOW).retryable
    assert status_error("openai", 400, {"X-Should-Retry": "true"}, b"", now=NOW).retryable


def test_non_json_and_string_error_bodies():
    assert "Bad Gateway" in str(status_error("vllm", 502, {}, b"Bad Gateway", now=NOW))
    ollama = json.dumps({"error": 'model "llama9" not found'}).encode()
    assert 'model "llama9" not found' in str(status_error("ollama", 404, {}, ollama, now=NOW))
    assert "no details" in str(status_error("vllm", 503, {}, b"", now=NOW))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7.66s", 7.66), ("6m0s", 360.0), ("1m2.5s", 62.5), ("120ms", 0.12), ("2h", 7200.0)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5", "5s later", "s"])
def test_parse_duration_rejects_other_text(text):
    assert parse_duration(text) is None


def test_groq_tool_use_failed_is_a_sampling_failure_worth_one_retry():
    body = json.dumps(
        {
            "error": {
                "message": "Failed to call a function. Please adjust your prompt."
                " See 'failed_generation' for more details.",
                "type": "invalid_request_error",
                "code": "tool_use_failed",
                "failed_generation": "{",
            }
        }
    ).encode()
    error = status_error("groq", 400, {}, body, now=0.0)
    assert error.retryable and error.retry_after == 0.0 and error.status == 400
    assert "Failed to call a function" in str(error)
    other = status_error("groq", 400, {}, b'{"error":{"message":"bad","code":"x"}}', now=0.0)
    assert not other.retryable
    in_stream = stream_error("groq", json.loads(body))
    assert in_stream.retryable and in_stream.retry_after == 0.0
