"""The doubt marker: a low-confidence line keeps its words and says it is in doubt."""

from __future__ import annotations

import pytest

from agent.dialogue.doubt import UNSURE_PREFIX, is_unsure, mark_unsure, split_unsure


@pytest.mark.parametrize(
    ("text", "marked"),
    [
        ("my number is 0770", "[unsure] my number is 0770"),
        ("  SW1A 1AA ", "[unsure] SW1A 1AA"),
        ("[unsure] twice", "[unsure] twice"),  # marking is idempotent
    ],
)
def test_mark_then_split_gives_back_the_words(text, marked):
    assert mark_unsure(text) == marked
    assert is_unsure(marked)
    assert split_unsure(marked) == (text.strip().removeprefix(UNSURE_PREFIX), True)


def test_an_unmarked_line_is_not_in_doubt():
    assert not is_unsure("unsure what the postcode is")
    assert split_unsure(" a leak ") == ("a leak", False)
