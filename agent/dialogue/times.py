"""When the caller would like the visit, from their words (pure).

"tomorrow morning", "Thursday at 3", "the 20th", "any time after 3", "first thing",
"after lunch", "as soon as possible": resolved in the company's timezone into a
``TimeWindow`` of epoch seconds (``now`` passed in), or ``None`` when no time was
said. A window is what the caller allows, not a slot: the diary offers one in it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs

from agent.dialogue.details import STREET_WORDS

__all__ = ["TimeWindow", "clock_time", "find_time_window"]


@attrs.frozen
class TimeWindow:
    """When the caller would like the visit: epoch seconds [start, end) and their words."""

    start: float
    end: float
    label: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(f"time window ends before it starts: {self.start}..{self.end}")


_SMALL_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_SMALL_NUMBERS += ("ten", "eleven", "twelve")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august")
_MONTHS += ("september", "october", "november", "december")
# Parts of a day, as hours [from, to): "first thing" is the start of the working day.
_PARTS = {
    "first thing": (8, 10),
    "after lunch": (13, 17),
    "lunchtime": (12, 14),
    "lunch time": (12, 14),
    "morning": (8, 12),
    "afternoon": (12, 17),
    "evening": (17, 20),
}
_DAY_ENDS = 18  # "any time after 3": until the working day is over
_DAY_STARTS = 8  # "before 10": from when it starts
_ASAP = re.compile(
    r"\b(?:asap|as soon as (?:possible|you can)|soonest|earliest|any ?time|whenever|urgent(?:ly)?|"
    r"right away|straight away|first available|(?:i )?don't mind|doesn't matter|not fussed|"
    r"whatever suits|whenever suits|any day)\b",
    re.IGNORECASE,
)
_CLOCK = re.compile(
    r"\b(?:(half|quarter) past (\w+)|(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?"
    r"|(noon|midday))\b",
    re.IGNORECASE,
)
_HOUR_WORDS = {w: i for i, w in enumerate(_SMALL_NUMBERS)}
# What follows a house number: a street's name and its street word ("3 Kings Road").
_HOUSE_AFTER = re.compile(
    rf"\s*[a-z]?,?\s*(?:[A-Za-z][\w'\-]*\s+){{0,3}}(?:{STREET_WORDS})\b", re.IGNORECASE
)
_BOUND = re.compile(
    r"\b(after|from|not before|before|by|till|until|"
    # "I'm at work till 5": free from then on
    r"(?:at work|out|busy|working|away|not (?:in|home|back)) (?:till|until))"
    r"\s+(?:\d|half|quarter|noon|midday)"
)
_MONTH_WORDS = "|".join(_MONTHS)
_DATE = re.compile(
    rf"\bthe\s+(\d{{1,2}})(?:st|nd|rd|th)\b(?:\s+(?:of\s+)?({_MONTH_WORDS}))?|"
    rf"\b(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_WORDS})\b|"
    rf"\b({_MONTH_WORDS})\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\b",
    re.IGNORECASE,
)
# Not a date: "the 2nd floor", "the 7th Station Road" (a recogniser's house number).
_NOT_DATE_AFTER = re.compile(
    rf"\s*(?:floor|time|one|(?:[A-Za-z]+\s+){{0,3}}(?:{STREET_WORDS}))\b", re.I
)


def clock_time(text: str) -> time | None:
    """The clock time said in ``text`` ("at 3", "half past ten", "2pm"), if any."""
    for m in _CLOCK.finditer(text):
        half, past_hour, hour, minute, ampm, noon = m.groups()
        if noon:
            return time(12, 0)
        if half:
            h = _HOUR_WORDS.get(past_hour.lower()) or (int(past_hour) if past_hour.isdigit() else 0)
            mins = 30 if half.lower() == "half" else 15
        else:
            # A bare number is a time only with "at" before it or am/pm/":mm" with it.
            before = text[: m.start()].lower().split()[-1:] or [""]
            bound = ("at", "around", "about", "after", "before", "from", "by", "till", "until")
            if not (ampm or minute or before[0] in bound):
                continue
            if not (ampm or minute) and _HOUSE_AFTER.match(text, m.end()):
                continue  # "I'm at 3 Kings Road": a house number, not 3 o'clock
            h, mins = int(hour), int(minute or 0)
        if not 0 < h <= 23 or mins > 59:
            continue
        suffix = (ampm or "").lower().replace(".", "")
        if suffix == "pm" and h < 12:
            h += 12
        elif suffix == "am" and h == 12:
            h = 0
        elif not suffix and 1 <= h <= 6:  # nobody books a plumber for 3 in the night
            h += 12
        return time(h, mins)
    return None


def _date(low: str, today: date) -> date | None:
    """A date said by its day of the month ("the 20th", "the 3rd of June", "June
    3rd"): this month's (or the month named) if it is still to come, else the next."""
    m = next((m for m in _DATE.finditer(low) if not _NOT_DATE_AFTER.match(low, m.end())), None)
    if m is None:
        return None
    day = int(m.group(1) or m.group(3) or m.group(6))
    month_name = m.group(2) or m.group(4) or m.group(5)
    if month_name is not None:
        month = _MONTHS.index(month_name.lower()) + 1
        for year in (today.year, today.year + 1):
            try:
                found = date(year, month, day)
            except ValueError:
                return None
            if found >= today:
                return found
        return None
    for ahead in range(0, 3):  # this month, or the next one that has that day
        month_index = today.month - 1 + ahead
        year, month = today.year + month_index // 12, month_index % 12 + 1
        try:
            found = date(year, month, day)
        except ValueError:
            continue
        if found >= today:
            return found
    return None


def _day(low: str, today: date) -> date | None:
    """The day named: today, tomorrow, the day after, a date, a weekday (next week's
    when "next week" is said with it)."""
    if re.search(r"\bday after tomorrow\b", low):
        return today + timedelta(days=2)
    if re.search(r"\b(?:today|this morning|this afternoon|this evening|tonight)\b", low):
        return today
    if "tomorrow" in low:
        return today + timedelta(days=1)
    if (said := _date(low, today)) is not None:
        return said
    for index, name in enumerate(_WEEKDAYS):
        if re.search(rf"\b{name}s?\b", low):
            if "next week" in low:  # "Tuesday next week": that week's Tuesday
                return today + timedelta(days=7 - today.weekday() + index)
            return today + timedelta(days=(index - today.weekday()) % 7 or 7)
    return None


def find_time_window(text: str, *, now: float, tz: ZoneInfo) -> TimeWindow | None:
    """Resolve "tomorrow morning", "Tuesday at 3", "as soon as possible"... in ``tz``."""
    low = text.lower()
    today = datetime.fromtimestamp(now, tz).date()
    label = text.strip()
    day = _day(low, today)
    if day is None and "next week" in low:
        start = datetime.combine(today + timedelta(days=7 - today.weekday()), time(0), tz)
        return TimeWindow(start.timestamp(), (start + timedelta(days=5)).timestamp(), label)
    if day is None and (span := _span(low, today, tz)) is not None:  # "this week"
        return TimeWindow(max(span[0], now), span[1], label)
    clock = clock_time(text)
    part = next((p for p in _PARTS if p in low), "evening" if "tonight" in low else None)
    if day is None and _ASAP.search(text) and clock is None and part is None:
        return TimeWindow(now, now + 7 * 86400, label)
    if day is None and clock is None and part is None:
        return None
    if clock is not None:
        first = datetime.combine(day or today, clock, tz)
        if day is None and first.timestamp() <= now:
            first += timedelta(days=1)
        last = first + timedelta(hours=2)
        bound = _BOUND.search(low)
        if bound is not None and not bound.group(1).startswith(("before", "by", "till", "until")):
            last = max(last, datetime.combine(first.date(), time(_DAY_ENDS), tz))
        elif bound is not None and first.hour > _DAY_STARTS:  # "before 10", "by 10"
            first, last = datetime.combine(first.date(), time(_DAY_STARTS), tz), first
        return TimeWindow(max(first.timestamp(), now), last.timestamp(), label)
    if part is not None:
        lo, hi = _PARTS[part]
        first = datetime.combine(day or today, time(lo), tz)
        last = datetime.combine(day or today, time(hi), tz)
        if day is None and last.timestamp() <= now:
            first, last = first + timedelta(days=1), last + timedelta(days=1)
        return TimeWindow(max(first.timestamp(), now), last.timestamp(), label)
    assert day is not None
    first = datetime.combine(day, time(0), tz)
    last = first + timedelta(days=1)
    return TimeWindow(max(first.timestamp(), now), last.timestamp(), label)


def _span(low: str, today: date, tz: ZoneInfo) -> tuple[float, float] | None:
    """A window of several days: "this week" (till Saturday), "the next few days"
    (three), "the weekend" (the coming Saturday and Sunday)."""
    if re.search(r"\b(?:this|the rest of the) week\b", low):
        first, days = today, 6 - today.weekday()
    elif re.search(r"\bnext (?:few|couple of|two|three|2|3) days\b|\bfew days\b", low):
        first, days = today, 3
    elif re.search(r"\bweekend\b", low):
        first = today + timedelta(days=(5 - today.weekday()) % 7)
        days = 2 if today.weekday() < 6 else 1
    else:
        return None
    start = datetime.combine(first, time(0), tz)
    return start.timestamp(), (start + timedelta(days=max(days, 1))).timestamp()
