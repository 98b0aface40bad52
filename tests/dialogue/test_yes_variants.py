"""Yes and no as callers say them and as a recogniser writes them."""

from __future__ import annotations

import pytest

from agent.dialogue.slots import yes_no


@pytest.mark.parametrize(
    ("said", "answer"),
    [
        ("You got it.", True),
        ("Got it, thanks.", True),
        ("Go for it.", True),
        ("That'll do.", True),
        ("Works for me.", True),
        ("Know that's everything.", False),  # "No, that's everything" as written
        ("Now that's all, thanks.", False),
        ("I know that's the street", None),  # "know" inside a line is no answer
        ("Now then, my name is Sam", None),
    ],
)
def test_yes_no_variants(said: str, answer: bool | None) -> None:
    assert yes_no(said) is answer
