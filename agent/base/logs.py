"""Logging: JSON lines or a readable terminal format, the call's UUID on every
record, and redaction of what must never reach a log.

``configure_logging("json")`` installs one handler on the root logger with two
filters: ``CallContextFilter`` stamps each record with the UUID of the call
whose task logged it (a ``ContextVar``; Trio copies the spawning task's
context into every child task, so entering ``call_log_context(uuid)`` before
the call's nursery opens covers the reader, playout, brain and providers), and
``RedactFilter`` rewrites the formatted message (and exception text):

- phone numbers, UK and E.164, whole or spoken in groups ("07700 900 123",
  "0 7 7 0 0 9 0 0 1 2 3", "+44 (0) 20 7946 0958", "oh seven seven double oh...");
- UK postcodes, whole or spelled ("SW1A 1AA", "S W 1 A 1 A A");
- caller names and addresses: values the call's observer registers with
  ``redact_values`` (whole, each word, and spelled letter by letter) plus what
  follows "my name is"; phone numbers and postcodes registered the same way are
  hidden whole (with any spacing), and so are the digit groups they were said in;
- secrets: values of key-like environment variables and ``register_secret``
  values, ``sk-...``/``sk_...``/``gsk_...`` keys, ``Bearer``/``Token`` credentials
  and ``api_key=...`` style assignments.

Redaction errs towards removing too much: a log line with a hole is harmless,
a phone number in a log is not.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TextIO

from agent.base.settings import Env

current_call: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "voice_agent_call", default=None
)

PHONE, POSTCODE, NAME, SECRET = "[PHONE]", "[POSTCODE]", "[NAME]", "[SECRET]"
ADDRESS = "[ADDRESS]"
# Registered values are replaced in this order; only names and addresses are also
# hidden word by word (a postcode's letters alone are not worth hiding everywhere).
_MARKERS = (POSTCODE, PHONE, ADDRESS, NAME)
_BY_WORD = (ADDRESS, NAME)

# --- patterns -------------------------------------------------------------------

_SECRET_PATTERNS = (
    re.compile(r"\b(?:sk|gsk|xai|csk)[-_][A-Za-z0-9_\-]{8,}"),
    # A credential after Bearer/Token has a digit; "token arrived" is English.
    re.compile(r"\b(?i:bearer|token|basic)\s+(?=[A-Za-z._~+/=\-]*\d)[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(
        r"(?i)\b(?:api[_-]?key|xi-api-key|access[_-]?token|auth[_-]?token|secret|password)"
        r"[\"']?\s*[:=]\s*[\"']?[^\s\"'&,;]+"
    ),
    re.compile(r"\b[0-9a-f]{40}\b"),  # Deepgram-style hex keys
)

# A phone number starts with + or 0 (UK) and has 9..15 digits, in any grouping.
_PHONE_DIGITS = re.compile(r"(?<![\w+\-])(?:\+|\(?0)(?:[\s\-()]*\d){8,14}(?!-?\w)")
# The same without a prefix, as caller ids come from Asterisk: 447700900123.
_PHONE_BARE = re.compile(r"(?<![\w.])44\d{9,10}(?![\w.])")
_DIGIT_WORDS = (
    r"(?:zero|oh|o|nought|one|two|three|four|five|six|seven|eight|nine"
    r"|double|treble|triple|hundred|\d{1,5})"
)
_PHONE_WORDS = re.compile(rf"(?i)\b{_DIGIT_WORDS}(?:[\s,\-]+{_DIGIT_WORDS}){{6,}}\b")

_S = r"[\s,\-]*"  # spelled postcodes have spaces (or a comma) between the characters
_POSTCODE = re.compile(
    rf"(?i)\b[A-Z]{_S}(?:[A-Z]{_S})?\d{_S}(?:[A-Z\d]{_S})?\d{_S}[A-Z]{_S}[A-Z]\b"
)

_NAME_STOP = (
    "and|i|im|i'm|my|from|at|the|please|calling|here|speaking|of|in|on|is|it|that|so|but|or"
    "|um|uh|er|yeah|yes|thanks|thank|with|about|to|for|a|an|we|our|and|you"
)
_SPELLED = r"(?:[A-Za-z][\s.\-]+){1,}[A-Za-z]\b"
_WORD = rf"(?!(?:{_NAME_STOP})\b)[A-Za-z][A-Za-z'\-]*"
_MY_NAME = re.compile(
    r"(?i)\b(?P<lead>(?:my\s+)?(?:(?:full|first|last|sur)\s*)?name\s+is|my\s+name's|call\s+me"
    r"|i'?m\s+called|i\s+am\s+called|spelt|spelled)[\s,:]+"
    rf"(?P<name>{_SPELLED}|{_WORD}(?:\s+{_WORD})?)"
)


class _Registry:
    """Per-call values to hide (each with its marker) and process-wide secrets.

    Each call's values compile into patterns of their own, rebuilt only when that
    call adds a value it did not have, so a new value costs the size of one
    call's list, not of every call in progress. A line logged inside a call is
    checked against that call's patterns (no data crosses calls); a line logged
    outside any call (the outbox, say) against the patterns of every call one of
    whose values shares a word or digit group with the line (an index from
    those tokens to the calls keeps that cheap with hundreds of calls live)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[str, str]] = {}  # call -> value -> marker
        self._patterns: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {}
        # token -> calls with a value containing it; frozensets are replaced, never
        # changed, so a reader in another thread can iterate one safely.
        self._tokens: dict[str, frozenset[str]] = {}
        self._secrets: set[str] = set()
        self.values_res: tuple[tuple[re.Pattern[str], str], ...] = ()
        self.secrets_re: re.Pattern[str] | None = None

    def add_values(self, call: str, values: Iterable[str], marker: str) -> None:
        if marker not in _MARKERS:
            raise ValueError(f"redact_values: marker {marker!r} is not one of {_MARKERS}")
        with self._lock:
            known = self._values.get(call, {})
            new = {v.strip() for v in values if v.strip() and v.strip() not in known}
            if not new:
                return
            merged = {**known, **dict.fromkeys(new, marker)}
            self._values[call] = merged
            self._patterns[call] = _compile_values(merged)
            for token in _tokens(" ".join(new)):
                self._tokens[token] = self._tokens.get(token, frozenset()) | {call}
            self._publish()

    def forget(self, call: str) -> None:
        with self._lock:
            values = self._values.pop(call, None)
            if values is None:
                return
            self._patterns.pop(call, None)
            for token in _tokens(" ".join(values)):
                left = self._tokens.get(token, frozenset()) - {call}
                if left:
                    self._tokens[token] = left
                else:
                    self._tokens.pop(token, None)
            self._publish()

    def patterns_for(self, call: str | None, text: str) -> tuple[tuple[re.Pattern[str], str], ...]:
        if call is not None:
            return self._patterns.get(call, ())
        index = self._tokens
        calls: set[str] = set()
        for token in _tokens(text):
            calls.update(index.get(token, ()))
        patterns = self._patterns
        return tuple(p for c in calls for p in patterns.get(c, ()))

    def _publish(self) -> None:
        # One tuple swapped in whole: readers (any thread) never see it half built.
        self.values_res = tuple(p for patterns in self._patterns.values() for p in patterns)

    def add_secret(self, value: str) -> None:
        if len(value.strip()) < 6:  # a short value would blank out ordinary words
            return
        with self._lock:
            self._secrets.add(value.strip())
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self.secrets_re = re.compile("|".join(map(re.escape, alternatives)))


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[^\W_]+", text.lower()))


def _compile_values(values: Mapping[str, str]) -> tuple[tuple[re.Pattern[str], str], ...]:
    wholes: dict[str, set[str]] = {marker: set() for marker in _MARKERS}
    words: dict[str, set[str]] = {marker: set() for marker in _MARKERS}
    for value, marker in values.items():
        wholes[marker].add(value)
        if marker in _BY_WORD:
            words[marker].update(re.findall(r"[^\W\d_]+(?:['\-][^\W\d_]+)*", value))
    patterns = []
    for marker in _MARKERS:
        if not wholes[marker]:
            continue
        # The whole value first (one [NAME] for "John Smith"), then each word alone
        # or spelled out letter by letter ("S m i t h"); longest first.
        alternatives = [
            r"[\s\-]+".join(map(re.escape, v.split()))
            for v in sorted(wholes[marker], key=len, reverse=True)
        ] + [
            r"[\s.\-]*".join(map(re.escape, w))
            for w in sorted(words[marker], key=len, reverse=True)
            if len(w) > 1
        ]
        # Not inside a marker an earlier pattern wrote ("[NAME]" holds the word "NAME").
        pattern = re.compile(rf"(?i)(?<![\w\[])(?:{'|'.join(alternatives)})(?![\w\]])")
        patterns.append((pattern, marker))
    return tuple(patterns)


_registry = _Registry()


def redact_values(call_uuid: object, values: Iterable[str], *, marker: str = NAME) -> None:
    """Hide these values (the caller's name, or with ``marker=PHONE`` / ``POSTCODE`` /
    ``ADDRESS`` those) from every log line until the call ends."""
    _registry.add_values(str(call_uuid), values, marker)


def forget_values(call_uuid: object) -> None:
    _registry.forget(str(call_uuid))


def register_secret(value: str) -> None:
    """Hide this value (an API key read from a file, say) from every log line."""
    _registry.add_secret(value)


def register_env_secrets(env: Mapping[str, str] | None = None) -> None:
    """Hide the values of the declared secrets and of every variable named like a key
    (``*_KEY``, ``*_TOKEN``...: a company's booking key has the name its file gives)."""
    for value in Env.of(env).secret_values():
        _registry.add_secret(value)


def redact(text: str) -> str:
    """The text with secrets, known values, names, phone numbers and postcodes replaced."""
    secrets_re = _registry.secrets_re
    if secrets_re is not None:
        text = secrets_re.sub(SECRET, text)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_keep_label, text)
    # The shapes first (a whole number or postcode, however spaced), then what the
    # call registered (names, and the pieces the shapes may have left).
    text = _PHONE_DIGITS.sub(PHONE, text)
    text = _PHONE_BARE.sub(PHONE, text)
    text = _PHONE_WORDS.sub(PHONE, text)
    text = _POSTCODE.sub(POSTCODE, text)
    for pattern, marker in _registry.patterns_for(current_call.get(), text):
        text = pattern.sub(marker, text)
    return _MY_NAME.sub(lambda m: f"{m['lead']} {NAME}", text)


def _keep_label(match: re.Match[str]) -> str:
    # "Bearer abc" -> "Bearer [SECRET]", "api_key=abc" -> "api_key=[SECRET]": the label helps.
    found = re.match(r"(?i)(bearer|token|basic)\s+|[^:=]*[:=]\s*[\"']?", match[0])
    if found and found.end() < len(match[0]):
        return match[0][: found.end()] + SECRET
    return SECRET


# --- call context ---------------------------------------------------------------


@contextlib.contextmanager
def call_log_context(call_uuid: object) -> Iterator[None]:
    """Stamp every record logged in this task and its children with the call's UUID.

    On exit the call's ``redact_values`` are forgotten; enter it around the
    whole call (the nursery and the cleanup).
    """
    token = current_call.set(str(call_uuid))
    try:
        yield
    finally:
        current_call.reset(token)
        forget_values(call_uuid)


class CallContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "call"):
            record.call = current_call.get()
        return True


class Public(str):
    """A log argument shown as it is: a company's own number (the DID), which looks
    like a phone number but is no caller's, and is what a routing problem needs."""


class RedactFilter(logging.Filter):
    """Redacts the formatted message and exception text (args are folded in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        shown: list[str] = []
        if isinstance(record.args, tuple) and any(type(a) is Public for a in record.args):
            record.args = tuple(_hold(a, shown) if type(a) is Public else a for a in record.args)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem, not ours
            message = str(record.msg)
        message = redact(message)
        for i, value in enumerate(shown):
            message = message.replace(f"\x00{i}\x00", value)
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _hold(value: str, shown: list[str]) -> str:
    shown.append(str.__str__(value))
    return f"\x00{len(shown) - 1}\x00"  # a placeholder no redaction pattern touches


# --- formats --------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, call, msg (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        entry = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "call": getattr(record, "call", None),
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(call_tag)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        call = getattr(record, "call", None)
        record.call_tag = f" [{call}]" if call else ""
        return super().format(record)


_installed: logging.Handler | None = None


def log_format(env: Mapping[str, str] | None = None, stream: TextIO | None = None) -> str:
    """``VOICE_AGENT_LOG_FORMAT`` (json, text or auto): auto is text on a terminal
    and JSON lines otherwise (systemd's journal, a file, a pipe)."""
    chosen = Env.of(env).get("VOICE_AGENT_LOG_FORMAT")  # a bad word: ConfigError naming it
    if chosen in ("json", "text"):
        return chosen
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(
    fmt: str = "text",
    *,
    level: int | str = logging.INFO,
    stream: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Install the agent's handler on the root logger (replacing a previous one).

    ``fmt`` is ``"json"`` (the service: one JSON object per line) or ``"text"``.
    """
    global _installed
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
    elif fmt == "text":
        formatter = TextFormatter()
    else:
        raise ValueError(f"log format {fmt!r}: expected 'json' or 'text'")
    register_env_secrets(env)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(CallContextFilter())
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    root.setLevel(level)
    _installed = handler
    return handler


def uninstall_logging() -> None:
    """Remove the handler ``configure_logging`` installed (tests that run the CLI)."""
    global _installed
    if _installed is not None:
        logging.getLogger().removeHandler(_installed)
        _installed = None
