"""UK postcode prefixes: what a company's service area matches."""

from __future__ import annotations

import pytest

from agent.business.ukformats import is_postcode_prefix, postcode_in_area


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("SE", True),
        ("sw1", True),
        ("SW1A", True),
        ("SW1A 1", True),
        ("M14", True),
        ("12", False),
        ("S 1", False),  # a sector needs a district
        ("SW1A 1AA", False),  # a whole postcode is not a prefix
    ],
)
def test_is_postcode_prefix(text, prefix):
    assert is_postcode_prefix(text) is prefix


@pytest.mark.parametrize(
    ("postcode", "prefixes", "inside"),
    [
        ("SE1 2AB", ["SE"], True),
        ("SE1 2AB", ["S"], False),  # "S" is Sheffield, not SE
        ("S1 2AB", ["S"], True),
        ("SW1A 1AA", ["SW1"], True),
        ("SW10 9AA", ["SW1"], False),  # never half a district number
        ("SW1A 1AA", ["SW1A 1"], True),
        ("SW1A 2AA", ["SW1A 1"], False),
        ("sw1a", ["SW1"], True),  # a bare outward code
        ("not a postcode", ["SW1"], False),
        ("SW1A 1AA", [], False),
    ],
)
def test_postcode_in_area(postcode, prefixes, inside):
    assert postcode_in_area(postcode, prefixes) is inside
