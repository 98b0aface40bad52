"""A systemd ``EnvironmentFile=`` read the way systemd reads it (no shell).

systemd.exec(5) and ``parse_env_file_internal`` (src/basic/env-file.c): lines
whose first non-blank character is ``#`` or ``;`` are comments, but only there;
after the ``=``, everything up to the end of the line is the value, a ``# ...``
included (so ``KEY=   # note`` sets KEY to ``# note``). Leading and trailing
blanks around an unquoted value go; a backslash keeps the next character (and
joins lines); single quotes keep everything to the closing quote; double quotes
honour ``\\"``, ``\\\\``, ``\\``` and ``\\$`` and keep other backslashes. A line
without ``=`` is ignored, and so is a name systemd refuses (``export KEY``, a
leading digit): systemd logs and drops those assignments; we list them.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from agent.base.errors import ConfigError

_BLANK = " \t\n\r"
_NEWLINE = "\n\r"
_DOUBLE_QUOTE_ESCAPES = '"\\`$'
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_FILE = 1_000_000  # bytes: larger is not an environment file


@attrs.frozen
class EnvFile:
    values: dict[str, str]  # what the service would get, later lines winning
    ignored: tuple[str, ...]  # "line N: why", for what systemd drops


def parse_env_text(text: str) -> EnvFile:
    """Parse the text of an environment file with systemd's state machine."""
    values: dict[str, str] = {}
    ignored: list[str] = []
    key: list[str] = []
    value: list[str] = []
    key_blank_at: int | None = None  # where trailing blanks of the key begin
    value_blank_at: int | None = None  # same for an unquoted value
    line = 1
    state = "pre_key"

    def push(at_line: int) -> None:
        name = "".join(key[:key_blank_at] if key_blank_at is not None else key)
        text_value = "".join(value)
        if not _NAME.fullmatch(name):
            ignored.append(f"line {at_line}: {name!r} is not a valid variable name")
        else:
            values[name] = text_value

    for char in text:
        if state == "pre_key":
            if char in "#;":
                state = "comment"
            elif char not in _BLANK:
                state, key, key_blank_at = "key", [char], None
            elif char in _NEWLINE:
                line += 1
        elif state == "key":
            if char in _NEWLINE:
                ignored.append(f"line {line}: no '=' in {''.join(key).strip()!r}")
                state, key = "pre_key", []
                line += 1
            elif char == "=":
                state, value, value_blank_at = "pre_value", [], None
            else:
                if char not in _BLANK:
                    key_blank_at = None
                elif key_blank_at is None:
                    key_blank_at = len(key)
                key.append(char)
        elif state == "pre_value":
            if char in _NEWLINE:
                push(line)
                state, key, value = "pre_key", [], []
                line += 1
            elif char == "'":
                state = "single"
            elif char == '"':
                state = "double"
            elif char == "\\":
                state = "value_escape"
            elif char not in _BLANK:
                state = "value"
                value.append(char)
        elif state == "value":
            if char in _NEWLINE:
                if value_blank_at is not None:
                    del value[value_blank_at:]
                push(line)
                state, key, value, value_blank_at = "pre_key", [], [], None
                line += 1
            elif char == "\\":
                state, value_blank_at = "value_escape", None
            else:
                if char not in _BLANK:
                    value_blank_at = None
                elif value_blank_at is None:
                    value_blank_at = len(value)
                value.append(char)
        elif state == "value_escape":
            state = "value"
            if char not in _NEWLINE:
                value.append(char)
            else:
                line += 1
        elif state == "single":
            if char == "'":
                state = "pre_value"
            else:
                line += char == "\n"
                value.append(char)
        elif state == "double":
            if char == '"':
                state = "pre_value"
            elif char == "\\":
                state = "double_escape"
            else:
                line += char == "\n"
                value.append(char)
        elif state == "double_escape":
            state = "double"
            if char in _DOUBLE_QUOTE_ESCAPES:
                value.append(char)
            elif char != "\n":
                value.extend(("\\", char))
            else:
                line += 1
        elif state == "comment":
            if char == "\\":
                state = "comment_escape"
            elif char in _NEWLINE:
                state = "pre_key"
                line += 1
        elif state == "comment_escape":  # since systemd 254: the next line is not a comment
            if char in _NEWLINE:
                state = "pre_key"
                line += 1
            else:
                state = "comment"

    if state in ("pre_value", "value", "value_escape", "single", "double", "double_escape"):
        if state == "value" and value_blank_at is not None:
            del value[value_blank_at:]
        push(line)
    elif state == "key":
        ignored.append(f"line {line}: no '=' in {''.join(key).strip()!r}")
    return EnvFile(values, tuple(ignored))


def read_env_file(path: str | Path) -> EnvFile:
    """Read and parse ``path``; a file that cannot be read is a ConfigError naming it."""
    try:
        data = Path(path).read_bytes()[: MAX_FILE + 1]
    except OSError as exc:
        raise ConfigError(f"env file {str(path)!r}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE:
        raise ConfigError(f"env file {str(path)!r}: larger than {MAX_FILE} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"env file {str(path)!r}: not UTF-8 (byte {exc.start})") from None
    if "\x00" in text:
        raise ConfigError(f"env file {str(path)!r}: contains a NUL byte")
    return parse_env_text(text.removeprefix("\ufeff"))
