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
        # not now, said politely, is a no to the offer
        ("Let me think about it.", False),
        ("I'll have a think, thanks.", False),
        ("I need to check with my wife first.", False),
        ("Maybe later.", False),
        ("Not right now.", False),
        ("I think it's the kitchen tap", None),
        ("I think so.", True),
        ("I guess so, yeah.", True),
        ("I don't think so.", False),
    ],
)
def test_yes_no_variants(said: str, answer: bool | None) -> None:
    assert yes_no(said) is answer


def test_a_short_yes_heard_in_doubt_takes_the_offered_slot() -> None:
    from tests.dialogue.test_callers import to_details

    call = to_details()
    for line in ("My name is Grace Martin", "20 Mill Road", "SW1A 1AA", "07700 900136"):
        call.say(line)
    assert "Shall I book" in call.say("tomorrow morning please")
    assert "You're booked" in call.say("you got it", confidence=0.3)


def test_a_yes_heard_in_doubt_to_a_read_back_is_not_taken() -> None:
    from agent.dialogue.doubt import mark_check
    from tests.dialogue.test_callers import to_details

    call = to_details()
    call.say(mark_check("My name is Ann Holuis.", ["holuis"]))
    call.say("yes", confidence=0.3)
    assert call.wf.data.name is None  # a value is only taken on a yes heard clearly


def test_let_me_think_about_it_to_the_quote_ends_politely() -> None:
    from tests.dialogue.test_callers import Call

    call = Call()
    call.say("my kitchen tap is leaking")
    assert "anything else" in call.say("Let me think about it.")
