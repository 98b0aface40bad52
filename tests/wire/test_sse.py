"""The pure SSE decoder: whole, line by line, byte by byte, split anywhere."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.base.errors import LocalProtocolError, RemoteProtocolError
from agent.wire.sse import ServerSentEvent, SseDecoder

# A stream the way OpenAI-compatible servers send it, with a keep-alive comment.
OPENAI_STREAM = (
    b": keep-alive\n\n"
    b'data: {"choices":[{"index":0,"delta":{"content":"Sure, "}}]}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":8}}\n\n'
    b"data: [DONE]\n\n"
)
OPENAI_EVENTS = [
    ServerSentEvent('{"choices":[{"index":0,"delta":{"content":"Sure, "}}]}'),
    ServerSentEvent('{"choices":[],"usage":{"prompt_tokens":8}}'),
    ServerSentEvent("[DONE]"),
]


def decode_whole(data: bytes | str) -> tuple[list[ServerSentEvent], bool]:
    decoder = SseDecoder()
    events = decoder.feed(data)
    decoder.feed_eof()
    return events, decoder.truncated


def decode_in_pieces(data: bytes, size: int) -> list[ServerSentEvent]:
    decoder = SseDecoder()
    events = []
    for start in range(0, len(data), size):
        events += decoder.feed(data[start : start + size])
    decoder.feed_eof()
    return events


def test_openai_stream_whole_and_byte_by_byte():
    assert decode_whole(OPENAI_STREAM) == (OPENAI_EVENTS, False)
    for size in (1, 2, 3, 7, 64):
        assert decode_in_pieces(OPENAI_STREAM, size) == OPENAI_EVENTS


def test_line_by_line():
    decoder = SseDecoder()
    lines = OPENAI_STREAM.decode().split("\n")[:-1]
    events = [event for line in lines if (event := decoder.feed_line(line)) is not None]
    assert events == OPENAI_EVENTS


def test_multi_line_data_is_joined_with_newlines():
    events, _ = decode_whole("data: first\ndata: second\ndata:\ndata: third\n\n")
    assert events == [ServerSentEvent("first\nsecond\n\nthird")]


def test_only_one_space_after_the_colon_is_dropped():
    events, _ = decode_whole("data:x\n\ndata:  two spaces\n\ndata\n\n")
    assert [event.data for event in events] == ["x", " two spaces", ""]


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\n"])
def test_every_line_ending(newline):
    text = f"event: error{newline}data: a{newline}data: b{newline}{newline}"
    for size in (1, 2, 100):
        assert decode_in_pieces(text.encode(), size) == [ServerSentEvent("a\nb", event="error")]


def test_crlf_split_between_chunks_is_one_line_break():
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [ServerSentEvent("a")]
    # The second CR ended an empty line already, so this LF is its second half.
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [ServerSentEvent("b")]


def test_fields_event_id_retry_and_unknown():
    stream = "id: 7\nevent: update\nretry: 1500\nfoo: bar\ndata: x\n\ndata: y\n\n"
    events, _ = decode_whole(stream)
    assert events == [
        ServerSentEvent("x", event="update", id="7", retry=1500),
        # The last event id persists; event type and retry do not.
        ServerSentEvent("y", event="message", id="7"),
    ]


def test_bad_id_and_retry_values_are_ignored():
    events, _ = decode_whole("id: 1\n\nid: a\x00b\nretry: 10s\ndata: x\n\n")
    assert events == [ServerSentEvent("x", id="1", retry=None)]


def test_an_event_without_data_is_not_dispatched():
    events, truncated = decode_whole(": ping\n\nevent: nothing\n\n\n\n")
    assert events == []
    assert not truncated


def test_byte_order_mark_is_dropped_even_split():
    data = "\ufeffdata: x\n\n".encode()
    assert decode_in_pieces(data, 1) == [ServerSentEvent("x")]
    assert decode_whole(data)[0] == [ServerSentEvent("x")]


def test_multibyte_utf8_split_across_chunks():
    text = "data: caf\u00e9 \u20ac \U0001f600\n\n"
    assert decode_in_pieces(text.encode(), 1) == [ServerSentEvent("caf\u00e9 \u20ac \U0001f600")]


def test_trailing_partial_event_is_dropped_and_reported():
    decoder = SseDecoder()
    assert decoder.feed(b"data: done\n\ndata: par") == [ServerSentEvent("done")]
    decoder.feed_eof()
    assert decoder.truncated


def test_trailing_fields_without_blank_line_are_truncated():
    decoder = SseDecoder()
    assert decoder.feed(b"data: [DONE]\n") == []
    decoder.feed_eof()
    assert decoder.truncated


def test_invalid_utf8_is_a_remote_protocol_error():
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        SseDecoder().feed(b"data: \xff\xfe\n\n")


def test_stream_ending_inside_a_utf8_sequence():
    decoder = SseDecoder()
    decoder.feed("data: \u20ac".encode()[:-1])
    with pytest.raises(RemoteProtocolError, match="UTF-8"):
        decoder.feed_eof()


def test_runaway_line_is_rejected():
    decoder = SseDecoder(max_line_length=16)
    decoder.feed(b"data: 0123456789")
    with pytest.raises(RemoteProtocolError, match="longer than 16"):
        decoder.feed(b"abcdef")


def test_feeding_after_eof_is_a_local_error():
    decoder = SseDecoder()
    decoder.feed_eof()
    with pytest.raises(LocalProtocolError):
        decoder.feed(b"data: x\n\n")
    with pytest.raises(LocalProtocolError):
        decoder.feed_line("data: x")


_data_lines = st.lists(
    st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",))),
    min_size=1,
    max_size=3,
)


@given(
    events=st.lists(_data_lines, max_size=5),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_any_split_gives_the_same_events(events, newline, cuts):
    text = "".join(
        "".join(f"data: {line}{newline}" for line in lines) + newline for lines in events
    )
    data = text.encode()
    decoder = SseDecoder()
    decoded = []
    previous = 0
    for cut in [*sorted({min(cut, len(data)) for cut in cuts}), len(data)]:
        decoded += decoder.feed(data[previous:cut])
        previous = cut
    decoder.feed_eof()
    assert [event.data for event in decoded] == ["\n".join(lines) for lines in events]
    assert not decoder.truncated
