"""The kinds of value a setting holds: how its text parses and what it may be.

Each kind has the same small face (``SettingKind``): ``parse(text)`` turns the
stripped text of an environment variable into a value, ``check(value)`` checks a
value made in code (an attrs field's validator), ``show(value)`` writes a value
back as text (for the generated ``.env.example``), and ``describe`` names the
kind in the configuration reference. Both ``parse`` and ``check`` raise
``ValueError`` with the reason only; the reader (``agent.base.settings.reader``)
adds the variable's name and the bad value, so every message reads
``NAME='value': reason``.

Numbers are finite and bounded on both sides (an absurd value is refused, not
trusted); text never holds control characters, whitespace inside a key, nor is
it longer than a setting could sensibly be.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

MAX_TEXT = 2000  # characters: longer is a pasted file, not a setting
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOST = re.compile(r"[A-Za-z0-9_.:\-]+")


class SettingKind(Protocol):
    describe: str

    def parse(self, text: str) -> Any: ...

    def check(self, value: Any) -> None: ...

    def show(self, value: Any) -> str: ...


def _plain_text(text: str) -> None:
    if len(text) > MAX_TEXT:
        raise ValueError(f"longer than {MAX_TEXT} characters")
    if _CONTROL.search(text):
        raise ValueError("contains a control character")


def _bounded(value: float, lo: float, hi: float, unit: str = "") -> None:
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    if not lo <= value <= hi:
        raise ValueError(f"must be {lo:g} to {hi:g}{f' {unit}' if unit else ''}")


@attrs.frozen
class Int:
    """A whole number in ``lo..hi``; with ``choices`` only those."""

    lo: int
    hi: int
    choices: tuple[int, ...] = ()

    @property
    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        return f"integer {self.lo}..{self.hi}"

    def parse(self, text: str) -> int:
        if not _INT.fullmatch(text):
            raise ValueError("expected a whole number")
        value = int(text)
        self.check(value)
        return value

    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected a whole number")
        if self.choices and value not in self.choices:
            raise ValueError(f"expected one of {', '.join(map(str, self.choices))}")
        _bounded(value, self.lo, self.hi)

    def show(self, value: Any) -> str:
        return str(value)


@attrs.frozen
class Port:
    """A TCP port; ``zero`` says what 0 means (a free port, or off), if allowed."""

    zero: str = ""

    @property
    def describe(self) -> str:
        return f"port 0..65535 (0: {self.zero})" if self.zero else "port 1..65535"

    def parse(self, text: str) -> int:
        if not _INT.fullmatch(text):
            raise ValueError("expected a TCP port number")
        value = int(text)
        self.check(value)
        return value

    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected a TCP port number")
        if not (0 if self.zero else 1) <= value <= 65535:
            raise ValueError(f"a TCP port is {0 if self.zero else 1}..65535")

    def show(self, value: Any) -> str:
        return str(value)


@attrs.frozen
class Float:
    """A finite number in ``lo..hi`` (never inf or nan)."""

    lo: float
    hi: float

    @property
    def describe(self) -> str:
        return f"number {self.lo:g}..{self.hi:g}"

    def parse(self, text: str) -> float:
        if not _FLOAT.fullmatch(text):
            finite = text.lower().lstrip("+-") not in ("inf", "infinity", "nan")
            raise ValueError("expected a number" if finite else "expected a finite number")
        value = float(text)
        self.check(value)
        return value

    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        _bounded(float(value), self.lo, self.hi)

    def show(self, value: Any) -> str:
        return f"{value:g}"


@attrs.frozen
class Bool:
    describe: str = "boolean (1/0, true/false, yes/no, on/off)"

    def parse(self, text: str) -> bool:
        word = text.lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError("expected true or false (1/0, yes/no, on/off)")

    def check(self, value: Any) -> None:
        if not isinstance(value, bool):
            raise ValueError("expected true or false")

    def show(self, value: Any) -> str:
        return "1" if value else "0"


@attrs.frozen
class Choice:
    """One word of ``choices`` (any case; the value is the listed spelling)."""

    choices: tuple[str, ...]

    @property
    def describe(self) -> str:
        return "one of " + ", ".join(self.choices)

    def parse(self, text: str) -> str:
        for choice in self.choices:
            if text.lower() == choice.lower():
                return choice
        raise ValueError(f"expected one of {', '.join(self.choices)}")

    def check(self, value: Any) -> None:
        if value not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}")

    def show(self, value: Any) -> str:
        return str(value)


@attrs.frozen
class Text:
    """Free text of one line; ``pattern`` (with ``hint`` for the message) narrows it."""

    pattern: str = ""
    hint: str = ""

    @property
    def describe(self) -> str:
        return self.hint or "text"

    def parse(self, text: str) -> str:
        self.check(text)
        return text

    def check(self, value: Any) -> None:
        if not isinstance(value, str):
            raise ValueError("expected text")
        _plain_text(value)
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ValueError(f"expected {self.hint or self.pattern}")

    def show(self, value: Any) -> str:
        return str(value)


@attrs.frozen
class Secret:
    """An API key or password: printable, no spaces (an inline ``# comment`` in an
    env file becomes part of the value under systemd: caught here). Never shown."""

    describe: str = "secret"

    def parse(self, text: str) -> str:
        self.check(text)
        return text

    def check(self, value: Any) -> None:
        if not isinstance(value, str):
            raise ValueError("expected text")
        _plain_text(value)
        if not value:
            raise ValueError("is empty")
        if re.search(r"\s", value):
            raise ValueError("contains a space (an inline '# comment' in an env file?)")
        if value.startswith(("#", '"', "'")):
            raise ValueError("starts with '#' or a quote (a comment or stray quote in the file?)")

    def show(self, value: Any) -> str:
        return ""


@attrs.frozen
class EnvName:
    """The name of another environment variable (which holds a secret)."""

    describe: str = "variable name"

    def parse(self, text: str) -> str:
        self.check(text)
        return text

    def check(self, value: Any) -> None:
        if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
            raise ValueError("expected a variable name (letters, digits, _)")

    def show(self, value: Any) -> str:
        return str(value)


@attrs.frozen
class Host:
    describe: str = "host name or IP address"

    def parse(self, text: str) -> str:
        self.check(text)
        return text

    def check(self, value: Any) -> None:
        if not isinstance(value, str) or not _HOST.fullmatch(value) or len(value) > 253:
            raise ValueError("expected a host name or IP address")

    def show(self, value: Any) -> str:
        return str(value)


@attrs.frozen
class FilePath:
    """A file or folder path (its existence is checked where it is used)."""

    describe: str = "path"

    def parse(self, text: str) -> str:
        self.check(text)
        return text

    def check(self, value: Any) -> None:
        if not isinstance(value, str):
            raise ValueError("expected a path")
        _plain_text(value)

    def show(self, value: Any) -> str:
        return str(value)


@attrs.frozen
class Url:
    """A URL with one of ``schemes`` and a host; ``bare`` forbids a path, ``query``
    allows a query string."""

    schemes: tuple[str, ...]
    bare: bool = False
    query: bool = False

    @property
    def describe(self) -> str:
        return " or ".join(f"{s}://" for s in self.schemes) + (" host[:port]" if self.bare else "")

    def parse(self, text: str) -> str:
        self.check(text)
        return text

    def check(self, value: Any) -> None:
        if not isinstance(value, str):
            raise ValueError("expected a URL")
        _plain_text(value)
        want = " or ".join(f"{s}://" for s in self.schemes)
        try:
            parts = urllib.parse.urlsplit(value)
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError:
            raise ValueError(f"expected a URL ({want})") from None
        if parts.scheme not in self.schemes or not parts.hostname or " " in value:
            raise ValueError(f"expected a URL ({want})")
        if self.bare and parts.path not in ("", "/"):
            raise ValueError(f"expected {want}host[:port], no path")
        if not self.query and (parts.query or parts.fragment):
            raise ValueError("no query string or fragment (the settings make it)")

    def show(self, value: Any) -> str:
        return str(value)


@attrs.frozen
class Words:
    """A comma list. With ``choices`` each item is one of them and an empty item is
    an error; otherwise empty items are dropped and ``item`` (a kind) checks each."""

    choices: tuple[str, ...] = ()
    item: Text = Text()
    noun: str = "item"  # for the message: "unknown TTS 'polly'"

    @property
    def describe(self) -> str:
        if self.choices:
            return "comma list of " + ", ".join(self.choices)
        return "comma list" + (f" of {self.item.hint}" if self.item.hint else "")

    def parse(self, text: str) -> tuple[str, ...]:
        _plain_text(text)
        parts = [part.strip() for part in text.split(",")]
        if not self.choices:
            value = tuple(part for part in parts if part)
            self.check(value)
            return value
        value = tuple(part.lower() for part in parts)
        self.check(value)
        return value

    def check(self, value: Any) -> None:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ValueError("expected a comma list")
        for item in value:
            if self.choices and item not in self.choices:
                raise ValueError(
                    f"unknown {self.noun} {item[:40]!r}; choose from {', '.join(self.choices)}"
                )
            if not self.choices:
                try:
                    self.item.check(item)
                except ValueError as exc:
                    raise ValueError(f"{self.noun} {item[:40]!r}: {exc}") from None

    def show(self, value: Any) -> str:
        return ",".join(value)
