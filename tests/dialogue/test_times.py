"""When the caller would like the visit, as people say it (``dialogue.times``)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agent.dialogue.times import find_time_window

TZ = ZoneInfo("Europe/London")
NOW = datetime(2025, 5, 13, 10, 0, tzinfo=TZ).timestamp()  # a Tuesday, 10 in the morning


def window(said: str) -> tuple[str, str] | None:
    found = find_time_window(said, now=NOW, tz=TZ)
    if found is None:
        return None
    start, end = (datetime.fromtimestamp(t, TZ) for t in (found.start, found.end))
    return f"{start:%d %H:%M}", f"{end:%d %H:%M}"


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("first thing tomorrow", ("14 08:00", "14 10:00")),
        ("first thing", ("14 08:00", "14 10:00")),  # today's start is over: tomorrow's
        ("any time after 3", ("13 15:00", "13 18:00")),  # till the working day ends
        ("from 2 tomorrow", ("14 14:00", "14 18:00")),
        ("before 10 tomorrow", ("14 08:00", "14 10:00")),  # from when the day starts
        ("by 11 on Thursday", ("15 08:00", "15 11:00")),
        ("after lunch", ("13 13:00", "13 17:00")),
        ("lunchtime", ("13 12:00", "13 14:00")),
        ("the day after tomorrow", ("15 00:00", "16 00:00")),
        ("Tuesday next week", ("20 00:00", "21 00:00")),  # that week's Tuesday
        ("the 20th", ("20 00:00", "21 00:00")),
        ("on the 20th of May", ("20 00:00", "21 00:00")),
        ("May 20th", ("20 00:00", "21 00:00")),
        ("the 3rd", ("03 00:00", "04 00:00")),  # gone this month: June's
        ("Friday the 16th in the afternoon", ("16 12:00", "16 17:00")),
        # ordinals that are not dates
        ("I'm on the 2nd floor", None),
        ("the 7th Station Road", None),
        ("at 3 Kings Road", None),
    ],
)
def test_times_as_people_say_them(said: str, expected: tuple[str, str] | None) -> None:
    assert window(said) == expected


def test_a_day_of_the_month_that_does_not_come_soon_is_no_date() -> None:
    assert window("the 45th") is None
