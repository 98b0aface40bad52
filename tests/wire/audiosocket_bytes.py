"""AudioSocket messages as bytes, and a codec fed them whole, byte by byte or with the
next message's first bytes behind (for the codec's tests)."""

from __future__ import annotations

import struct
import uuid

from agent.wire.audiosocket import (
    CLOSED,
    NEED_DATA,
    Connection,
    Identify,
    Role,
)

CALL_ID = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
UUID_MSG = b"\x01\x00\x10" + CALL_ID.bytes
# The next message's first bytes, to check a decoder stops exactly at a boundary.
TRAILING = b"\x10\x01"


def msg(kind: int, payload: bytes = b"", length: int | None = None) -> bytes:
    return struct.pack(">BH", kind, len(payload) if length is None else length) + payload


def pcm(n_bytes: int) -> bytes:
    return bytes((i * 7) & 0xFF for i in range(n_bytes))


def drain(conn: Connection) -> list:
    events = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA or event is CLOSED:
            return events
        events.append(event)


def feed(conn: Connection, data: bytes, mode: str) -> list:
    """Feed ``data`` whole, one byte at a time, or followed by a partial next message."""
    if mode == "whole":
        conn.receive_data(data)
        return drain(conn)
    if mode == "bytewise":
        events = []
        for i in range(len(data)):
            conn.receive_data(data[i : i + 1])
            events += drain(conn)
        return events
    assert mode == "trailing"
    conn.receive_data(data + TRAILING)
    return drain(conn)


MODES = ["whole", "bytewise", "trailing"]


def identified_server() -> Connection:
    conn = Connection(Role.SERVER)
    conn.receive_data(UUID_MSG)
    assert conn.next_event() == Identify(CALL_ID)
    return conn


def identified_client() -> Connection:
    conn = Connection(Role.CLIENT)
    conn.send(Identify(CALL_ID))
    return conn
