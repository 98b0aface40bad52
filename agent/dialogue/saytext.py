"""Text for the ear: how a UK receptionist would read things out.

A TTS reads "SW1A 1AA" as a word, "07700900123" as seven billion and
"14:30" as "fourteen thirty". These pure functions write such things the way
people say them: postcodes character by character, phone numbers in their
usual groups, prices as "85 pounds 50", times as "half past two in the
afternoon", dates as "Tuesday the 14th of May" (in the company's timezone).
``for_the_ear`` applies them to free text (and drops markdown).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from agent.business.company import Price
from agent.business.ukformats import parse_postcode, to_e164

_SMALL = (  # noqa: SIM905
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_MONTHS = (  # noqa: SIM905
    "January February March April May June July August September October November December"
).split()
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_CURRENCY = {
    "GBP": ("pound", "pounds", "pence"),
    "EUR": ("euro", "euros", "cent"),
    "USD": ("dollar", "dollars", "cents"),
}


def number_words(n: int) -> str:
    """0..99 in words ("thirty-seven")."""
    if not 0 <= n < 100:
        raise ValueError(f"number_words handles 0..99, got {n}")
    if n < 20:
        return _SMALL[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_SMALL[ones]}" if ones else "")


def say_postcode(postcode: str) -> str:
    """ "SW1A 1AA" -> "S W 1 A, 1 A A" (unparseable text comes back unchanged)."""
    pc = parse_postcode(postcode)
    if pc is None:
        return postcode
    return f"{' '.join(pc.outward)}, {' '.join(pc.inward)}"


def _groups(digits: str, sizes: tuple[int, ...]) -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(" ".join(digits[pos : pos + size]))
        pos += size
    if pos < len(digits):
        out.append(" ".join(digits[pos:]))
    return ", ".join(g for g in out if g)


def say_phone(number: str) -> str:
    """A phone number digit by digit in its usual groups; UK numbers in national form.

    "07700 900123" -> "0 7 7 0 0, 9 0 0, 1 2 3"; "+442071234567" -> "0 2 0, 7 1 2 3, 4 5 6 7".
    """
    e164 = to_e164(number)
    if e164 is None:
        digits = re.sub(r"\D", "", number)
        return _groups(digits, (3,) * (len(digits) // 3 + 1)) if digits else number
    if not e164.startswith("+44"):
        digits = e164[1:]
        return "plus " + _groups(digits, (3,) * (len(digits) // 3 + 1))
    national = "0" + e164[3:]
    if national.startswith("02"):
        sizes: tuple[int, ...] = (3, 4, 4)  # 020 7123 4567
    elif national.startswith(("03", "08", "09")) or re.match(r"01(1\d|\d1)", national):
        sizes = (4, 3, 4)  # 0800 123 4567, 0161 496 0000
    else:
        sizes = (5, 3, 3)  # 07700 900 123, 01632 960 123
    return _groups(national, sizes)


def say_price(amount: Decimal | float | int | str, currency: str = "GBP") -> str:
    """85 -> "85 pounds", 85.5 -> "85 pounds 50", 0.5 -> "50 pence", 1 -> "1 pound"."""
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    one, many, minor = _CURRENCY.get(currency.upper(), (currency, currency, ""))
    whole, cents = divmod(int(value * 100), 100)
    if whole == 0 and cents and minor:
        return f"{cents} {minor}"
    text = f"{whole} {one if whole == 1 else many}"
    if cents:
        text += f" {cents:02d}" if minor else f".{cents:02d}"
    return text


def say_service_price(price: Price, currency: str = "GBP") -> str:
    """ "there's a call-out charge of 85 pounds, then 65 pounds an hour", or the fixed price."""
    if price.fixed is not None:
        return f"it's a fixed price of {say_price(price.fixed, currency)}"
    parts = []
    if price.call_out is not None:
        parts.append(f"there's a call-out charge of {say_price(price.call_out, currency)}")
    if price.hourly is not None:
        parts.append(f"then {say_price(price.hourly, currency)} an hour")
    return ", ".join(parts)


def say_time(t: dtime | datetime) -> str:
    """14:30 -> "half past two in the afternoon"; 09:00 -> "nine in the morning";
    12:00 -> "midday"; 10:45 -> "quarter to eleven in the morning"; 16:37 -> "four
    thirty-seven in the afternoon"."""
    hour, minute = t.hour, t.minute
    if minute == 0 and hour in (0, 12):
        return "midnight" if hour == 0 else "midday"
    part = "in the morning" if hour < 12 else "in the afternoon" if hour < 18 else "in the evening"
    h12 = hour % 12 or 12
    next12 = (hour + 1) % 12 or 12
    if minute == 0:
        phrase = number_words(h12)
    elif minute == 15:
        phrase = f"quarter past {number_words(h12)}"
    elif minute == 30:
        phrase = f"half past {number_words(h12)}"
    elif minute == 45:
        phrase = f"quarter to {number_words(next12)}"
    elif minute % 5 == 0 and minute < 30:
        phrase = f"{number_words(minute)} past {number_words(h12)}"
    elif minute % 5 == 0:
        phrase = f"{number_words(60 - minute)} to {number_words(next12)}"
    else:
        phrase = f"{number_words(h12)} {'oh-' if minute < 10 else ''}{number_words(minute)}"
    return f"{phrase} {part}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def say_date(d: date, *, today: date | None = None) -> str:
    """ "today", "tomorrow", else "Tuesday the 14th of May" (year only when not this year)."""
    if today is not None:
        if d == today:
            return "today"
        if (d - today).days == 1:
            return "tomorrow"
    text = f"{_DAYS[d.weekday()]} the {_ordinal(d.day)} of {_MONTHS[d.month - 1]}"
    if today is not None and d.year != today.year:
        text += f" {d.year}"
    return text


def say_when(at: float, tz: ZoneInfo, *, now: float | None = None) -> str:
    """Epoch seconds in the company's timezone: "tomorrow at half past two in the afternoon"."""
    local = datetime.fromtimestamp(at, tz)
    today = datetime.fromtimestamp(now, tz).date() if now is not None else None
    time_text = say_time(local)
    return f"{say_date(local.date(), today=today)} at {time_text}"


# --- free text -------------------------------------------------------------------

_MARKDOWN = re.compile(r"\*\*|__|`|^\s*#+\s*|^\s*[-*•]\s+|\[(?=[^\]]*\]\()|\]\([^)]*\)", re.M)
_PRICE = re.compile(r"([£€$])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?")
_SYMBOL = {"£": "GBP", "€": "EUR", "$": "USD"}
_POSTCODE_TEXT = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b")
_PHONE_TEXT = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s\-]?|0)\d[\d\s\-]{7,13}\d\b")
_CLOCK_TEXT = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b(?!\s*(?:am|pm))", re.I)


def _price_sub(m: re.Match[str]) -> str:
    whole = m.group(2).replace(",", "")
    cents = (m.group(3) or "").ljust(2, "0") if m.group(3) else "00"
    return say_price(f"{whole}.{cents}", _SYMBOL[m.group(1)])


def _phone_sub(m: re.Match[str]) -> str:
    return say_phone(m.group(0)) if to_e164(m.group(0)) else m.group(0)


def for_the_ear(text: str) -> str:
    """Rewrite a reply for a TTS: drop markdown, say prices, postcodes, phone
    numbers and 24-hour times the way people do."""
    text = _MARKDOWN.sub("", text)
    text = _PRICE.sub(_price_sub, text)
    text = _PHONE_TEXT.sub(_phone_sub, text)
    text = _POSTCODE_TEXT.sub(lambda m: say_postcode(m.group(0)), text)
    text = _CLOCK_TEXT.sub(lambda m: say_time(dtime(int(m.group(1)), int(m.group(2)))), text)
    return text
