"""Company profiles: parsing, lookup, hours, area, emergencies, the system prompt."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent.base.errors import ConfigError
from agent.business.company import EXAMPLE_COMPANIES, load_companies, parse_company, parse_directory
from agent.dialogue.prompt import system_prompt

TZ = ZoneInfo("Europe/London")
FILE = EXAMPLE_COMPANIES
DATA = json.loads(FILE.read_text())
DIRECTORY = load_companies(FILE)
PLUMBER = DIRECTORY.get("thames-plumbing")
SPARKS = DIRECTORY.get("brightspark")


def at(*args: int) -> float:
    return datetime(*args, tzinfo=TZ).timestamp()


def test_example_file_and_lookup_by_did() -> None:
    assert PLUMBER is not None and SPARKS is not None
    assert [s.id for s in PLUMBER.services] == ["leak_repair", "boiler_repair", "drain_unblock"]
    assert str(PLUMBER.services[0].price.call_out) == "85"
    for spelling in ("+442071234567", "02071234567", "442071234567", "020 7123 4567"):
        assert DIRECTORY.lookup(spelling) is PLUMBER
    assert DIRECTORY.lookup("+441614960000") is SPARKS
    assert DIRECTORY.lookup("+449999999999") is PLUMBER  # the default
    assert parse_directory({"companies": DATA["companies"]}).lookup("999") is None


def _broken(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(DATA["companies"][0])
    target = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "field 'timezone': unknown IANA timezone"),
        ("hours.mon", ["8-18"], "field 'hours.mon': expected 'HH:MM-HH:MM'"),
        ("hours.mon", ["18:00-08:00"], "closes before it opens"),
        ("hours.funday", [], "unknown weekday"),
        ("services.0.price", {}, "needs at least one of call_out"),
        ("services.0.price", {"call_out": -5}, "non-negative amount"),
        ("services.0.price", {"call_out": "lots"}, "expected an amount"),
        ("services.0.currency", "pounds", "ISO 4217"),
        ("services", [], "at least one service"),
        ("name", KeyError, "field 'name': expected a non-empty string"),
        ("emergency.target", "the pope", "not in transfer_targets"),
        ("emergency.action", "panic", "expected 'transfer' or 'priority_booking'"),
        ("service_area", ["SW1", "12"], "not a postcode prefix"),
        ("dids", ["call me"], "not a phone number"),
        ("transfer_targets", [{"name": "x"}], "field 'transfer_targets[0].dial'"),
        ("phrases", {"greet": 5}, "template name -> text"),
    ],
)
def test_garbage_names_company_and_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match="company 'thames-plumbing'") as info:
        parse_company(_broken(path, value))
    assert message in str(info.value)


def test_directory_errors(tmp_path: Path) -> None:
    twice = {"companies": [DATA["companies"][0], DATA["companies"][0]]}
    with pytest.raises(ConfigError, match="duplicate company id"):
        parse_directory(twice)
    clash = copy.deepcopy(DATA)
    clash["companies"][1]["dids"] = ["02071234567"]
    with pytest.raises(ConfigError, match=r"DID \+442071234567 is already 'thames-plumbing'"):
        parse_directory(clash)
    with pytest.raises(ConfigError, match="default 'nobody'"):
        parse_directory({**DATA, "default": "nobody"})
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_companies(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_companies(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="'companies' list"):
        parse_directory([])


@pytest.mark.parametrize(
    ("when", "is_open", "next_open"),
    [
        ((2025, 5, 13, 10, 0), True, (2025, 5, 13, 10, 0)),  # Tuesday morning
        ((2025, 5, 13, 7, 59), False, (2025, 5, 13, 8, 0)),
        ((2025, 5, 13, 18, 0), False, (2025, 5, 14, 8, 0)),  # closing time is closed
        ((2025, 5, 17, 13, 30), False, (2025, 5, 19, 8, 0)),  # Saturday afternoon -> Monday
        ((2025, 5, 18, 12, 0), False, (2025, 5, 19, 8, 0)),  # Sunday
        ((2025, 3, 30, 12, 0), False, (2025, 3, 31, 8, 0)),  # the day clocks go forward
        ((2025, 1, 14, 9, 0), True, (2025, 1, 14, 9, 0)),
    ],  # winter time
)
def test_hours(when: tuple[int, ...], is_open: bool, next_open: tuple[int, ...]) -> None:
    assert PLUMBER.is_open(at(*when)) is is_open
    assert PLUMBER.next_opening(at(*when)) == at(*next_open)


def test_never_open() -> None:
    data = _broken("hours", {})
    assert parse_company(data).next_opening(at(2025, 5, 13, 10, 0)) is None


@pytest.mark.parametrize(
    ("postcode", "served"),
    [
        ("SW1A 1AA", True),
        ("SW1P 3BU", True),
        ("sw1y4hs", True),
        ("SW10 9AB", False),
        ("SW19 2AB", False),
        ("SW3 4AA", True),
        ("SE1 7PB", True),
        ("SE11 5AA", True),
        ("SE10 9XY", False),
        ("WC2N 5DU", True),
        ("W1A 1AA", True),
        ("W10 5AA", False),
        ("EC1A 1BB", False),  # the demo's out-of-area caller
        ("EC4M 7RF", True),
        ("E1 6AN", False),
        ("N1 9GU", False),
        ("SW1", True),
        ("rubbish", False),
    ],
)
def test_service_area(postcode: str, served: bool) -> None:
    assert PLUMBER.serves_postcode(postcode) is served


def test_service_area_prefix_kinds() -> None:
    data = _broken("service_area", ["S", "SW1A 1", "M14"])
    profile = parse_company(data)
    assert profile.serves_postcode("S1 2AB") and not profile.serves_postcode("SE1 2AB")
    assert profile.serves_postcode("SW1A 1AA") and not profile.serves_postcode("SW1A 2AA")
    assert profile.serves_postcode("M14 5AA") and not profile.serves_postcode("M1 5AA")
    assert parse_company(_broken("service_area", [])).serves_postcode("ZE1 0AA")


@pytest.mark.parametrize(
    ("said", "keyword"),
    [
        ("the kitchen is flooding", "flood"),
        ("it's flooded downstairs", "flood"),
        ("there's a Burst Pipe", "burst pipe"),
        ("I can smell gas", "smell gas"),
        ("the floodlight is broken", None),
        ("my tap drips", None),
    ],
)
def test_find_emergency(said: str, keyword: str | None) -> None:
    assert PLUMBER.find_emergency(said) == keyword


def test_transfer_allowlist() -> None:
    assert PLUMBER.transfer_target("Office").dial == "PJSIP/1001"
    assert PLUMBER.transfer_target("PJSIP/1099").name == "on-call engineer"
    assert PLUMBER.transfer_target("PJSIP/9999") is None
    assert PLUMBER.emergency_target.dial == "PJSIP/1099"
    assert SPARKS.emergency_target is None  # priority booking instead


def test_system_prompt() -> None:
    now = at(2025, 5, 18, 10, 0)  # Sunday: closed
    prompt = system_prompt(PLUMBER, tts_reads_brackets=True, now=now)
    assert "Thames Plumbing and Heating" in prompt
    assert "closed now; opens again tomorrow at eight in the morning" in prompt
    assert "Leak repair (id leak_repair): call-out 85 pounds, 65 pounds an hour" in prompt
    assert "Drain unblocking (id drain_unblock): fixed price 120 pounds" in prompt
    assert "Never invent" in prompt and "Never say a slot is booked" in prompt
    assert "brackets" in prompt and "office, on-call engineer" in prompt
    assert "SW1, SW3" in prompt and "- Sunday: closed" in prompt
    assert "**" not in prompt
    # The markers the caller's lines may carry (``agent.dialogue.doubt``) are explained.
    assert "[unsure]" in prompt and "[check: words]" in prompt
    assert "[also heard: ... | ...] names other ways" in prompt
    quiet = system_prompt(SPARKS, tts_reads_brackets=False, now=at(2025, 5, 13, 10, 0))
    assert "brackets" not in quiet and "open now" in quiet and "priority job" in quiet
