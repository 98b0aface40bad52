"""Logs: JSON lines, the call UUID on every line of a call, nothing personal or secret."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
import trio

from agent.base.logs import (
    NAME,
    PHONE,
    POSTCODE,
    SECRET,
    call_log_context,
    configure_logging,
    current_call,
    redact,
    redact_values,
    register_secret,
)

UUID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


@pytest.fixture
def captured():
    stream = io.StringIO()
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    # Another test in this process may have quietened "agent" (the demo does).
    agent = logging.getLogger("agent")
    agent_level = agent.level
    agent.setLevel(logging.NOTSET)
    handler = configure_logging("json", stream=stream, env={"GROQ_API_KEY": "gsk_live_0123abcdef"})
    yield stream
    root.removeHandler(handler)
    root.setLevel(before[0])
    agent.setLevel(agent_level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    "spoken",
    [
        "07700 900123",
        "07700 900 123",
        "0 7 7 0 0 9 0 0 1 2 3",
        "07700-900-123",
        "+44 7700 900123",
        "+44 (0) 20 7946 0958",
        "(020) 7946 0958",
        "+14155552671",
        "447700900123",
        "oh seven seven double oh nine hundred one two three",
    ],
)
def test_phone_numbers_in_any_grouping(spoken):
    out = redact(f"caller said my number is {spoken}, thanks")
    assert out == f"caller said my number is {PHONE}, thanks"


@pytest.mark.parametrize(
    "spoken", ["SW1A 1AA", "sw1a1aa", "S W 1 A 1 A A", "M1 1AE", "B33 8TH", "CR2 6XH"]
)
def test_postcodes_whole_and_spelled(spoken):
    assert redact(f"postcode {spoken} please") == f"postcode {POSTCODE} please"


def test_names_after_my_name_is():
    assert redact("hi my name is john smith and I have a leak") == (
        f"hi my name is {NAME} and I have a leak"
    )
    assert redact("My name's Priya, calling about") == f"My name's {NAME}, calling about"
    assert redact("it's spelled J O N E S") == f"it's spelled {NAME}"


def test_registered_values_whole_words_and_spelled():
    redact_values("call-x", ["Siobhan O'Neill"])
    try:
        out = redact("Siobhan O'Neill booked; O'Neill is spelt o n e i l l? siobhan s i o b h a n")
        assert "siobhan" not in out.lower() and "neill" not in out.lower()
        assert "o n e i l l" not in out.lower() and "s i o b h a n" not in out.lower()
    finally:
        with call_log_context("call-x"):
            pass  # leaving the call forgets its values
    assert redact("Siobhan called") == "Siobhan called"


def test_secrets_never_printed():
    register_secret("a-file-key-98765")
    text = (
        "auth: Bearer eyJhbGciOi.J9x1 key sk-proj-abcDEF123456 groq gsk_AbC123dEf456gHi"
        " Token 0123456789abcdef0123456789abcdef01234567 api_key=hunter22 a-file-key-98765"
    )
    out = redact(text)
    for leaked in (
        "eyJhbGciOi",
        "abcDEF123456",
        "gsk_AbC",
        "0123456789abcdef",
        "hunter22",
        "a-file-key",
    ):
        assert leaked not in out
    assert "Bearer " + SECRET in out and "api_key=" + SECRET in out
    # Ordinary words after "token" survive, and so do timings and a call UUID.
    kept = (
        f"first token arrived after 0.123 s on call {UUID} at 2026-11-21 10:31:20"
        " (uuid 00000000-0000-0000-0000-000000000001, epoch 1732181480.25)"
    )
    assert redact(kept) == kept


async def test_call_log_of_a_conversation(captured):
    log = logging.getLogger("agent.conversation.brain")
    caller_says = [
        "hello my name is Margaret Thornton",
        "my number is 07700 900 123",
        "you can also try 0 7 9 1 1 1 2 3 4 5 6",
        "the postcode is S W 1 A 1 A A or SW1A 1AA",
    ]

    async def provider_task():
        # A child task: the call's UUID reached it through the context.
        log.warning("stt sent %s with key %s", "final", "gsk_live_0123abcdef")

    async def run_call():
        with call_log_context(UUID):
            redact_values(UUID, ["Margaret Thornton"])
            async with trio.open_nursery() as nursery:
                nursery.start_soon(provider_task)
                for text in caller_says:
                    log.info("caller: %s", text)
                log.info("agent: thanks %s, booked for %s", "Margaret", "SW1A 1AA")
                try:
                    raise ValueError("lookup failed for 07700900123 thornton")
                except ValueError:
                    log.exception("tool failed")

    await run_call()
    logging.getLogger("agent.media.server").info("call ended")  # outside the call
    entries = lines(captured)
    call_lines = entries[:-1]
    assert len(call_lines) == len(caller_says) + 3
    assert all(entry["call"] == UUID for entry in call_lines)
    assert entries[-1]["call"] is None and current_call.get() is None
    everything = captured.getvalue()
    digits_only = re.sub(r"\D", "", everything.replace(UUID, ""))
    for secret in ("07700900123", "07911123456"):
        assert secret not in digits_only
    squashed = re.sub(r"[\s\"]", "", everything).lower()
    for leaked in ("margaret", "thornton", "sw1a1aa", "gsk_live"):
        assert leaked not in squashed
    assert any(PHONE in e["msg"] for e in call_lines)
    assert any(POSTCODE in e["msg"] for e in call_lines)
    (error,) = [e for e in call_lines if e["level"] == "ERROR"]
    assert "ValueError" in error["exc"] and PHONE in error["exc"]
    assert f"my name is {NAME}" in call_lines[0]["msg"]
    assert {e["level"] for e in entries} == {"INFO", "WARNING", "ERROR"}


def test_text_format_is_readable():
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    agent = logging.getLogger("agent")  # the demo quietens it for the whole process
    agent_level = agent.level
    agent.setLevel(logging.NOTSET)
    handler = configure_logging("text", stream=stream, env={})
    try:
        with call_log_context("abc"):
            logging.getLogger("agent.media.call").info("caller gave %s", "07700 900123")
        logging.getLogger("agent.media.call").info("no call here")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        agent.setLevel(agent_level)
    first, second = stream.getvalue().splitlines()
    assert first.endswith(f"INFO    agent.media.call [abc] caller gave {PHONE}")
    assert second.endswith("INFO    agent.media.call no call here")
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml")


def test_the_did_is_shown_and_the_callers_number_redacted(captured):
    from agent.base.logs import Public

    logging.getLogger("agent.test").info(
        "setup: did=%s caller=%s", Public("+442079460958"), "+447700900123"
    )
    (entry,) = lines(captured)
    # The DID is the company's own number: routing problems need it.
    assert entry["msg"] == f"setup: did=+442079460958 caller={PHONE}"
