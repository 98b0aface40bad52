"""AudioSocket codec: a peer breaking the protocol (each case whole, byte by byte and
with trailing bytes) and the payload limit; the connection stays broken after."""

from __future__ import annotations

import pytest

from agent.base.errors import RemoteProtocolError
from agent.wire.audiosocket import (
    NEED_DATA,
    Audio,
    Connection,
    Identify,
    Role,
    State,
)
from tests.wire.audiosocket_bytes import (
    CALL_ID,
    MODES,
    UUID_MSG,
    drain,
    feed,
    identified_client,
    identified_server,
    msg,
    pcm,
)

# --- the peer breaking the protocol -------------------------------------------------


def _identified(role):
    return identified_server() if role is Role.SERVER else identified_client()


SERVER_ERRORS = [
    (Role.SERVER, False, msg(0x10, pcm(320)), "expected UUID first, got AUDIO"),
    (Role.SERVER, False, msg(0x03, b"1"), "expected UUID first, got DTMF"),
    (Role.SERVER, False, msg(0x00), "expected UUID first, got HANGUP"),
    (Role.SERVER, False, msg(0x01, bytes(15)), "UUID message with a 15-byte payload"),
    (Role.SERVER, False, msg(0x42), "unknown message kind 0x42"),
    (Role.SERVER, True, UUID_MSG, "second UUID message"),
    (Role.SERVER, True, msg(0x42, b"x"), "unknown message kind 0x42"),
    (Role.SERVER, True, msg(0x02), "unknown message kind 0x02"),
    (Role.SERVER, True, msg(0x19, pcm(2)), "unknown message kind 0x19"),
    (Role.SERVER, True, msg(0x10), "audio message \\(AUDIO, kind 0x10\\) with zero-length payload"),
    (
        Role.SERVER,
        True,
        msg(0x12),
        "audio message \\(AUDIO_SLIN16, kind 0x12\\) with zero-length payload",
    ),
    (Role.SERVER, True, msg(0x10, pcm(321)), "odd payload length 321"),
    (Role.SERVER, True, msg(0x03, b"x"), "invalid digit byte 0x78"),
    (Role.SERVER, True, msg(0x03, b"a"), "invalid digit byte 0x61"),
    (Role.SERVER, True, msg(0x03, b"12"), "DTMF message with a 2-byte payload"),
    (Role.SERVER, True, msg(0x03), "DTMF message with a 0-byte payload"),
    (Role.SERVER, True, msg(0x10, length=60000), "payload length 60000 exceeds the limit of 16384"),
    (Role.SERVER, True, msg(0xFF, length=16385), "payload length 16385 exceeds the limit"),
]
CLIENT_ERRORS = [
    (Role.CLIENT, False, msg(0x10, pcm(320)), "AUDIO message from the server before we sent"),
    (Role.CLIENT, True, UUID_MSG, "UUID message \\(kind 0x01\\) from the server"),
    (Role.CLIENT, True, msg(0x03, b"1"), "DTMF message \\(kind 0x03\\) from the server"),
    (Role.CLIENT, True, msg(0xFF), "ERROR message \\(kind 0xff\\) from the server"),
    (Role.CLIENT, True, msg(0x7E), "unknown message kind 0x7e"),
    (Role.CLIENT, True, msg(0x10), "zero-length payload"),
    (
        Role.CLIENT,
        True,
        msg(0x16, pcm(3)),
        "audio message \\(AUDIO_SLIN48, kind 0x16\\) with odd payload length 3",
    ),
    (Role.CLIENT, True, msg(0x10, length=0xFFFF), "payload length 65535 exceeds the limit"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("role", "identified", "data", "problem"), SERVER_ERRORS + CLIENT_ERRORS)
def test_remote_protocol_errors(role, identified, data, problem, mode):
    conn = _identified(role) if identified else Connection(role)
    with pytest.raises(RemoteProtocolError, match=problem):
        feed(conn, data, mode)
    assert conn.their_state is State.ERROR
    # The connection stays broken: every later call names the original problem.
    with pytest.raises(RemoteProtocolError, match=problem):
        conn.next_event()


def test_length_guard_fires_on_the_header_alone():
    conn = identified_server()
    conn.receive_data(b"\x10\xea")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"\x60")  # 0xea60 = 60000, no body yet
    with pytest.raises(
        RemoteProtocolError, match="payload length 60000 exceeds the limit of 16384"
    ):
        conn.next_event()


def test_max_payload_is_configurable():
    conn = Connection(Role.SERVER, max_payload=0xFFFF)
    conn.receive_data(UUID_MSG + msg(0x10, pcm(60000)))
    assert drain(conn) == [Identify(CALL_ID), Audio(pcm(60000))]
    small = Connection(Role.SERVER, max_payload=320)
    small.receive_data(UUID_MSG + msg(0x10, pcm(320)) + msg(0x10, pcm(322)))
    with pytest.raises(RemoteProtocolError, match="payload length 322 exceeds the limit of 320"):
        drain(small)


@pytest.mark.parametrize("bad", [15, 0x10000, -1])
def test_max_payload_bounds(bad):
    with pytest.raises(ValueError, match="max_payload must be between 16 and 65535"):
        Connection(Role.SERVER, max_payload=bad)


def test_role_must_be_a_role():
    with pytest.raises(TypeError, match="our_role must be a Role"):
        Connection("server")
