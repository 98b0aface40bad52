"""Incremental extraction of the "response" field from a streamed JSON reply."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.base.errors import RemoteProtocolError
from agent.wire.jsonstream import ReplyFormatError, ResponseExtractor


def feed_all(pieces):
    extractor = ResponseExtractor()
    streamed = [extractor.feed(piece) for piece in pieces]
    return extractor, streamed


def splits(text, cuts):
    cuts = sorted(set(cuts))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


REPLY = {
    "response": 'Line one\nShe said "hi" \\ café 😀 – £85.50 \t end',
    "action": "collect_details",
    "variables": {"postcode": "SW1A 1AA", "nested": {"response": "not this"}, "n": [1, {}]},
}


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_every_single_split_point(ensure_ascii):
    text = json.dumps(REPLY, ensure_ascii=ensure_ascii)
    for cut in range(len(text) + 1):
        extractor, streamed = feed_all([text[:cut], text[cut:]])
        assert "".join(streamed) == REPLY["response"], cut
        reply = extractor.finish()
        assert (reply.response, reply.action, reply.variables) == (
            REPLY["response"],
            REPLY["action"],
            REPLY["variables"],
        )


def test_character_by_character_streams_before_the_object_closes():
    text = json.dumps(REPLY)
    extractor = ResponseExtractor()
    seen = ""
    for i, char in enumerate(text):
        seen += extractor.feed(char)
        if i < text.index('"action"'):
            assert REPLY["response"].startswith(seen)
    assert seen == REPLY["response"] == extractor.text
    assert extractor.response_complete


def test_text_comes_out_as_soon_as_an_escape_is_complete():
    extractor = ResponseExtractor()
    assert extractor.feed('{"response": "caf') == "caf"
    assert extractor.feed("\\u00") == ""
    assert extractor.feed("e9 ") == "é "
    assert extractor.feed("\\ud83d") == ""  # a high surrogate waits for its pair
    assert extractor.feed("\\ude00") == "😀"
    assert extractor.feed('\\"ok\\"') == '"ok"'
    assert not extractor.response_complete
    assert extractor.feed('", "action": null}') == ""
    assert extractor.response_complete
    assert extractor.finish().action is None


@pytest.mark.parametrize(
    "raw",
    [
        '{"response": "\\ud83d!"}',  # lone high surrogate then text
        '{"response": "\\ud83d"}',  # lone high surrogate at the end
        '{"response": "\\ude00\\ud83d\\n"}',  # low before high: no pair
    ],
)
def test_lone_surrogates_match_json_loads(raw):
    extractor, streamed = feed_all(list(raw))
    assert "".join(streamed) == json.loads(raw)["response"] == extractor.finish().response


def test_response_key_after_other_keys_and_with_escaped_key():
    raw = '{"action": "quote", "variables": {"response": "x"}, "resp\\u006fnse": "Hi!"}'
    extractor, streamed = feed_all([raw])
    assert "".join(streamed) == "Hi!"
    assert extractor.finish().variables == {"response": "x"}


def test_markdown_fence_around_the_object_is_tolerated():
    raw = '```json\n{"response": "Hello", "action": "greet"}\n```'
    extractor, streamed = feed_all(splits(raw, [3, 9, 20]))
    assert "".join(streamed) == "Hello"
    reply = extractor.finish()
    assert (reply.response, reply.action, reply.variables) == ("Hello", "greet", {})


def test_missing_response_is_an_empty_reply():
    extractor, streamed = feed_all(['{"action": "transfer"}'])
    assert streamed == [""]
    assert extractor.finish().response == ""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ('{"response": "Hi"', "not valid JSON: Expecting ',' delimiter"),
        ('{"response": "Hi"} extra', "Extra data"),
        ("[1, 2]", "is a list, not an object"),
        ('{"response": 5}', '"response" must be a string'),
        ('{"response": "a", "action": 3}', '"action" must be a string'),
        ('{"response": "a", "variables": [1]}', '"variables" must be an object'),
        ('{"response": "a\tb"}', "Invalid control character"),
    ],
)
def test_malformed_replies_give_clear_errors(raw, message):
    extractor = ResponseExtractor()
    extractor.feed(raw)
    with pytest.raises(ReplyFormatError, match=message) as info:
        extractor.finish()
    assert isinstance(info.value, RemoteProtocolError)


@pytest.mark.parametrize("bad", ['{"response": "\\x"}', '{"response": "\\u12g4"}'])
def test_bad_escapes_are_refused_while_streaming(bad):
    with pytest.raises(ReplyFormatError, match="escape"):
        ResponseExtractor().feed(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
replies = st.fixed_dictionaries(
    {"response": st.text()},
    optional={
        "action": st.text(),
        "variables": st.dictionaries(st.text(), json_values, max_size=4),
    },
)


@settings(max_examples=200)
@given(replies, st.booleans(), st.lists(st.integers(0, 10_000), max_size=12), st.data())
def test_any_reply_split_anywhere(reply, ensure_ascii, cut_seeds, data):
    order = data.draw(st.permutations(list(reply)))  # keys in any order
    text = json.dumps({key: reply[key] for key in order}, ensure_ascii=ensure_ascii)
    pieces = splits(text, [seed % (len(text) + 1) for seed in cut_seeds])
    extractor, streamed = feed_all(pieces)
    assert "".join(streamed) == reply["response"]
    parsed = extractor.finish()
    assert parsed.response == reply["response"]
    assert parsed.action == reply.get("action")
    assert parsed.variables == reply.get("variables", {})
