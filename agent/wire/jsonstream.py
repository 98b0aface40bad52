"""Stream the ``response`` field out of an LLM reply shaped as a JSON object.

The model answers ``{"response": "...", "action": "...", "variables": {...}}``
token by token. ``ResponseExtractor.feed(fragment)`` returns the part of the
``response`` string decoded so far that is new, as soon as it arrives (long before
the JSON closes), so speech can start at once. Fragments may split anywhere:
inside keys, escapes (``\\n``, ``\\"``, ``\\u00e9``) and surrogate pairs
(``\\ud83d\\ude00``); text is given out only once an escape is complete.
``finish()`` parses the whole reply with ``json.loads`` and returns a
``StructuredReply``; malformed JSON raises ``ReplyFormatError`` saying where.

Tolerated around the object: whitespace and a markdown code fence (```json).
The streamed text follows the first top-level ``response`` key; ``finish`` is
the authority for everything else.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from agent.base.errors import RemoteProtocolError

__all__ = ["ReplyFormatError", "ResponseExtractor", "StructuredReply"]

_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n"}
_SIMPLE_ESCAPES |= {"r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")


class ReplyFormatError(RemoteProtocolError):
    """The model's reply is not the JSON object we asked for."""


@attrs.frozen
class StructuredReply:
    response: str
    action: str | None
    variables: dict[str, Any] = attrs.field(hash=False)
    raw: dict[str, Any] = attrs.field(hash=False, repr=False)  # the whole object


class ResponseExtractor:
    """Feed fragments; get the newly decoded ``response`` text back from each."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._started = False  # saw the opening "{"
        self._depth = 0
        self._in_string = False
        self._escape = ""  # raw escape being read, starting with "\\"
        self._expect_key = False
        self._key_raw: list[str] | None = None  # raw text of a depth-1 key being read
        self._last_key: str | None = None
        self._streaming = False  # inside the response string value
        self._seen_response = False
        self._high_surrogate = ""  # decoded, waiting for a possible low surrogate
        self.response_complete = False
        self.text = ""  # all the response text decoded so far

    def feed(self, fragment: str) -> str:
        self._parts.append(fragment)
        out: list[str] = []
        for char in fragment:
            self._step(char, out)
        new = "".join(out)
        self.text += new
        return new

    def finish(self) -> StructuredReply:
        raw = "".join(self._parts).strip()
        if raw.startswith("```"):
            raw = raw.split("\n", 1)[1] if "\n" in raw else ""
            raw = raw.rstrip().removesuffix("```")
        if not raw:
            raise ReplyFormatError("the model's reply was empty, not a JSON object")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ReplyFormatError(
                f"the model's reply is not valid JSON: {exc.msg} at line {exc.lineno} "
                f"column {exc.colno}: {_excerpt(raw, exc.pos)!r}"
            ) from exc
        if not isinstance(value, dict):
            raise ReplyFormatError(f"the model's reply is a {type(value).__name__}, not an object")
        response = value.get("response", "")
        action = value.get("action")
        variables = value.get("variables") or {}
        if not isinstance(response, str):
            raise ReplyFormatError(f'"response" must be a string, got {response!r}')
        if action is not None and not isinstance(action, str):
            raise ReplyFormatError(f'"action" must be a string, got {action!r}')
        if not isinstance(variables, dict):
            raise ReplyFormatError(f'"variables" must be an object, got {variables!r}')
        return StructuredReply(response, action, variables, value)

    # --- the incremental scanner ------------------------------------------------

    def _step(self, char: str, out: list[str]) -> None:
        if self._in_string:
            self._string_char(char, out)
        elif not self._started:
            if char == "{":
                self._started = True
                self._depth = 1
                self._expect_key = True
        elif self._depth == 0:
            return  # after the object: left to finish()
        elif char == '"':
            self._in_string = True
            if self._depth == 1 and self._expect_key:
                self._key_raw = []
            elif self._depth == 1 and self._last_key == "response" and not self._seen_response:
                self._streaming = self._seen_response = True
        elif char in "{[":
            self._depth += 1
        elif char in "}]":
            self._depth -= 1
        elif self._depth == 1 and char == ",":
            self._expect_key = True
            self._last_key = None
        elif self._depth == 1 and char == ":":
            self._expect_key = False

    def _string_char(self, char: str, out: list[str]) -> None:
        if self._escape:
            self._escape += char
            decoded = self._decode_escape()
            if decoded is None:
                return
            self._escape = ""
            self._string_text(decoded, out, escaped=True)
            return
        if char == "\\":
            self._escape = char
        elif char == '"':
            self._in_string = False
            if self._key_raw is not None:
                self._last_key = json.loads('"' + "".join(self._key_raw) + '"')
                self._key_raw = None
            elif self._streaming:
                self._streaming = False
                self.response_complete = True
                out.append(self._high_surrogate)
                self._high_surrogate = ""
        else:
            self._string_text(char, out)

    def _decode_escape(self) -> str | None:
        """The escape in ``self._escape`` decoded, or None while incomplete."""
        esc = self._escape
        if esc[1] != "u":
            if esc[1] not in _SIMPLE_ESCAPES:
                raise ReplyFormatError(f"invalid escape {esc!r} in a JSON string")
            return _SIMPLE_ESCAPES[esc[1]]
        if len(esc) > 2 and esc[-1] not in _HEX:
            raise ReplyFormatError(f"invalid unicode escape {esc!r} in a JSON string")
        return chr(int(esc[2:], 16)) if len(esc) == 6 else None

    def _string_text(self, text: str, out: list[str], *, escaped: bool = False) -> None:
        if self._key_raw is not None:
            # Keep the key raw (escaped) so json.loads can decode it in one go.
            self._key_raw.append(_reescape(text))
            return
        if not self._streaming:
            return
        # Like json.loads: an escaped high surrogate pairs with an immediately
        # following escaped low one; anything else stands alone.
        if self._high_surrogate:
            if escaped and "\udc00" <= text <= "\udfff":
                text = (
                    (self._high_surrogate + text).encode("utf-16", "surrogatepass").decode("utf-16")
                )
                self._high_surrogate = ""
                out.append(text)
                return
            out.append(self._high_surrogate)
            self._high_surrogate = ""
        if escaped and "\ud800" <= text <= "\udbff":
            self._high_surrogate = text
        else:
            out.append(text)


def _reescape(text: str) -> str:
    return json.dumps(text)[1:-1]


def _excerpt(raw: str, pos: int) -> str:
    return raw[max(pos - 20, 0) : pos + 20]
