"""AudioSocket codec: what each role may send, and when."""

from __future__ import annotations

import struct
import uuid

import pytest

from agent.base.errors import LocalProtocolError, RemoteProtocolError
from agent.wire.audiosocket import (
    Audio,
    Connection,
    Dtmf,
    Error,
    Hangup,
    Identify,
    Role,
    State,
    encode,
)

CALL_ID = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
FRAME = bytes(range(256)) + bytes(64)  # 320 bytes: 20 ms at 8 kHz


def identified_server() -> Connection:
    conn = Connection(Role.SERVER)
    conn.receive_data(b"\x01\x00\x10" + CALL_ID.bytes)
    conn.next_event()
    return conn


def identified_client() -> Connection:
    conn = Connection(Role.CLIENT)
    conn.send(Identify(CALL_ID))
    return conn


def assert_refused(conn: Connection, event, problem: str) -> None:
    before = (conn.our_state, conn.their_state)
    with pytest.raises(LocalProtocolError, match=problem):
        conn.send(event)
    # A refused send writes nothing and changes nothing: the call can go on.
    assert (conn.our_state, conn.their_state) == before


# --- the server (our agent) -----------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_server_sends_audio_in_one_buffer(rate):
    conn = identified_server()
    data = conn.send(Audio(FRAME, rate))
    assert type(data) is bytes
    assert data == encode(Audio(FRAME, rate))
    assert struct.unpack(">BH", data[:3]) == (Audio(FRAME, rate).kind, 320)
    assert data[3:] == FRAME
    assert conn.our_state is State.STREAMING


def test_server_hangup_closes_our_side_only():
    conn = identified_server()
    assert conn.send(Hangup()) == b"\x00\x00\x00"
    assert conn.our_state is State.CLOSED
    # Frames already in flight from Asterisk still decode.
    assert conn.their_state is State.STREAMING
    conn.receive_data(b"\x10\x01\x40" + FRAME)
    assert conn.next_event() == Audio(FRAME)
    assert_refused(conn, Audio(FRAME), "cannot send AUDIO: the connection is closed")
    assert_refused(conn, Hangup(), "cannot send HANGUP: the connection is closed")


@pytest.mark.parametrize(
    ("event", "name"),
    [(Identify(CALL_ID), "UUID"), (Dtmf("1"), "DTMF"), (Error(b"\x01"), "ERROR")],
)
@pytest.mark.parametrize("identified", [False, True])
def test_server_never_sends_what_asterisk_rejects(event, name, identified):
    conn = identified_server() if identified else Connection(Role.SERVER)
    assert_refused(conn, event, f"the server must not send {name} messages")


def test_server_cannot_send_audio_before_the_uuid():
    conn = Connection(Role.SERVER)
    assert_refused(conn, Audio(FRAME), "cannot send AUDIO before the peer's UUID arrived")


def test_server_may_hang_up_before_the_uuid():
    conn = Connection(Role.SERVER)
    assert conn.send(Hangup()) == b"\x00\x00\x00"
    assert conn.our_state is State.CLOSED
    # The UUID Asterisk had already sent still decodes, and does not reopen our side.
    conn.receive_data(b"\x01\x00\x10" + CALL_ID.bytes)
    assert conn.next_event() == Identify(CALL_ID)
    assert (conn.our_state, conn.their_state) == (State.CLOSED, State.STREAMING)
    assert_refused(conn, Audio(FRAME), "cannot send AUDIO: the connection is closed")


def test_client_identify_keeps_a_broken_peer_broken():
    conn = Connection(Role.CLIENT)
    conn.receive_data(b"\x42\x00\x00")
    with pytest.raises(RemoteProtocolError, match="unknown message kind 0x42"):
        conn.next_event()
    conn.send(Identify(CALL_ID))
    assert (conn.our_state, conn.their_state) == (State.STREAMING, State.ERROR)


@pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT])
@pytest.mark.parametrize(
    ("pcm", "problem"),
    [
        (b"", "cannot send audio \\(AUDIO\\): zero-length payload"),
        (b"\x00" * 321, "odd payload length 321"),
        (b"\x00" * 16386, "payload length 16386 exceeds the limit of 16384"),
    ],
)
def test_bad_audio_is_refused(role, pcm, problem):
    conn = identified_server() if role is Role.SERVER else identified_client()
    assert_refused(conn, Audio(pcm), problem)


def test_send_respects_a_configured_limit():
    conn = Connection(Role.CLIENT, max_payload=640)
    conn.send(Identify(CALL_ID))
    assert len(conn.send(Audio(bytes(640), 16000))) == 643
    assert_refused(
        conn,
        Audio(bytes(642), 16000),
        "audio \\(AUDIO_SLIN16\\): payload length 642 exceeds the limit of 640",
    )


def test_send_rejects_non_events():
    conn = identified_server()
    with pytest.raises(TypeError, match="not an AudioSocket event"):
        conn.send(b"\x10\x00\x02\x00\x00")
    with pytest.raises(TypeError, match="not an AudioSocket event"):
        encode("hello")


# --- the client (plays Asterisk) -------------------------------------------------


def test_client_identifies_first():
    conn = Connection(Role.CLIENT)
    assert_refused(conn, Audio(FRAME), "cannot send AUDIO before our UUID")
    assert_refused(conn, Dtmf("1"), "cannot send DTMF before our UUID")
    assert conn.send(Identify(CALL_ID)) == b"\x01\x00\x10" + CALL_ID.bytes
    assert conn.uuid == CALL_ID
    assert (conn.our_state, conn.their_state) == (State.STREAMING, State.STREAMING)
    assert_refused(conn, Identify(CALL_ID), "cannot send UUID: the call is already identified")


def test_client_streams_audio_and_dtmf_then_hangs_up():
    conn = identified_client()
    assert conn.send(Audio(FRAME)) == b"\x10\x01\x40" + FRAME
    assert conn.send(Dtmf("#")) == b"\x03\x00\x01#"
    assert conn.send(Hangup()) == b"\x00\x00\x00"
    assert conn.our_state is State.CLOSED
    assert_refused(conn, Dtmf("1"), "cannot send DTMF: the connection is closed")


def test_client_never_sends_error():
    assert_refused(identified_client(), Error(b"\x01"), "the client must not send ERROR messages")


def test_receiving_hangup_closes_our_side():
    conn = identified_client()
    conn.receive_data(b"\x00\x00\x00")
    assert conn.next_event() == Hangup()
    assert_refused(conn, Audio(FRAME), "cannot send AUDIO: the connection is closed")


def test_receiving_eof_closes_our_side():
    conn = identified_client()
    conn.receive_data(b"")
    conn.next_event()
    assert_refused(conn, Dtmf("5"), "cannot send DTMF: the connection is closed")


# --- event values ------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "x", "a", "12", "E", " "])
def test_dtmf_digit_validated(bad):
    with pytest.raises(ValueError, match="DTMF digit must be one of"):
        Dtmf(bad)


def test_identify_needs_a_uuid():
    with pytest.raises(TypeError):
        Identify(str(CALL_ID))


def test_encode_refuses_what_the_length_field_cannot_hold():
    assert len(encode(Error(bytes(0xFFFF)))) == 0xFFFF + 3
    with pytest.raises(LocalProtocolError, match="does not fit the 16-bit length field"):
        encode(Audio(bytes(0x10000)))


def test_audio_repr_hides_the_samples():
    assert repr(Audio(FRAME)) == "Audio(pcm=<320 bytes>, sample_rate=8000)"


def test_events_are_frozen():
    event = Audio(FRAME)
    with pytest.raises(AttributeError):
        event.pcm = b""
    assert hash(Dtmf("1")) == hash(Dtmf("1"))
