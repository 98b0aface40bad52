"""Values a call registers are hidden with their own marker; phone numbers and
postcodes whole (however spaced), names and addresses also word by word."""

from __future__ import annotations

import pytest

from agent.base.logs import (
    ADDRESS,
    NAME,
    PHONE,
    POSTCODE,
    call_log_context,
    redact,
    redact_values,
)


def test_markers_by_kind():
    with call_log_context("call-m"):
        redact_values("call-m", ["Sarah Connor"])
        redact_values("call-m", ["12 Acacia Avenue"], marker=ADDRESS)
        redact_values("call-m", ["SW1A 1AA", "SW1A", "1AA"], marker=POSTCODE)
        redact_values("call-m", ["07700900123", "900", "123"], marker=PHONE)
        assert redact("Sarah at 12 Acacia Avenue") == f"{NAME} at {ADDRESS}"
        assert redact("S a r a h") == NAME
        assert redact("lives on Acacia Road") == f"lives on {ADDRESS} Road"
        assert redact("the code SW1A and 1AA") == f"the code {POSTCODE} and {POSTCODE}"
        assert redact("ends 900 123") == f"ends {PHONE} {PHONE}"
        # A postcode's letters alone are not hidden everywhere ("AA" is not a name).
        assert redact("AA batteries") == "AA batteries"
        # Spelled for the ear, with a comma: the shape catches it.
        assert redact("at S W 1 A, 1 A A.") == f"at {POSTCODE}."
    assert redact("Sarah") == "Sarah"  # the call is over: its values are forgotten


def test_an_unknown_marker_is_refused():
    with pytest.raises(ValueError, match="marker"):
        redact_values("c", ["x"], marker="[WHATEVER]")


def test_log_format_from_the_environment():
    import io

    from agent.base.logs import log_format

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert log_format({}, io.StringIO()) == "json"  # the journal, a pipe, a file
    assert log_format({}, Terminal()) == "text"
    assert log_format({"VOICE_AGENT_LOG_FORMAT": "text"}, io.StringIO()) == "text"
    assert log_format({"VOICE_AGENT_LOG_FORMAT": "JSON"}, Terminal()) == "json"
    with pytest.raises(ValueError, match="VOICE_AGENT_LOG_FORMAT"):
        log_format({"VOICE_AGENT_LOG_FORMAT": "xml"})


def test_lines_outside_a_call_are_checked_against_every_call_that_shares_a_word():
    redact_values("call-a", ["Priya Patel"])
    redact_values("call-b", ["Tom Jones"])
    redact_values("call-b", ["SW1A 1AA"], marker=POSTCODE)
    try:
        # The outbox, the AGI server: no call context, every live call's values.
        assert redact("retry for Priya Patel and Tom") == f"retry for {NAME} and {NAME}"
        assert redact("Name: Tom Jones") == f"Name: {NAME}"  # no "[[NAME]]"
        # Inside a call only its own values are looked for (no data crosses calls).
        with call_log_context("call-b"):
            assert redact("Tom at SW1A 1AA") == f"{NAME} at {POSTCODE}"
            redact_values("call-b", ["Jones"])  # nothing new: no rebuild, same result
            assert redact("Tom") == NAME
    finally:
        from agent.base.logs import forget_values

        forget_values("call-a")
        forget_values("call-b")
    assert redact("Priya Patel") == "Priya Patel"
