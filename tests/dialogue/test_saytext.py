"""Text for the ear."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from agent.dialogue.saytext import (
    for_the_ear,
    number_words,
    say_date,
    say_phone,
    say_postcode,
    say_price,
    say_time,
    say_when,
)

TZ = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [("SW1A 1AA", "S W 1 A, 1 A A"), ("m11ae", "M 1, 1 A E"), ("not one", "not one")],
)
def test_postcode(raw: str, spoken: str) -> None:
    assert say_postcode(raw) == spoken


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [
        ("07700 900123", "0 7 7 0 0, 9 0 0, 1 2 3"),
        ("+442071234567", "0 2 0, 7 1 2 3, 4 5 6 7"),
        ("0161 496 0000", "0 1 6 1, 4 9 6, 0 0 0 0"),
        ("0800 111 999", "0 8 0 0, 1 1 1, 9 9 9"),
        ("01632 960123", "0 1 6 3 2, 9 6 0, 1 2 3"),
        ("+12125550100", "plus 1 2 1, 2 5 5, 5 0 1, 0 0"),
    ],
)
def test_phone(raw: str, spoken: str) -> None:
    assert say_phone(raw) == spoken


@pytest.mark.parametrize(
    ("amount", "currency", "spoken"),
    [
        (85, "GBP", "85 pounds"),
        ("85.50", "GBP", "85 pounds 50"),
        (Decimal("1"), "GBP", "1 pound"),
        (0.5, "GBP", "50 pence"),
        (85.05, "GBP", "85 pounds 05"),
        (20, "EUR", "20 euros"),
        (12, "CHF", "12 CHF"),
    ],
)
def test_price(amount: object, currency: str, spoken: str) -> None:
    assert say_price(amount, currency) == spoken


def test_price_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not an amount"):
        say_price("lots")


@pytest.mark.parametrize(
    ("hm", "spoken"),
    [
        ((14, 30), "half past two in the afternoon"),
        ((9, 0), "nine in the morning"),
        ((12, 0), "midday"),
        ((0, 0), "midnight"),
        ((10, 45), "quarter to eleven in the morning"),
        ((8, 15), "quarter past eight in the morning"),
        ((16, 37), "four thirty-seven in the afternoon"),
        ((17, 40), "twenty to six in the afternoon"),
        ((18, 20), "twenty past six in the evening"),
        ((7, 5), "five past seven in the morning"),
        ((9, 7), "nine oh-seven in the morning"),
        ((11, 55), "five to twelve in the morning"),
        ((12, 45), "quarter to one in the afternoon"),
    ],
)
def test_time(hm: tuple[int, int], spoken: str) -> None:
    assert say_time(time(*hm)) == spoken


def test_dates_and_when_in_company_timezone() -> None:
    today = date(2025, 5, 13)
    assert say_date(today, today=today) == "today"
    assert say_date(date(2025, 5, 14), today=today) == "tomorrow"
    assert say_date(date(2025, 5, 22), today=today) == "Thursday the 22nd of May"
    assert say_date(date(2026, 1, 1), today=today) == "Thursday the 1st of January 2026"
    assert say_date(date(2025, 5, 11)) == "Sunday the 11th of May"
    # 13:30 UTC is 14:30 in London in summer
    at = datetime(2025, 5, 14, 13, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    now = datetime(2025, 5, 13, 9, 0, tzinfo=TZ).timestamp()
    assert say_when(at, TZ, now=now) == "tomorrow at half past two in the afternoon"
    assert number_words(99) == "ninety-nine"
    with pytest.raises(ValueError):
        number_words(100)


def test_for_the_ear() -> None:
    spoken = for_the_ear(
        "**Call-out** is £85.50 (then £1,250 max). Visit at 14:30 in SW1A 1AA; "
        "we'll ring 07700 900123."
    )
    assert spoken == (
        "Call-out is 85 pounds 50 (then 1250 pounds max). Visit at half past two in the "
        "afternoon in S W 1 A, 1 A A; we'll ring 0 7 7 0 0, 9 0 0, 1 2 3."
    )
    assert for_the_ear("- first\n# Title") == "first\nTitle"
    assert for_the_ear("order 12345678 ok") == "order 12345678 ok"  # not a phone number
