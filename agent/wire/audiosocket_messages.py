"""AudioSocket messages: their kinds, the events they carry and their encoding.

A message is a 3-byte header (kind byte, big-endian uint16 payload length) and
the payload. Audio is little-endian int16 mono PCM whose rate follows from the
kind (0x10 = 8 kHz ... 0x18 = 192 kHz). Pure values and functions; the
per-direction state machine that decides who may send what, and when, is
``audiosocket.Connection`` (import everything from ``agent.wire.audiosocket``).
"""

from __future__ import annotations

import enum
import struct
import uuid as _uuid

import attrs

from agent.base.errors import LocalProtocolError

__all__ = [
    "AUDIO_KINDS",
    "DTMF_DIGITS",
    "HEADER",
    "HEADER_SIZE",
    "KIND_BY_BYTE",
    "KIND_OF_EVENT",
    "RATE_BY_BYTE",
    "UUID_SIZE",
    "WIRE_MAX_PAYLOAD",
    "Audio",
    "Dtmf",
    "Error",
    "Event",
    "Hangup",
    "Identify",
    "Kind",
    "encode",
    "kind_for_rate",
    "rate_for_kind",
]

HEADER_SIZE = 3
WIRE_MAX_PAYLOAD = 0xFFFF  # what the 16-bit length field can express
UUID_SIZE = 16
DTMF_DIGITS = frozenset("0123456789*#ABCD")

HEADER = struct.Struct(">BH")  # kind byte, big-endian payload length


class Kind(enum.IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10  # 8 kHz slin
    AUDIO_SLIN12 = 0x11
    AUDIO_SLIN16 = 0x12
    AUDIO_SLIN24 = 0x13
    AUDIO_SLIN32 = 0x14
    AUDIO_SLIN44 = 0x15
    AUDIO_SLIN48 = 0x16
    AUDIO_SLIN96 = 0x17
    AUDIO_SLIN192 = 0x18
    ERROR = 0xFF


_RATES = (8000, 12000, 16000, 24000, 32000, 44100, 48000, 96000, 192000)
_RATE_BY_KIND: dict[Kind, int] = {Kind(0x10 + i): rate for i, rate in enumerate(_RATES)}
_KIND_BY_RATE: dict[int, Kind] = {rate: kind for kind, rate in _RATE_BY_KIND.items()}
AUDIO_KINDS: frozenset[Kind] = frozenset(_RATE_BY_KIND)
# Plain-int lookups keep the per-message decode path free of enum construction.
KIND_BY_BYTE: dict[int, Kind] = {int(kind): kind for kind in Kind}
RATE_BY_BYTE: dict[int, int] = {int(kind): rate for kind, rate in _RATE_BY_KIND.items()}


def rate_for_kind(kind: int) -> int:
    """Sample rate in Hz of an audio kind (0x10..0x18); ValueError for other kinds."""
    try:
        return RATE_BY_BYTE[kind]
    except KeyError:
        raise ValueError(f"message kind 0x{int(kind):02x} is not an audio kind") from None


def kind_for_rate(rate: int) -> Kind:
    """Audio kind for a sample rate in Hz; ValueError for a rate AudioSocket cannot carry."""
    try:
        return _KIND_BY_RATE[rate]
    except (KeyError, TypeError):
        rates = ", ".join(str(r) for r in _KIND_BY_RATE)
        raise ValueError(
            f"AudioSocket cannot carry a sample rate of {rate!r} Hz; use one of {rates}"
        ) from None


# --- events -------------------------------------------------------------------


def _check_sample_rate(_instance: object, _attribute: object, rate: int) -> None:
    kind_for_rate(rate)


def _check_digit(_instance: object, _attribute: object, digit: str) -> None:
    if digit not in DTMF_DIGITS or len(digit) != 1:
        raise ValueError(f"DTMF digit must be one of 0-9 * # A-D, got {digit!r}")


@attrs.frozen
class Identify:
    """The first message from Asterisk: the call's UUID (kind 0x01)."""

    uuid: _uuid.UUID = attrs.field(validator=attrs.validators.instance_of(_uuid.UUID))


@attrs.frozen
class Audio:
    """Signed 16-bit little-endian mono PCM at ``sample_rate`` (kinds 0x10..0x18)."""

    pcm: bytes = attrs.field(repr=lambda pcm: f"<{len(pcm)} bytes>")
    sample_rate: int = attrs.field(default=8000, validator=_check_sample_rate)

    @property
    def kind(self) -> Kind:
        return _KIND_BY_RATE[self.sample_rate]

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.pcm) / (2 * self.sample_rate)


@attrs.frozen
class Dtmf:
    """One DTMF digit, sent by Asterisk at the digit's end (kind 0x03)."""

    digit: str = attrs.field(validator=_check_digit)


@attrs.frozen
class Hangup:
    """Kind 0x00: the sender ends the session. Asterisk never sends it."""


@attrs.frozen
class Error:
    """Kind 0xFF with an application-defined payload (Asterisk never sends it)."""

    payload: bytes = b""

    @property
    def code(self) -> int | None:
        """The first payload byte (the old Go library's error code), or None."""
        return self.payload[0] if self.payload else None


Event = Identify | Audio | Dtmf | Hangup | Error


# --- encoding -------------------------------------------------------------------


def _payload_of(event: Event) -> tuple[int, bytes]:
    # Audio first: it is nearly every message.
    if type(event) is Audio:
        return _KIND_BY_RATE[event.sample_rate], event.pcm
    if type(event) is Hangup:
        return Kind.HANGUP, b""
    if type(event) is Dtmf:
        return Kind.DTMF, event.digit.encode("ascii")
    if type(event) is Identify:
        return Kind.UUID, event.uuid.bytes
    if type(event) is Error:
        return Kind.ERROR, event.payload
    raise TypeError(f"not an AudioSocket event: {event!r}")


def encode(event: Event) -> bytes:
    """Header plus payload of ``event`` with no role or state checks (tests, fuzzing).

    Only the 16-bit length field limits it; use ``Connection.send`` for real traffic.
    """
    kind, payload = _payload_of(event)
    if len(payload) > WIRE_MAX_PAYLOAD:
        raise LocalProtocolError(
            f"{Kind(kind).name} payload of {len(payload)} bytes does not fit the "
            f"16-bit length field (max {WIRE_MAX_PAYLOAD})"
        )
    return HEADER.pack(kind, len(payload)) + payload


# The kind of each event class but audio (whose kind follows from its rate).
KIND_OF_EVENT: dict[type, Kind] = {
    Identify: Kind.UUID,
    Dtmf: Kind.DTMF,
    Hangup: Kind.HANGUP,
    Error: Kind.ERROR,
}
