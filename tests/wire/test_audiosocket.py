"""AudioSocket codec: decoding, each case whole, byte by byte and with trailing bytes
(a peer breaking the protocol: test_audiosocket_errors.py).

The byte shapes come from Asterisk's res_audiosocket.c as described in the
project's wire notes: kind byte, big-endian uint16 length, payload.
"""

from __future__ import annotations

import struct

import pytest

from agent.base.errors import LocalProtocolError, RemoteProtocolError
from agent.wire.audiosocket import (
    AUDIO_KINDS,
    CLOSED,
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
    kind_for_rate,
    rate_for_kind,
)
from tests.wire.audiosocket_bytes import (
    CALL_ID,
    MODES,
    TRAILING,
    UUID_MSG,
    drain,
    feed,
    identified_server,
    msg,
    pcm,
)

# --- kinds and rates ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "rate"),
    [
        (0x10, 8000),
        (0x11, 12000),
        (0x12, 16000),
        (0x13, 24000),
        (0x14, 32000),
        (0x15, 44100),
        (0x16, 48000),
        (0x17, 96000),
        (0x18, 192000),
    ],
)
def test_audio_kind_rates(kind, rate):
    assert rate_for_kind(kind) == rate
    assert kind_for_rate(rate) == kind
    assert Audio(b"\x00\x00", rate).kind == kind
    conn = identified_server()
    conn.receive_data(msg(kind, pcm(640)))
    assert conn.next_event() == Audio(pcm(640), rate)


def test_audio_kinds_set():
    assert sorted(AUDIO_KINDS) == list(range(0x10, 0x19))


@pytest.mark.parametrize("bad", [0x00, 0x01, 0x03, 0x19, 0xFF])
def test_rate_for_non_audio_kind(bad):
    with pytest.raises(ValueError, match=f"0x{bad:02x} is not an audio kind"):
        rate_for_kind(bad)


@pytest.mark.parametrize("bad", [11025, 0, 8000.5, "8000"])
def test_kind_for_unsupported_rate(bad):
    with pytest.raises(ValueError, match="cannot carry a sample rate"):
        kind_for_rate(bad)
    with pytest.raises(ValueError, match="cannot carry a sample rate"):
        Audio(b"\x00\x00", bad)


# --- the byte shapes from the reference ------------------------------------------


def test_reference_byte_shapes():
    assert encode(Hangup()) == b"\x00\x00\x00"
    assert encode(Identify(CALL_ID)) == UUID_MSG
    assert encode(Dtmf("5")) == b"\x03\x00\x01\x35"
    assert encode(Audio(pcm(320))) == b"\x10\x01\x40" + pcm(320)
    assert encode(Audio(pcm(640), 16000)) == b"\x12\x02\x80" + pcm(640)
    assert encode(Error(b"\x01")) == b"\xff\x00\x01\x01"


def test_audio_is_little_endian_pcm_with_big_endian_length():
    samples = struct.pack("<4h", 1, -1, 256, -32768)
    data = encode(Audio(samples))
    assert data[:3] == b"\x10\x00\x08"
    conn = identified_server()
    conn.receive_data(data)
    event = conn.next_event()
    assert struct.unpack("<4h", event.pcm) == (1, -1, 256, -32768)
    assert event.duration == pytest.approx(4 / 8000)


# --- decoding as the SERVER (Asterisk talks to us) ---------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_server_decodes_uuid(mode):
    conn = Connection(Role.SERVER)
    assert (conn.our_state, conn.their_state) == (State.AWAITING_UUID, State.AWAITING_UUID)
    assert feed(conn, UUID_MSG, mode) == [Identify(CALL_ID)]
    assert conn.uuid == CALL_ID
    assert (conn.our_state, conn.their_state) == (State.STREAMING, State.STREAMING)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [320, 480, 640, 280])
def test_server_decodes_audio_frames(mode, size):
    conn = identified_server()
    frame = pcm(size)
    events = feed(conn, msg(0x10, frame) + msg(0x10, frame[::-1]), mode)
    assert events == [Audio(frame), Audio(frame[::-1])]
    assert type(events[0].pcm) is bytes


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("digit", list("0123456789*#ABCD"))
def test_server_decodes_dtmf(mode, digit):
    conn = identified_server()
    assert feed(conn, msg(0x03, digit.encode()), mode) == [Dtmf(digit)]


@pytest.mark.parametrize("mode", MODES)
def test_server_decodes_error(mode):
    conn = identified_server()
    events = feed(conn, msg(0xFF, b"\x02") + msg(0xFF), mode)
    assert events == [Error(b"\x02"), Error()]
    assert events[0].code == 2
    assert events[1].code is None
    assert conn.their_state is State.STREAMING


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
@pytest.mark.parametrize("payload", [b"", b"\x07\x07"])
def test_hangup_closes_both_sides_and_consumes_its_payload(mode, payload):
    conn = identified_server()
    assert feed(conn, msg(0x00, payload), mode) == [Hangup()]
    assert (conn.our_state, conn.their_state) == (State.CLOSED, State.CLOSED)
    assert conn.next_event() is CLOSED
    conn.receive_data(b"")
    assert conn.next_event() is CLOSED


def test_data_after_hangup_is_an_error():
    conn = identified_server()
    conn.receive_data(msg(0x00) + TRAILING)
    assert conn.next_event() == Hangup()
    with pytest.raises(RemoteProtocolError, match="2 bytes of data after the peer's HANGUP"):
        conn.next_event()


def test_clean_eof_returns_closed_forever():
    conn = identified_server()
    conn.receive_data(msg(0x10, pcm(320)))
    conn.receive_data(b"")
    assert conn.next_event() == Audio(pcm(320))
    assert conn.next_event() is CLOSED
    assert conn.next_event() is CLOSED
    assert (conn.our_state, conn.their_state) == (State.CLOSED, State.CLOSED)
    with pytest.raises(LocalProtocolError, match="closed"):
        conn.send(Audio(pcm(320)))


def test_eof_before_uuid_is_a_clean_close():
    # Asterisk connects, finds the channel not answered and closes without a UUID.
    conn = Connection(Role.SERVER)
    conn.receive_data(b"")
    assert conn.next_event() is CLOSED
    assert conn.uuid is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x10", "got 1 of 3 header bytes"),
        (b"\x10\x01", "got 2 of 3 header bytes"),
        (b"\x10\x01\x40" + bytes(100), "got 103 of 323 bytes, AUDIO message"),
        (b"\x10\x01\x40", "got 3 of 323 bytes"),
    ],
)
def test_eof_mid_message(data, expected):
    conn = identified_server()
    conn.receive_data(data)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match=f"connection closed mid-message \\({expected}"):
        conn.next_event()


def test_data_after_eof_is_refused():
    conn = identified_server()
    conn.receive_data(b"")
    conn.receive_data(b"")  # a repeated EOF is harmless
    with pytest.raises(LocalProtocolError, match="after EOF"):
        conn.receive_data(b"\x00\x00\x00")


# --- buffering ------------------------------------------------------------------------


def test_many_messages_in_one_read_and_split_across_reads():
    conn = identified_server()
    frames = [pcm(320 + 2 * i) for i in range(200)]
    stream = b"".join(msg(0x10, f) for f in frames) + msg(0x03, b"#")
    # Odd-sized reads put message boundaries everywhere, including inside headers.
    events = []
    for start in range(0, len(stream), 997):
        conn.receive_data(stream[start : start + 997])
        events += drain(conn)
    assert events == [Audio(f) for f in frames] + [Dtmf("#")]
    assert conn.next_event() is NEED_DATA


def test_buffer_drops_consumed_bytes_while_a_partial_message_waits():
    # White-box: a peer whose reads always end mid-message must not grow the buffer.
    conn = identified_server()
    frame = msg(0x10, pcm(320))
    conn.receive_data(frame[:5])
    for _ in range(2000):
        conn.receive_data(frame[5:] + frame[:5])
        assert drain(conn) == [Audio(pcm(320))]
        assert len(conn._buf) <= 70_000
    assert "buffered=5" in repr(conn)


# --- the per-frame paths ------------------------------------------------------------


@pytest.mark.parametrize("size", [997, 323, 1])
def test_audio_at_our_rate_comes_back_bare_and_the_rest_as_events(size):
    conn = identified_server()
    stream = msg(0x10, pcm(320)) + msg(0x12, pcm(640)) + msg(0x03, b"5") + msg(0x10, pcm(160)) * 3
    items = []
    for start in range(0, len(stream), size):
        conn.receive_data(stream[start : start + size])
        while (item := conn.next_audio_or_event(8000)) is not NEED_DATA:
            items.append(item)
    assert items == [pcm(320), Audio(pcm(640), 16000), Dtmf("5"), *[pcm(160)] * 3]
    assert all(type(item) is bytes for item in items[3:])
    conn.receive_data(b"")
    assert conn.next_audio_or_event(8000) is CLOSED


def test_received_bytes_are_parsed_as_they_came_and_frames_are_their_own():
    conn = identified_server()
    data = msg(0x10, pcm(320)) + msg(0x10, pcm(320))
    conn.receive_data(data)
    first = conn.next_audio_or_event(8000)
    second = conn.next_audio_or_event(8000)
    assert first == second == pcm(320) and first is not second
    assert conn.next_audio_or_event(8000) is NEED_DATA
    # A caller's bytearray is copied: changing it later changes nothing received.
    buf = bytearray(msg(0x10, pcm(320)))
    conn.receive_data(buf)
    buf[5] ^= 0xFF
    assert conn.next_audio_or_event(8000) == pcm(320)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_send_audio_is_send_of_an_audio_event(rate):
    assert identified_server().send_audio(pcm(320), rate) == identified_server().send(
        Audio(pcm(320), rate)
    )


@pytest.mark.parametrize(
    ("conn", "payload", "rate", "problem"),
    [
        (Connection(Role.SERVER), pcm(320), 8000, "before the peer's UUID"),
        (None, b"", 8000, "zero-length payload"),
        (None, pcm(321), 8000, "odd payload length"),
        (None, pcm(320), 11025, "cannot carry a sample rate of 11025"),
    ],
)
def test_send_audio_refuses_what_send_refuses(conn, payload, rate, problem):
    conn = conn or identified_server()
    with pytest.raises((LocalProtocolError, ValueError), match=problem):
        conn.send_audio(payload, rate)
