"""Slot extraction: postcodes, phones, names, yes/no, services, times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agent.business.company import Price, Service
from agent.business.ukformats import (
    find_phone,
    find_postcode,
    parse_postcode,
    spoken_digits,
    to_e164,
)
from agent.dialogue.slots import (
    Intent,
    extract,
    find_name,
    find_time_window,
    match_service,
    yes_no,
)

TZ = ZoneInfo("Europe/London")
NOW = datetime(2025, 5, 13, 10, 0, tzinfo=TZ).timestamp()  # a Tuesday
SERVICES = (
    Service("leak_repair", "Leak repair", "", Price(call_out=85), keywords=("leak", "tap")),
    Service("boiler_repair", "Boiler repair", "", Price(call_out=95), keywords=("boiler",)),
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SW1A 1AA", "SW1A 1AA"),
        ("sw1a1aa", "SW1A 1AA"),
        ("M1 1AE", "M1 1AE"),
        ("se10 9xy", "SE10 9XY"),
        ("EC1A-1BB", "EC1A 1BB"),
        ("SW10A 1AA", None),
        ("SW1A", None),
        ("12345", None),
        ("", None),
    ],
)
def test_parse_postcode(raw: str, expected: str | None) -> None:
    pc = parse_postcode(raw)
    assert (str(pc) if pc else None) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("it's SW1A 1AA thanks", "SW1A 1AA"),
        ("s w one a one a a", "SW1A 1AA"),
        ("my postcode is e1 6an", "E1 6AN"),
        ("no postcode here", None),
    ],
)
def test_find_postcode(said: str, expected: str | None) -> None:
    pc = find_postcode(said)
    assert (str(pc) if pc else None) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("07700 900123", "+447700900123"),
        ("+44 (0)20 7123 4567", "+442071234567"),
        ("0044 20 7123 4567", "+442071234567"),
        ("442071234567", "+442071234567"),
        ("+1 212 555 0100", "+12125550100"),
        ("077009001", None),
        ("123", None),
        ("hello", None),
    ],
)
def test_to_e164(raw: str, expected: str | None) -> None:
    assert to_e164(raw) == expected


def test_spoken_numbers() -> None:
    assert spoken_digits("oh seven seven double oh").replace(" ", "") == "07700"
    assert find_phone("oh seven seven double oh nine double oh one two three") == "+447700900123"
    assert find_phone("call me on 07700 900123 please") == "+447700900123"
    assert find_phone("triple nine") is None


@pytest.mark.parametrize(
    ("said", "expecting", "expected"),
    [
        ("my name is john smith thanks", False, "John Smith"),
        ("This is Priya Shah", False, "Priya Shah"),
        ("i'm calling about a leak", False, None),
        ("it's dave", True, "Dave"),
        ("Sarah Jones", True, "Sarah Jones"),
        ("yes", True, None),
        ("the boiler is broken again today", False, None),
    ],
)
def test_find_name(said: str, expecting: bool, expected: str | None) -> None:
    assert find_name(said, expecting=expecting) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("yes please", True),
        ("yeah go ahead", True),
        ("that's fine", True),
        ("no", False),
        ("nope", False),
        ("no, yes", False),
        ("thank you", False),
        ("maybe", None),
        ("thank you, yes please", True),  # ends in a yes
        ("thank you, is that right?", None),
        ("the first one", True),  # to a slot offered
        ("that one please", True),
        ("brilliant", True),
        ("that would be great", True),
    ],
)
def test_yes_no(said: str, expected: bool | None) -> None:
    assert yes_no(said) is expected


def test_match_service() -> None:
    assert match_service("my kitchen tap is leaking", SERVICES).id == "leak_repair"
    assert match_service("the Boiler won't start", SERVICES).id == "boiler_repair"
    assert match_service("I need a locksmith", SERVICES) is None


def _local(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, TZ)


@pytest.mark.parametrize(
    ("said", "start", "end"),
    [
        ("tomorrow morning", (14, 8, 0), (14, 12, 0)),
        ("friday at 3", (16, 15, 0), (16, 17, 0)),
        ("tuesday", (20, 0, 0), (21, 0, 0)),  # today is Tuesday: the next one
        ("this afternoon", (13, 12, 0), (13, 17, 0)),
        ("half past two", (13, 14, 30), (13, 16, 30)),
        ("at 9", (14, 9, 0), (14, 11, 0)),  # 9 today has passed
        ("2pm on thursday", (15, 14, 0), (15, 16, 0)),
        ("next week", (19, 0, 0), (24, 0, 0)),
        ("sometime this week", (13, 10, 0), (18, 0, 0)),  # now till the end of Saturday
        ("in the next few days", (13, 10, 0), (16, 0, 0)),
        ("at the weekend", (17, 0, 0), (19, 0, 0)),
        ("I'm at work till 5, so after that", (13, 17, 0), (13, 19, 0)),  # free from 5
        ("I'm out until 2 tomorrow", (14, 14, 0), (14, 18, 0)),
        ("till 4", (13, 10, 0), (13, 16, 0)),  # by 4: from now
    ],
)
def test_time_windows(said: str, start: tuple[int, int, int], end: tuple[int, int, int]) -> None:
    w = find_time_window(said, now=NOW, tz=TZ)
    assert w is not None
    s, e = _local(w.start), _local(w.end)
    assert (s.day, s.hour, s.minute) == start and (e.day, e.hour, e.minute) == end


@pytest.mark.parametrize("said", ["I don't mind", "it doesn't matter", "whenever suits you"])
def test_no_preference_is_the_soonest(said: str) -> None:
    w = find_time_window(said, now=NOW, tz=TZ)
    assert w is not None and w.start == NOW and w.end == NOW + 7 * 86400


def test_time_window_asap_and_nothing() -> None:
    w = find_time_window("as soon as possible", now=NOW, tz=TZ)
    assert w is not None and w.start == NOW and w.end == NOW + 7 * 86400
    assert find_time_window("I have 3 taps", now=NOW, tz=TZ) is None
    assert find_time_window("whatever", now=NOW, tz=TZ) is None


@pytest.mark.parametrize(
    "said", ["I'm at 3 Kings Road", "we're at 12a Church Lane, SW3 5RZ", "at 4, Park Lane"]
)
def test_a_house_number_after_at_is_not_a_time(said: str) -> None:
    assert find_time_window(said, now=NOW, tz=TZ) is None
    assert find_time_window(said + ", at 3 please", now=NOW, tz=TZ) is not None


def test_extract_uses_what_was_asked() -> None:
    intent, slots = extract("Sarah Jones", services=SERVICES, tz=TZ, now=NOW, expecting="name")
    assert intent is None and slots.name == "Sarah Jones"
    _, slots = extract("12 Baker Street, SW1A 1AA", expecting="address")
    assert slots.address == "12 Baker Street" and slots.postcode == "SW1A 1AA"
    _, slots = extract("one two three", expecting="phone")
    assert slots.phone is not None and slots.phone.replace(" ", "") == "123"
    _, slots = extract("banana", expecting="postcode")
    assert slots.postcode == "banana"  # kept so validation can ask again
    intent, _ = extract("can I speak to a real person")
    assert intent is Intent.HUMAN
    intent, slots = extract("bye now")
    assert intent is Intent.GOODBYE and slots.is_empty()


@pytest.mark.parametrize(
    "said",
    [
        "Can I talk to a few men please?",  # "a human" as a recogniser wrote it
        "Could I speak with someone in the office?",
        "I'd like to talk to your boss",
        "Can I speak to Dave?",
        "Can I speak to Mr Jones please",
        "Is there anyone I can speak to?",
        "Put me on to a person",
        "can I talk to the office please",
    ],
)
def test_asking_to_speak_to_anyone_is_asking_for_a_person(said: str) -> None:
    assert extract(said)[0] is Intent.HUMAN


@pytest.mark.parametrize(
    "said",
    [
        "Can I talk to you about my boiler?",
        "I need to talk to my wife first",
        "I'll talk to him about it",
        "Could you get someone to call me back",
        "Can I speak to a plumber about my boiler?",  # the trade: a job to book
    ],
)
def test_talking_to_the_agent_or_ones_own_is_not_asking_for_a_person(said: str) -> None:
    assert extract(said)[0] is not Intent.HUMAN


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("Patel, Priya Patel", "Priya Patel"),
        ("Smith. John Smith.", "John Smith"),
        ("yeah it's Sarah, Sarah O'Brien", "Sarah O'Brien"),
        ("Dave, can you come tomorrow?", "Dave"),  # the rest is not a name
        ("Smith, S M I T H", "Smith"),  # a spelling is not a fuller name
    ],
)
def test_a_name_said_short_then_in_full_is_the_full_name(said: str, name: str) -> None:
    assert extract(said, expecting="name")[1].name == name


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("Hi, this is John Smith from 22 Baker Street, my tap is leaking", "John Smith"),
        ("I'm Dave on Mill Lane", "Dave"),
        ("This is Mary who called yesterday", "Mary"),
    ],
)
def test_a_name_ends_where_the_sentence_goes_on(said: str, name: str) -> None:
    assert extract(said, expecting="name")[1].name == name
