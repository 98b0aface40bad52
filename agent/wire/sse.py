"""Server-sent events (text/event-stream) decoder, sans-IO.

Feed it what arrives (bytes or text, any split) and it returns the events that
became complete. It follows the WHATWG SSE parsing rules: lines end in CRLF,
LF or a lone CR; an empty line dispatches the event; ``data:`` lines are joined
with ``\\n``; one space after the colon is dropped; lines starting with ``:``
are comments (keep-alives); ``event``, ``id`` and ``retry`` set their fields and
unknown fields are ignored. Unlike a browser it is strict about bytes: invalid
UTF-8 or a runaway line raises ``RemoteProtocolError`` instead of being patched.

No trio, no sockets: the HTTP client owns the I/O and calls ``feed``.
"""

from __future__ import annotations

import codecs
import re

import attrs

from agent.base.errors import LocalProtocolError, RemoteProtocolError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


@attrs.frozen
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SseDecoder:
    """Incremental SSE decoder: ``feed`` chunks, ``feed_line`` lines, ``feed_eof`` at the end.

    ``truncated`` is true after ``feed_eof`` if the stream stopped inside an
    event (which the spec says to drop, and this decoder drops).
    """

    def __init__(self, *, max_line_length: int = 1 << 20) -> None:
        self.max_line_length = max_line_length
        self.truncated = False
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._partial = ""  # text after the last line break
        self._skip_lf = False  # the last chunk ended in CR: a leading LF belongs to it
        self._at_start = True  # a BOM may only appear before the first character
        self._data: list[str] = []
        self._event_type = ""
        self._pending_fields = False  # any field seen since the last dispatch
        self._last_id = ""  # persists across events, as the spec says
        self._retry: int | None = None
        self._ended = False

    def feed(self, chunk: bytes | str) -> list[ServerSentEvent]:
        """Take the next piece of the stream; return the events it completed."""
        if self._ended:
            raise LocalProtocolError("SSE decoder: feed() after feed_eof()")
        if isinstance(chunk, str):
            text = chunk
        else:
            try:
                text = self._utf8.decode(chunk)
            except UnicodeDecodeError as exc:
                raise RemoteProtocolError(f"event stream is not valid UTF-8: {exc}") from exc
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text.startswith(_BOM):
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        buffer = self._partial + text if self._partial else text
        lines = _LINE_BREAK.split(buffer)
        self._partial = lines.pop()
        # A CR at the very end may be the first half of CRLF split across chunks.
        self._skip_lf = buffer.endswith("\r")
        if len(self._partial) > self.max_line_length:
            raise RemoteProtocolError(
                f"SSE line longer than {self.max_line_length} characters without a line break"
            )
        events = []
        for line in lines:
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        return events

    def feed_line(self, line: str) -> ServerSentEvent | None:
        """Take one line without its line break (e.g. from ``aiter_lines``)."""
        if self._ended:
            raise LocalProtocolError("SSE decoder: feed_line() after feed_eof()")
        if self._at_start:
            self._at_start = False
            line = line.removeprefix(_BOM)
        return self._process_line(line)

    def feed_eof(self) -> None:
        """The stream ended. An unterminated last event is dropped (``truncated``)."""
        if self._ended:
            return
        self._ended = True
        try:
            self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError("event stream ended inside a UTF-8 sequence") from exc
        self.truncated = bool(self._partial) or self._pending_fields
        self._partial = ""
        self._data.clear()

    def _process_line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._pending_fields = True
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        self._pending_fields = False
        event_type, self._event_type = self._event_type, ""
        retry, self._retry = self._retry, None
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data.clear()
        return ServerSentEvent(
            data=data, event=event_type or "message", id=self._last_id, retry=retry
        )
