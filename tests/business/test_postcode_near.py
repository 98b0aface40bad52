"""The postcode of the company's area one character from what was heard (read back only)."""

import pytest

from agent.business.postcode_near import near_area_postcode

AREA = ("SW1", "SW3", "SW7", "SE1", "SE11", "W1", "WC", "EC4")


@pytest.mark.parametrize(
    ("heard", "near"),
    [
        # "one" lost or garbled, the inward code heard whole
        ("My post code is southeast point nine sg.", "SE1 9SG"),
        ("S4 sugar, E4 outward, E9, S4 sugar, G4 George.", "SE1 9SG"),
        ("No, it's probably 1D3QF.", "W1D 3QF"),
        ("My post code is easy for M7LS.", "EC4M 7LS"),
        ("My postcode is S0E 9SG.", "SE1 9SG"),  # there is no SE0
        # a postcode heard whole is the caller's, served or not
        ("My post code is SW13 3QD.", None),
        ("It's E1 7PB.", None),
        ("It's SE1 9SG.", None),
        # no inward code heard whole: nothing to build on
        ("My post code is easy when everyone be.", None),
        ("My post code is N19 good.", None),
        ("My post code is southeast point nine.", None),
        # two districts of the area equally close: no guess
        ("It's W1 3QF.", None),
        # far from every district of the area
        ("My postcode is M14 4EE.", None),
        ("It's Baker Street, 22.", None),
    ],
)
def test_the_one_district_of_the_area_a_character_away(heard: str, near: str | None) -> None:
    found = near_area_postcode(heard, AREA)
    assert (str(found) if found else None) == near


def test_an_area_outside_the_listed_districts_gives_no_guess() -> None:
    # Manchester's districts are not listed (any of M1..M99): too loose to guess from
    assert near_area_postcode("It's M 4BT.", ("M1", "M2")) is None
    assert near_area_postcode("It's M 4BT.", ("M",)) is None


def test_a_sector_prefix_limits_the_guess_to_that_sector() -> None:
    assert str(near_area_postcode("It's SE 9SG.", ("SE1 9",))) == "SE1 9SG"
    assert near_area_postcode("It's SE 7PB.", ("SE1 9",)) is None


@pytest.mark.parametrize(
    ("heard", "near"),
    [
        # "S for sugar, E for Edward, 1, 7, ..." spelled with the E lost: S1 7PB is a
        # Sheffield postcode, heard whole, and SE1 7PB is one letter from it
        ("As for sugar, if we're at 1.7 P4 Peter, before Bertie.", "SE1 7PB"),
        ("It's E1 7PB.", "SE1 7PB"),
        ("It's SE1 7PB.", None),  # the one heard is in the area: nothing else to ask
        ("It's EC1A 1BB.", None),  # two letters from EC4A: no
    ],
)
def test_beside_a_whole_postcode_outside_the_area(heard: str, near: str | None) -> None:
    assert near_area_postcode(heard, AREA) is None or near is None
    found = near_area_postcode(heard, AREA, beside_whole=True)
    assert (str(found) if found else None) == near
