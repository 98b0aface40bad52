"""Asterisk AGI / FastAGI codec, sans-IO in the style of h11 (no I/O, no trio).

We play the AGI *script* side: Asterisk sends an environment block of
``agi_name: value`` lines ended by an empty line, then we send one command line
at a time and read its reply before sending the next. Over FastAGI the block
starts with ``agi_network: yes`` and ``agi_network_script: <path?query>``.

``AgiConnection.receive_data(bytes)`` feeds what was read (``b""`` is EOF);
``next_event()`` returns an ``Environment`` (once, first), a ``Reply`` (one per
command sent), a ``HangupNotice`` (FastAGI's asynchronous ``HANGUP`` line: not a
reply, it may come before the reply we wait for and may come twice),
``NEED_DATA`` or ``CLOSED`` (EOF at a line boundary after the environment).
``send_command(line)`` returns the bytes to write and enforces one outstanding
command. The command builders (``set_variable``...) quote arguments the way
Asterisk's ``parse_args`` splits them: double quotes group, backslash escapes.

Garbage from the peer raises ``RemoteProtocolError`` (and every later
``next_event`` raises again); a command we must not send raises
``LocalProtocolError``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from urllib.parse import parse_qs

import attrs

from agent.base.errors import LocalProtocolError, RemoteProtocolError

# Asterisk reads commands with fgets into an 8192-byte buffer; its own lines
# (environment values, replies with variable data) are bounded the same way.
MAX_LINE = 8192
# Asterisk's environment is about 25 lines of a few dozen bytes each (plus the
# script's arguments); a peer that sends more is not Asterisk, and everything it
# sends before the blank line would otherwise be kept.
MAX_ENV_LINES = 300
MAX_ENV_BYTES = 256 * 1024
# A 520 usage reply is a screenful of text.
MAX_USAGE_LINES = 200

_ENV_KEY = re.compile(r"agi_[a-z0-9_]+")
_REPLY = re.compile(r"(\d{3})([ -])(.*)")
_RESULT = re.compile(r"result=(-?\d+)(.*)")
_FIELD = re.compile(r"([A-Za-z_]+)=(\S*)")
# A variable or function name as SET/GET VARIABLE take it: no blanks, no quotes.
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*(\([^\s\"\\]*\))?")


class Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"
    CLOSED = "CLOSED"


NEED_DATA = Sentinel.NEED_DATA
CLOSED = Sentinel.CLOSED


@attrs.frozen
class Environment:
    """The ``agi_*`` variables Asterisk sent before the first command."""

    variables: Mapping[str, str]

    def get(self, name: str, default: str = "") -> str:
        """A variable by name, with or without the ``agi_`` prefix."""
        key = name if name.startswith("agi_") else f"agi_{name}"
        return self.variables.get(key, default)

    @property
    def network(self) -> bool:
        return self.get("network") == "yes"

    @property
    def network_script(self) -> str:
        """Everything after the host part of the ``agi://`` URL, query included."""
        return self.get("network_script")

    @property
    def script(self) -> str:
        """The script name without slashes around it or the query string."""
        return self.network_script.partition("?")[0].strip("/")

    @property
    def query(self) -> dict[str, str]:
        """The URL's query parameters (the first value of each)."""
        query = self.network_script.partition("?")[2]
        return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}

    @property
    def args(self) -> tuple[str, ...]:
        """``agi_arg_1`` .. ``agi_arg_N`` in order (stops at the first gap)."""
        out: list[str] = []
        while f"agi_arg_{len(out) + 1}" in self.variables:
            out.append(self.variables[f"agi_arg_{len(out) + 1}"])
        return tuple(out)

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def callerid(self) -> str:
        """The caller's number, empty when Asterisk says ``unknown``."""
        return _known(self.get("callerid"))

    @property
    def calleridname(self) -> str:
        return _known(self.get("calleridname"))

    @property
    def dnid(self) -> str:
        return _known(self.get("dnid"))

    @property
    def extension(self) -> str:
        return self.get("extension")


def _known(value: str) -> str:
    return "" if value == "unknown" else value


@attrs.frozen
class Reply:
    """One reply: ``200 result=1 (data)``, ``510 ...``, or a multi-line ``520``."""

    code: int
    result: int | None = None  # the ``result=`` number of a 200 reply
    data: str | None = None  # what stood between the first "(" and the last ")"
    fields: Mapping[str, str] = attrs.field(factory=dict)  # e.g. endpos=1234
    text: str = ""  # the line after the code (error replies)
    usage: tuple[str, ...] = ()  # the usage lines of a multi-line 520

    @property
    def ok(self) -> bool:
        return self.code == 200


@attrs.frozen
class HangupNotice:
    """FastAGI's ``HANGUP`` line: the channel is gone, the session goes on dead."""


Event = Environment | Reply | HangupNotice


def parse_reply_line(line: str) -> Reply:
    """Parse a one-line reply (``200 result=...`` or ``5xx text``)."""
    match = _REPLY.fullmatch(line)
    if match is None or match.group(2) != " ":
        raise RemoteProtocolError(f"AGI: not a reply line: {line[:80]!r}")
    code, rest = int(match.group(1)), match.group(3)
    if code != 200:
        return Reply(code=code, text=rest)
    result = _RESULT.match(rest)
    if result is None:
        raise RemoteProtocolError(f"AGI: 200 reply without result=: {line[:80]!r}")
    tail = result.group(2)
    data = None
    if "(" in tail and tail.rfind(")") > tail.find("("):
        data = tail[tail.find("(") + 1 : tail.rfind(")")]
        tail = tail[: tail.find("(")] + tail[tail.rfind(")") + 1 :]
    fields = dict(_FIELD.findall(tail))
    return Reply(code=200, result=int(result.group(1)), data=data, fields=fields)


class AgiConnection:
    """The script side of one AGI session (FastAGI socket or stdin/stdout)."""

    def __init__(
        self,
        *,
        max_line: int = MAX_LINE,
        max_env_lines: int = MAX_ENV_LINES,
        max_env_bytes: int = MAX_ENV_BYTES,
    ) -> None:
        self._max_line = max_line
        self._max_env_lines = max_env_lines
        self._max_env_bytes = max_env_bytes
        self._env_lines = 0
        self._env_bytes = 0
        self._buffer = bytearray()
        self._eof = False
        self._error: RemoteProtocolError | None = None
        self._env: dict[str, str] | None = {}  # None once the block is complete
        self._usage: list[str] | None = None  # lines of a 520- reply in progress
        self.environment: Environment | None = None
        self.awaiting_reply = False
        self.hung_up = False  # a HANGUP notice was seen
        self.closed = False

    def receive_data(self, data: bytes) -> None:
        if self._eof and data:
            raise LocalProtocolError("AGI: data received after EOF")
        if not data:
            self._eof = True
        self._buffer += data

    def next_event(self) -> Event | Sentinel:
        if self._error is not None:
            raise self._error
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self._error = exc
            raise

    def _next_event(self) -> Event | Sentinel:
        while True:
            line = self._next_line()
            if line is None:
                return self._at_end_of_data()
            event = self._handle_line(line)
            if event is not None:
                return event

    def _next_line(self) -> str | None:
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > self._max_line:
                raise RemoteProtocolError(f"AGI: line longer than {self._max_line} bytes")
            return None
        if end > self._max_line:
            raise RemoteProtocolError(f"AGI: line longer than {self._max_line} bytes")
        raw = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return raw.decode("utf-8", errors="replace").removesuffix("\r")

    def _at_end_of_data(self) -> Sentinel:
        if not self._eof:
            return NEED_DATA
        if self._buffer:
            raise RemoteProtocolError("AGI: connection closed in the middle of a line")
        if self._env is not None:
            raise RemoteProtocolError("AGI: connection closed before the environment ended")
        if self._usage is not None:
            raise RemoteProtocolError("AGI: connection closed inside a 520 usage reply")
        self.closed = True
        return CLOSED

    def _handle_line(self, line: str) -> Event | None:
        if self._env is not None:
            return self._environment_line(line)
        if self._usage is not None:
            if line.startswith("520 "):
                usage, self._usage = tuple(self._usage), None
                return self._reply(Reply(code=520, text=line[4:], usage=usage))
            if len(self._usage) >= MAX_USAGE_LINES:
                raise RemoteProtocolError(
                    f"AGI: 520 usage reply longer than {MAX_USAGE_LINES} lines"
                )
            self._usage.append(line)
            return None
        if line.strip() == "HANGUP":
            self.hung_up = True
            return HangupNotice()
        if not self.awaiting_reply:
            raise RemoteProtocolError(f"AGI: unexpected line with no command sent: {line[:80]!r}")
        if line.startswith("520-"):
            self._usage = []
            return None
        return self._reply(parse_reply_line(line))

    def _environment_line(self, line: str) -> Environment | None:
        assert self._env is not None
        if not line:
            if not self._env:
                raise RemoteProtocolError("AGI: empty environment block")
            self.environment = Environment(self._env)
            self._env = None
            return self.environment
        self._env_lines += 1
        self._env_bytes += len(line) + 1
        if self._env_lines > self._max_env_lines or self._env_bytes > self._max_env_bytes:
            raise RemoteProtocolError(
                f"AGI: environment longer than {self._max_env_lines} lines or"
                f" {self._max_env_bytes} bytes"
            )
        key, colon, value = line.partition(":")
        if not colon or _ENV_KEY.fullmatch(key) is None:
            raise RemoteProtocolError(f"AGI: not an agi_* environment line: {line[:80]!r}")
        self._env[key] = value.removeprefix(" ")
        return None

    def _reply(self, reply: Reply) -> Reply:
        self.awaiting_reply = False
        return reply

    def send_command(self, command: str) -> bytes:
        """The bytes of one command line; only one command may be outstanding."""
        if self.environment is None:
            raise LocalProtocolError("AGI: command before the environment was received")
        if self.awaiting_reply:
            raise LocalProtocolError("AGI: a command is still waiting for its reply")
        if any(c in command for c in "\r\n\0"):
            raise LocalProtocolError("AGI: a command must be one line without NUL")
        data = command.encode() + b"\n"
        if len(data) > MAX_LINE:
            raise LocalProtocolError(f"AGI: command longer than {MAX_LINE} bytes")
        self.awaiting_reply = True
        return data


# Command builders -----------------------------------------------------------


def quote(value: str) -> str:
    """One AGI argument: always double-quoted, ``\\`` and ``"`` escaped."""
    if any(c in value for c in "\r\n\0"):
        raise LocalProtocolError(f"AGI: an argument cannot hold a line break or NUL: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _name(name: str) -> str:
    if _VAR_NAME.fullmatch(name) is None:
        raise LocalProtocolError(f"AGI: not a variable or function name: {name!r}")
    return name


def set_variable(name: str, value: str) -> str:
    return f"SET VARIABLE {_name(name)} {quote(value)}"


def get_variable(name: str) -> str:
    return f"GET VARIABLE {_name(name)}"


def get_full_variable(expression: str) -> str:
    return f"GET FULL VARIABLE {quote(expression)}"


def verbose(message: str, level: int = 1) -> str:
    if not 1 <= level <= 4:
        raise LocalProtocolError(f"AGI: VERBOSE level must be 1..4, got {level}")
    return f"VERBOSE {quote(message)} {level}"


def exec_app(application: str, options: str = "") -> str:
    if not application.isidentifier():
        raise LocalProtocolError(f"AGI: not an application name: {application!r}")
    return f"EXEC {application} {quote(options)}"


def answer() -> str:
    return "ANSWER"


def noop() -> str:
    return "NOOP"


def hangup(channel: str | None = None) -> str:
    return "HANGUP" if channel is None else f"HANGUP {quote(channel)}"
