"""AudioSocket codec: Hypothesis round trips, three-way checks and fuzzing."""

from __future__ import annotations

import itertools
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.base.errors import RemoteProtocolError
from agent.wire.audiosocket import (
    CLOSED,
    DTMF_DIGITS,
    NEED_DATA,
    Audio,
    Connection,
    Dtmf,
    Error,
    Hangup,
    Identify,
    Role,
    State,
    encode,
    rate_for_kind,
)

# The shared 2-core box makes Hypothesis' per-example deadline flaky; the suite
# stays fast by keeping payloads small.
SETTINGS = settings(deadline=None, max_examples=150)

RATES = [rate_for_kind(kind) for kind in range(0x10, 0x19)]

audio = st.builds(
    Audio,
    st.integers(1, 400).flatmap(lambda n: st.binary(min_size=2 * n, max_size=2 * n)),
    st.sampled_from(RATES),
)
dtmf = st.builds(Dtmf, st.sampled_from(sorted(DTMF_DIGITS)))
error = st.builds(Error, st.binary(max_size=8))
identify = st.builds(Identify, st.uuids())

# What Asterisk (the client) may send us, and what our agent (the server) may send it.
from_client = st.tuples(
    identify, st.lists(st.one_of(audio, dtmf, error), max_size=20), st.booleans()
).map(lambda t: [t[0], *t[1], *([Hangup()] if t[2] else [])])
from_server = st.tuples(st.lists(audio, max_size=20), st.booleans()).map(
    lambda t: [*t[0], *([Hangup()] if t[1] else [])]
)


@st.composite
def chunked(draw, data: bytes) -> list[bytes]:
    """``data`` split at random points (empty pieces excluded: b"" would mean EOF)."""
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=12))))
    bounds = [0, *[c for c in cuts if c < len(data)], len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def decode_all(conn: Connection, pieces: list[bytes]) -> list:
    events = []
    for piece in [*pieces, b""]:
        conn.receive_data(piece)
        while (event := conn.next_event()) is not NEED_DATA and event is not CLOSED:
            events.append(event)
    assert conn.next_event() is CLOSED
    return events


def identified_client() -> Connection:
    conn = Connection(Role.CLIENT)
    conn.send(Identify(uuid.uuid4()))
    return conn


@SETTINGS
@given(st.data(), from_client)
def test_round_trip_client_to_server(data, events):
    stream = b"".join(encode(event) for event in events)
    server = Connection(Role.SERVER)
    assert decode_all(server, data.draw(chunked(stream))) == events
    assert server.uuid == events[0].uuid
    assert server.their_state is State.CLOSED


@SETTINGS
@given(st.data(), from_server)
def test_round_trip_server_to_client(data, events):
    stream = b"".join(encode(event) for event in events)
    assert decode_all(identified_client(), data.draw(chunked(stream))) == events


@SETTINGS
@given(st.data(), from_client.map(lambda evs: [e for e in evs if type(e) is not Error]))
def test_three_way_client_send_to_server_receive(data, events):
    # Like h11's three-way tests: the sending Connection's bytes, decoded by the
    # receiving Connection, give back the same events, and both agree on state.
    client = Connection(Role.CLIENT)
    stream = b"".join(client.send(event) for event in events)
    assert stream == b"".join(encode(event) for event in events)
    server = Connection(Role.SERVER)
    for piece in data.draw(chunked(stream)):
        server.receive_data(piece)
    decoded = []
    while (event := server.next_event()) is not NEED_DATA and event is not CLOSED:
        decoded.append(event)
    assert decoded == events
    assert server.uuid == client.uuid
    hung_up = type(events[-1]) is Hangup
    assert client.our_state is (State.CLOSED if hung_up else State.STREAMING)
    assert server.their_state is client.our_state


@SETTINGS
@given(st.data(), from_server, st.uuids())
def test_three_way_server_send_to_client_receive(data, events, call_id):
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    server.receive_data(client.send(Identify(call_id)))
    assert server.next_event() == Identify(call_id)
    stream = b"".join(server.send(event) for event in events)
    for piece in data.draw(chunked(stream)):
        client.receive_data(piece)
    decoded = []
    while (event := client.next_event()) is not NEED_DATA and event is not CLOSED:
        decoded.append(event)
    assert decoded == events
    assert client.their_state is server.our_state


@SETTINGS
@given(st.data(), st.lists(audio, min_size=1, max_size=10), st.lists(audio, max_size=10))
def test_full_duplex_exchange(data, up, down):
    # Both directions interleaved, as on a real call: each side keeps decoding
    # while sending, and the client hangs up last.
    client, server = Connection(Role.CLIENT), Connection(Role.SERVER)
    server.receive_data(client.send(Identify(uuid.uuid4())))
    assert type(server.next_event()) is Identify
    heard_by_server, heard_by_client = [], []
    for i in range(max(len(up), len(down))):
        if i < len(up):
            server.receive_data(client.send(up[i]))
            heard_by_server.append(server.next_event())
        if i < len(down):
            client.receive_data(server.send(down[i]))
            heard_by_client.append(client.next_event())
    server.receive_data(client.send(Hangup()))
    assert server.next_event() == Hangup()
    assert (heard_by_server, heard_by_client) == (up, down)
    assert server.our_state is State.CLOSED


def _fuzz(conn: Connection, pieces: list[bytes]) -> None:
    try:
        for piece in [*pieces, b""]:
            conn.receive_data(piece)
            while conn.next_event() not in (NEED_DATA, CLOSED):
                pass
    except RemoteProtocolError as exc:
        assert str(exc)
        assert conn.their_state is State.ERROR
        return
    assert conn.their_state is State.CLOSED


@settings(deadline=None, max_examples=300)
@given(st.data(), st.sampled_from(Role), st.booleans(), st.binary(max_size=300))
def test_fuzz_random_bytes_raise_only_remote_protocol_error(data, role, identified, noise):
    if role is Role.CLIENT:
        conn = identified_client() if identified else Connection(role)
    else:
        conn = Connection(role)
        if identified:  # reach the streaming state so the fuzz covers every kind
            conn.receive_data(encode(Identify(uuid.uuid4())))
            conn.next_event()
    _fuzz(conn, data.draw(chunked(noise)))


@settings(deadline=None, max_examples=300)
@given(st.data(), from_client, st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=4))
def test_fuzz_corrupted_valid_stream(data, events, flips):
    # Near-valid input reaches deeper states than pure noise does.
    stream = bytearray(b"".join(encode(event) for event in events))
    for index, value in flips:
        stream[index % len(stream)] = value
    _fuzz(Connection(Role.SERVER), data.draw(chunked(bytes(stream))))
