"""The demo callers: scripted calls made of recorded caller lines.

A ``Scenario`` is what a caller does (say a recorded line, press keys, stay
quiet) and what the call should end in (a booking, a transfer, a polite
decline, a polite end after silence). The same scenarios drive
``voice-agent demo`` (real server, offline stack, TCP) and the scenario tests
(in-memory stream, virtual time, provider fakes), so what the demo shows is
what the tests check.

The caller lines are WAV files in ``agent/data/caller`` (8 kHz mono, made with
Festival's HTS voice by ``make_fixtures.sh``); ``manifest.tsv`` gives each
line's text as a recogniser should hear it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import attrs

from agent.base.errors import ConfigError

__all__ = [
    "CALLER_LINES",
    "SCENARIOS",
    "CallerLine",
    "Keys",
    "Line",
    "Quiet",
    "Scenario",
    "caller_lines",
    "caller_steps",
    "scenario",
    "transcripts",
]

CALLER_LINES = Path(__file__).parent / "data" / "caller"

Expect = Literal["booked", "declined", "transfer", "silence"]


@attrs.frozen
class CallerLine:
    name: str
    text: str  # what a recogniser should hear
    path: Path


def caller_lines(directory: Path = CALLER_LINES) -> dict[str, CallerLine]:
    """The recorded lines listed in ``manifest.tsv`` (name, TTS text, transcript)."""
    manifest = directory / "manifest.tsv"
    try:
        rows = manifest.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{manifest}: cannot read the caller lines ({exc})") from exc
    lines: dict[str, CallerLine] = {}
    for number, row in enumerate(rows, 1):
        if not row.strip() or row.startswith("#"):
            continue
        fields = row.split("\t")
        if len(fields) != 3:
            raise ConfigError(f"{manifest}:{number}: want 3 tab-separated fields")
        name, _, text = fields
        lines[name] = CallerLine(name, text, directory / f"{name}.wav")
    return lines


# --- steps ------------------------------------------------------------------------


@attrs.frozen
class Line:
    """Say a recorded line once the agent has finished (or over it, after
    ``interrupt_after_ms`` of agent speech: a barge-in)."""

    name: str
    interrupt_after_ms: int | None = None


@attrs.frozen
class Keys:
    """Press keys on the phone (DTMF), once the agent has finished."""

    digits: str


@attrs.frozen
class Quiet:
    """Say nothing for a while."""

    seconds: float


Step = Line | Keys | Quiet


@attrs.frozen
class Scenario:
    name: str
    summary: str
    steps: tuple[Step, ...]
    expect: Expect
    transfer_target: str | None = None  # for expect="transfer"
    # Local time of day at the company when the call starts (on a Tuesday).
    local_time: time = time(10, 0)
    # The booking API is down during the call and back after it (the outbox delivers).
    booking_api_down: bool = False
    # For expect="booked": the address the booking must hold at the end of the call.
    address: str | None = None
    # For expect="booked": the weekday ("Thursday") its slot must be on at the end.
    weekday: str | None = None

    def start_epoch(self, timezone: tzinfo | str) -> float:
        """Seconds since the epoch for a Tuesday at ``local_time`` in ``timezone``.

        A fixed date keeps the spoken dates and slots the same on every run."""
        tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
        day = datetime(2030, 7, 2, tzinfo=tz)  # a Tuesday
        start = day + timedelta(hours=self.local_time.hour, minutes=self.local_time.minute)
        return start.timestamp()


_DETAILS = (Line("name"), Line("address"), Line("postcode"))
_BOOK = (Line("tomorrow"), Line("thats_right"), Line("thats_right"), Line("goodbye"))

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "booking",
            "a leaking sink: quote, details, a slot tomorrow, booked",
            (Line("leak"), Line("sounds_fine"), *_DETAILS, Line("phone"), *_BOOK),
            "booked",
            address="22 Baker Street",  # what the caller said, read back and corrected if misheard
        ),
        Scenario(
            "barge-in",
            "the caller talks over the quote to ask the price, then books",
            (
                Line("leak"),
                Line("interrupt", interrupt_after_ms=1500),
                Line("sounds_fine"),
                *_DETAILS,
                Line("phone"),
                *_BOOK,
            ),
            "booked",
        ),
        Scenario(
            "dtmf",
            "as booking, but the phone number is typed on the keypad",
            (Line("leak"), Line("sounds_fine"), *_DETAILS, Keys("07700900123#"), *_BOOK),
            "booked",
        ),
        Scenario(
            "silent",
            "the caller says nothing: reprompts, then a polite goodbye",
            (Quiet(40.0),),
            "silence",
        ),
        Scenario(
            "out-of-area",
            "the postcode is outside the service area: a polite decline",
            (
                Line("leak"),
                Line("sounds_fine"),
                Line("name"),
                Line("address"),
                Line("postcode_out_of_area"),
                Line("thats_right"),  # "is the postcode E C 1 A, 1 B B?" before declining
                Line("goodbye"),
            ),
            "declined",
        ),
        Scenario(
            "human",
            "the caller asks for a person: transfer to the office",
            (Line("leak"), Line("person")),
            "transfer",
            transfer_target="office",
        ),
        Scenario(
            "emergency",
            "2 a.m., a gas smell: straight to the on-call engineer",
            (Line("gas"),),
            "transfer",
            transfer_target="on-call engineer",
            local_time=time(2, 0),
        ),
        Scenario(
            "api-down",
            "the booking system is down: the booking waits in the outbox, then goes through",
            (
                Line("leak"),
                Line("sounds_fine"),
                *_DETAILS,
                Line("phone"),
                Line("tomorrow"),
                Line("thats_right"),
                Line("goodbye"),
            ),
            "booked",
            booking_api_down=True,
        ),
        Scenario(
            "correction",
            "booked, then 'no, the house number is 41': the booking itself is amended",
            (
                Line("leak"),
                Line("sounds_fine"),
                *_DETAILS,
                Line("phone"),
                Line("tomorrow"),
                Line("thats_right"),
                Line("house_number"),
                Line("goodbye"),
            ),
            "booked",
            address="41 Baker Street",
        ),
        Scenario(
            "move",
            "booked for tomorrow, then 'can we make it Thursday instead?': moved to Thursday",
            (
                Line("leak"),
                Line("sounds_fine"),
                *_DETAILS,
                Line("phone"),
                Line("tomorrow"),
                Line("thats_right"),
                Line("move_thursday"),
                Line("thats_right"),  # "I can do Thursday at ... Shall I move your booking?"
                Line("goodbye"),
            ),
            "booked",
            weekday="Thursday",
        ),
    )
}


def scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ConfigError(f"no scenario {name!r}; choose one of {', '.join(SCENARIOS)}") from None


def transcripts(s: Scenario, lines: dict[str, CallerLine] | None = None) -> list[str]:
    """What a recogniser hears, line by line (keys and silence say nothing)."""
    lines = caller_lines() if lines is None else lines
    return [lines[step.name].text for step in s.steps if isinstance(step, Line)]


def caller_steps(s: Scenario, sample_rate: int = 8000, *, linger_s: float = 15.0) -> list:
    """The scenario as ``agent.demo.softphone`` steps (WAVs read at ``sample_rate``)."""
    from agent.base.wav import read_wav
    from agent.demo.softphone import PressKeys, Say, Silence, WaitAgent

    lines = caller_lines()
    steps: list = []
    for step in s.steps:
        if isinstance(step, Line):
            line = lines.get(step.name)
            if line is None:
                raise ConfigError(f"scenario {s.name}: no caller line {step.name!r}")
            pcm = read_wav(line.path, sample_rate)
            steps.append(Say(pcm, label=line.text, interrupt_after_ms=step.interrupt_after_ms))
        elif isinstance(step, Keys):
            steps.append(PressKeys(step.digits, gap_ms=150))
        else:
            steps.append(Silence(step.seconds))
    steps.append(WaitAgent(timeout_s=linger_s))
    return steps
