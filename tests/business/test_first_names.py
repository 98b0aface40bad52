"""The first-name prior: which readings of a first name heard in doubt are names."""

from __future__ import annotations

import pytest

from agent.business.first_names import (
    ending_heard_after,
    glued_first_name,
    is_first_name,
    sounds_like_first_name,
)


@pytest.mark.parametrize(
    ("heard", "name"),
    [
        ("Nina", "Nina"),
        ("ben", "Ben"),
        ("Niner", "Nina"),  # the "-a" of a name heard as "-er"
        ("Anner", "Anna"),
        ("Nine", "Nina"),  # the same sounds, spelled alike
        ("Marc", "Mark"),
        ("Steven", "Stephen"),
        # words that are not names, and names too far off, are left alone
        ("Then", None),
        ("Neither", None),
        ("Done", None),
        ("Tin", None),
        ("Yes", None),
        ("Here", None),
        ("9", None),
    ],
)
def test_sounds_like_first_name(heard: str, name: str | None) -> None:
    assert sounds_like_first_name(heard) == name


def test_is_first_name_takes_a_known_name_in_any_case_only() -> None:
    assert is_first_name("SARAH") and is_first_name("sarah")
    assert not is_first_name("Sarer") and not is_first_name("Then")


@pytest.mark.parametrize(
    ("heard", "surname", "first"),
    [
        ("Bentonson", "Thompson", "Ben"),
        ("Marksmith", "Smith", "Mark"),
        ("Ninashaw", "Shaw", "Nina"),
        ("Thompson", "Thompson", None),  # the surname alone
        ("Tomson", "Thompson", None),  # no room for a first name
        ("Annoluis", "Lewis", None),  # the rest does not start as the surname
    ],
)
def test_glued_first_name(heard: str, surname: str, first: str | None) -> None:
    assert glued_first_name(heard, surname) == first


@pytest.mark.parametrize(
    ("first", "heard", "spelled", "mended"),
    [
        ("Ann", "Oluis", "Lewis", "Anna"),  # the "-a" of Anna heard on the surname
        ("Ann", "Oliver", "Oliver", "Ann"),  # the vowel is the surname's own
        ("Ann", "Lewis", "Lewis", "Ann"),  # nothing lost
        ("Jon", "Ahmed", "Mehta", "Jon"),  # "Jona" is no name the prior knows
    ],
)
def test_ending_heard_after(first: str, heard: str, spelled: str, mended: str) -> None:
    assert ending_heard_after(first, heard, spelled) == mended
