"""Opening hours: ``HH:MM-HH:MM`` periods per weekday, parsed from a company profile.

Periods lie within one day (``24:00`` allowed as the end; overnight periods are
written as two periods on two days).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import attrs

__all__ = ["WEEKDAYS", "OpeningHours", "parse_hours"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@attrs.frozen
class OpeningHours:
    """Seven tuples (Monday first) of (open, close) minutes since local midnight."""

    periods: tuple[tuple[tuple[int, int], ...], ...]

    def is_open_at(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        return any(lo <= minute < hi for lo, hi in self.periods[local.weekday()])


def _minutes(text: str) -> int:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if m is None or int(m.group(2)) > 59:
        raise ValueError(text)
    minutes = int(m.group(1)) * 60 + int(m.group(2))
    if minutes > 24 * 60:
        raise ValueError(text)
    return minutes


def parse_hours(f: Any) -> OpeningHours:
    """``f``: the profile's ``hours`` object (``company._Fields``), whose errors name the field."""
    unknown = set(f.data) - set(WEEKDAYS)
    if unknown:
        raise f.fail(sorted(unknown)[0], f"unknown weekday; use {', '.join(WEEKDAYS)}")
    days = []
    for day in WEEKDAYS:
        periods = []
        for item in f.list(day):
            try:
                lo_text, hi_text = str(item).split("-")
                lo, hi = _minutes(lo_text), _minutes(hi_text)
            except ValueError:
                raise f.fail(day, f"expected 'HH:MM-HH:MM', got {item!r}") from None
            if lo >= hi:
                raise f.fail(day, f"period {item!r} closes before it opens")
            periods.append((lo, hi))
        days.append(tuple(sorted(periods)))
    return OpeningHours(tuple(days))
