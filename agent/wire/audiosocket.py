"""Asterisk AudioSocket codec, sans-IO in the style of h11 (no I/O, no trio).

A message is a 3-byte header (kind byte, big-endian uint16 payload length) and
the payload. Audio is little-endian int16 mono PCM whose rate follows from the
kind (0x10 = 8 kHz ... 0x18 = 192 kHz). Asterisk is always the TCP client: it
sends one UUID message, then audio and DTMF; it accepts only audio and HANGUP
back and drops the call on anything else, including an empty audio message.

``Connection(Role.SERVER)`` is our agent; ``Connection(Role.CLIENT)`` plays
Asterisk (the test and demo caller). ``receive_data(bytes)`` feeds what was read
(``b""`` is EOF); ``next_event()`` returns an event, ``NEED_DATA`` or ``CLOSED``
(the peer is finished: EOF with nothing buffered, or nothing left after its
HANGUP; repeated calls keep returning it). EOF is not a HANGUP: Asterisk never
sends 0x00, it just closes, and it closes before any UUID when the channel was
not answered (``CLOSED`` while ``their_state`` is still ``AWAITING_UUID``).
``send(event)`` returns header and payload as one bytes object to write in ONE
send: older Asterisk fails a message whose payload arrives in a later segment.

States, one per direction as in h11. The call is identified when the client
sends (the server receives) the UUID, which moves both from ``AWAITING_UUID`` to
``STREAMING``; before that only the UUID, or a HANGUP, may pass.
``their_state`` becomes ``CLOSED`` on their HANGUP or EOF, ``ERROR`` once they
broke the protocol (every later ``next_event`` raises again). ``our_state``
becomes ``CLOSED`` when we send HANGUP or the peer is gone (HANGUP or EOF).

The messages themselves (kinds, events, ``encode``) are in
``audiosocket_messages``; this module adds the connection state machine and
re-exports them: import everything from here.
"""

from __future__ import annotations

import enum
import uuid as _uuid

from agent.base.errors import LocalProtocolError, RemoteProtocolError
from agent.wire.audiosocket_messages import (
    AUDIO_KINDS,
    DTMF_DIGITS,
    HEADER,
    HEADER_SIZE,
    KIND_BY_BYTE,
    KIND_OF_EVENT,
    RATE_BY_BYTE,
    UUID_SIZE,
    WIRE_MAX_PAYLOAD,
    Audio,
    Dtmf,
    Error,
    Event,
    Hangup,
    Identify,
    Kind,
    encode,
    kind_for_rate,
    rate_for_kind,
)

__all__ = [
    "AUDIO_KINDS",
    "CLOSED",
    "DTMF_DIGITS",
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "NEED_DATA",
    "UUID_SIZE",
    "WIRE_MAX_PAYLOAD",
    "Audio",
    "Connection",
    "Dtmf",
    "Error",
    "Event",
    "Hangup",
    "Identify",
    "Kind",
    "Role",
    "State",
    "encode",
    "kind_for_rate",
    "rate_for_kind",
]

# Default guard on a received or sent payload. The largest frame Asterisk sends is
# 20 ms at 192 kHz (7680 bytes); 16 KiB leaves room for 40 ms frames at 192 kHz
# or ~0.5 s at 8 kHz while refusing garbage lengths before buffering them.
MAX_PAYLOAD = 16384
# Drop consumed bytes once this many piled up in front of a partial message; a
# fully consumed buffer is cleared at once, which is the usual case.
_COMPACT_AT = 1 << 16


class _Sentinel(type):
    def __repr__(cls) -> str:
        return cls.__name__


class NEED_DATA(metaclass=_Sentinel):
    """``next_event`` needs more bytes before it can return an event."""


class CLOSED(metaclass=_Sentinel):
    """``next_event``: the peer is finished (EOF, or nothing left after its HANGUP)."""


class Role(enum.Enum):
    SERVER = "server"  # our agent: Asterisk connects to us
    CLIENT = "client"  # plays Asterisk's part (our test/demo caller)


class State(enum.Enum):
    AWAITING_UUID = "awaiting_uuid"
    STREAMING = "streaming"
    CLOSED = "closed"
    ERROR = "error"  # their_state only: the peer broke the protocol


# What each role may receive once streaming (besides the UUID handled by state).
_SERVER_RECEIVES = AUDIO_KINDS | {Kind.DTMF, Kind.HANGUP, Kind.ERROR}
_CLIENT_RECEIVES = AUDIO_KINDS | {Kind.HANGUP}


class Connection:
    """One AudioSocket session seen from ``our_role``; see the module docstring.

    ``max_payload`` guards both directions: a received header announcing more is
    refused before its body is buffered, and ``send`` refuses larger audio.
    """

    def __init__(self, our_role: Role, *, max_payload: int = MAX_PAYLOAD) -> None:
        if not isinstance(our_role, Role):
            raise TypeError(f"our_role must be a Role, got {our_role!r}")
        if not (UUID_SIZE <= max_payload <= WIRE_MAX_PAYLOAD):
            raise ValueError(
                f"max_payload must be between {UUID_SIZE} and {WIRE_MAX_PAYLOAD}, got {max_payload}"
            )
        self.our_role = our_role
        self.max_payload = max_payload
        self.our_state = State.AWAITING_UUID
        self.their_state = State.AWAITING_UUID
        self.uuid: _uuid.UUID | None = None
        self._allowed = _SERVER_RECEIVES if our_role is Role.SERVER else _CLIENT_RECEIVES
        # What was received and not yet parsed from _pos on: the bytes of the last
        # read as they came, or a bytearray while a message spans reads.
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self._eof = False
        self._error: RemoteProtocolError | None = None

    def __repr__(self) -> str:
        return (
            f"<Connection {self.our_role.value} our_state={self.our_state.name} "
            f"their_state={self.their_state.name} buffered={len(self._buf) - self._pos}>"
        )

    # -- receiving --------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the socket; ``b""`` records EOF."""
        if data:
            if self._eof:
                raise LocalProtocolError("receive_data() got more bytes after EOF")
            buf = self._buf
            if self._pos >= len(buf) and type(data) is bytes:
                # Nothing left over (the usual case): parse the bytes as they came,
                # without copying them into the buffer first.
                self._buf = data
                self._pos = 0
                return
            if type(buf) is not bytearray:
                self._buf = buf = bytearray(memoryview(buf)[self._pos :])
                self._pos = 0
            buf += data
        else:
            self._eof = True

    def next_event(self) -> Event | type[NEED_DATA] | type[CLOSED]:
        """The next event, ``NEED_DATA`` or ``CLOSED``; RemoteProtocolError on bad input."""
        return self.next_audio_or_event(0)  # no rate is 0 Hz: every message is an event

    def next_audio_or_event(self, rate: int) -> bytes | Event | type[NEED_DATA] | type[CLOSED]:
        """Like ``next_event``, but audio at ``rate`` Hz comes back as its bare PCM
        (bytes): the per-frame path makes no event object."""
        if self._error is not None:
            raise RemoteProtocolError(f"peer already broke the protocol: {self._error}")
        try:
            return self._next_event(rate)
        except RemoteProtocolError as exc:
            self._error = exc
            self.their_state = State.ERROR
            raise

    def _next_event(self, raw_rate: int) -> bytes | Event | type[NEED_DATA] | type[CLOSED]:
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if self.their_state is State.CLOSED:
            # Only reachable after their HANGUP (EOF leaves nothing buffered).
            if avail:
                raise RemoteProtocolError(f"{avail} bytes of data after the peer's HANGUP")
            return CLOSED
        if avail < HEADER_SIZE:
            if not self._eof:
                return NEED_DATA
            if avail:
                raise RemoteProtocolError(
                    f"connection closed mid-message (got {avail} of {HEADER_SIZE} header bytes)"
                )
            self._close_both()
            return CLOSED
        kind, length = HEADER.unpack_from(buf, pos)
        rate = RATE_BY_BYTE.get(kind)
        # Fast path for the usual good audio frame; anything else gets the full checks.
        if (
            rate is None
            or self.their_state is not State.STREAMING
            or not 0 < length <= self.max_payload
            or length & 1
        ):
            self._check_header(kind, length)
        end = pos + HEADER_SIZE + length
        if len(buf) < end:
            if self._eof:
                raise RemoteProtocolError(
                    f"connection closed mid-message (got {avail} of {HEADER_SIZE + length} "
                    f"bytes, {KIND_BY_BYTE[kind].name} message)"
                )
            return NEED_DATA
        if type(buf) is bytes:
            payload = buf[pos + HEADER_SIZE : end]  # the one copy of a frame
        else:
            payload = bytes(memoryview(buf)[pos + HEADER_SIZE : end])
        if end == len(buf):
            self._buf = b""
            self._pos = 0
        elif end >= _COMPACT_AT and type(buf) is bytearray:
            del buf[:end]
            self._pos = 0
        else:
            self._pos = end

        if rate is not None:
            return payload if rate == raw_rate else Audio(payload, rate)
        if kind == Kind.UUID:
            self._identified(_uuid.UUID(bytes=payload))
            return Identify(self.uuid)
        if kind == Kind.DTMF:
            digit = chr(payload[0])
            if digit not in DTMF_DIGITS:
                raise RemoteProtocolError(
                    f"DTMF message with invalid digit byte 0x{payload[0]:02x} "
                    "(expected one of 0-9 * # A-D)"
                )
            return Dtmf(digit)
        if kind == Kind.HANGUP:
            # Asterisk reads only the header of a 0x00; we consumed any payload above.
            self._close_both()
            return Hangup()
        return Error(payload)

    def _check_header(self, kind: int, length: int) -> None:
        # Everything decidable from the header is checked here, before the body is
        # buffered: a hostile length never makes us wait for (or hold) 64 KiB.
        known = KIND_BY_BYTE.get(kind)
        if known is None:
            raise RemoteProtocolError(f"unknown message kind 0x{kind:02x}")
        name = known.name
        role = self.our_role
        peer = "client" if role is Role.SERVER else "server"
        if known is Kind.UUID and role is Role.SERVER:
            if self.their_state is not State.AWAITING_UUID:
                raise RemoteProtocolError("second UUID message (the call is already identified)")
        elif known not in self._allowed:
            raise RemoteProtocolError(
                f"{name} message (kind 0x{kind:02x}) from the {peer}: "
                "only audio and HANGUP are allowed"
            )
        elif self.their_state is State.AWAITING_UUID:
            if role is Role.SERVER:
                raise RemoteProtocolError(f"expected UUID first, got {name}")
            if known is not Kind.HANGUP:
                raise RemoteProtocolError(f"{name} message from the server before we sent our UUID")
        if length > self.max_payload:
            raise RemoteProtocolError(
                f"payload length {length} exceeds the limit of {self.max_payload} ({name} message)"
            )
        if known in AUDIO_KINDS:
            if length == 0:
                raise RemoteProtocolError(
                    f"audio message ({name}, kind 0x{kind:02x}) with zero-length payload"
                )
            if length & 1:
                raise RemoteProtocolError(
                    f"audio message ({name}, kind 0x{kind:02x}) with odd payload length {length} "
                    "(16-bit samples need an even length)"
                )
        elif known is Kind.UUID and length != UUID_SIZE:
            raise RemoteProtocolError(
                f"UUID message with a {length}-byte payload (expected {UUID_SIZE})"
            )
        elif known is Kind.DTMF and length != 1:
            raise RemoteProtocolError(f"DTMF message with a {length}-byte payload (expected 1)")

    def _identified(self, call_id: _uuid.UUID) -> None:
        # Only AWAITING_UUID moves on: a side already CLOSED (a HANGUP before the
        # UUID) or ERROR stays so.
        self.uuid = call_id
        if self.our_state is State.AWAITING_UUID:
            self.our_state = State.STREAMING
        if self.their_state is State.AWAITING_UUID:
            self.their_state = State.STREAMING

    def _close_both(self) -> None:
        self.their_state = State.CLOSED
        self.our_state = State.CLOSED

    # -- sending --------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        """Check ``event`` against our role and state; return header+payload for one write.

        Raises LocalProtocolError (state unchanged, nothing to write) for an event
        that would break the protocol; Asterisk would drop the call on most of them.
        """
        cls = type(event)
        states = _SENDABLE[self.our_role].get(cls)
        if states is None:
            if cls not in KIND_OF_EVENT:
                raise TypeError(f"not an AudioSocket event: {event!r}")
            raise LocalProtocolError(
                f"the {self.our_role.value} must not send {KIND_OF_EVENT[cls].name} messages"
                + (" (Asterisk drops the call)" if self.our_role is Role.SERVER else "")
            )
        if self.our_state not in states:
            self._refuse(event.kind.name if cls is Audio else KIND_OF_EVENT[cls].name)
        if cls is Audio:
            size = len(event.pcm)
            if not 0 < size <= self.max_payload or size & 1:
                self._refuse_audio(event.kind.name, size)
        data = encode(event)
        if cls is Identify:
            self._identified(event.uuid)
        elif cls is Hangup:
            self.our_state = State.CLOSED
        return data

    def send_audio(self, pcm: bytes, sample_rate: int = 8000) -> bytes:
        """``send(Audio(pcm, sample_rate))`` without making the event: the per-frame path."""
        size = len(pcm)
        kind = _KIND_BYTE_BY_RATE.get(sample_rate)
        if (
            kind is None
            or self.our_state is not State.STREAMING
            or not 0 < size <= self.max_payload
            or size & 1
            or type(pcm) is not bytes
        ):
            return self.send(Audio(pcm, sample_rate))  # the full checks and their messages
        return HEADER.pack(kind, size) + pcm

    def _refuse_audio(self, name: str, size: int) -> None:
        if size == 0:
            problem = "zero-length payload (Asterisk drops the call)"
        elif size & 1:
            problem = f"odd payload length {size} (16-bit samples need an even length)"
        else:
            problem = f"payload length {size} exceeds the limit of {self.max_payload}"
        raise LocalProtocolError(f"cannot send audio ({name}): {problem}")

    def _refuse(self, name: str) -> None:
        state = self.our_state
        if state is State.CLOSED:
            raise LocalProtocolError(f"cannot send {name}: the connection is closed")
        if state is State.STREAMING:
            raise LocalProtocolError(f"cannot send {name}: the call is already identified")
        if self.our_role is Role.CLIENT:
            raise LocalProtocolError(f"cannot send {name} before our UUID (send Identify first)")
        raise LocalProtocolError(f"cannot send {name} before the peer's UUID arrived")


_KIND_BYTE_BY_RATE: dict[int, int] = {rate: kind for kind, rate in RATE_BY_BYTE.items()}
_OPEN = frozenset({State.AWAITING_UUID, State.STREAMING})
_IDENTIFIED = frozenset({State.STREAMING})
# What each role may send, and in which of our states. Asterisk accepts only audio
# and HANGUP; as the client we send what Asterisk sends (it never sends ERROR).
_SENDABLE: dict[Role, dict[type, frozenset[State]]] = {
    Role.SERVER: {Audio: _IDENTIFIED, Hangup: _OPEN},
    Role.CLIENT: {
        Identify: frozenset({State.AWAITING_UUID}),
        Audio: _IDENTIFIED,
        Dtmf: _IDENTIFIED,
        Hangup: _OPEN,
    },
}
