"""The demo caller answers read-backs and spelling requests as a person would."""

from __future__ import annotations

import pytest

from agent.demo.readback import reply_to_agent
from agent.demo.scenarios import caller_lines

TEXTS = {name: line.text for name, line in caller_lines().items()}
DETAILS = ["leak", "sounds_fine", "name", "address"]


@pytest.mark.parametrize(
    ("agent_line", "said", "reply"),
    [
        # Read back as said: yes (digits, spaced letters and case do not matter).
        ("Sorry, the line isn't very clear. Was that 22 Baker Street?", DETAILS, "thats_right"),
        ("Just to check, was that 22 baker street?", DETAILS, "thats_right"),
        ("Was that S W 1 A, 1 A A?", [*DETAILS, "postcode"], "thats_right"),
        ("Was that 0 7 7 0 0, 9 0 0, 1 2 3?", [*DETAILS, "postcode", "phone"], "thats_right"),
        # Read back wrong: the street is corrected, in the caller's own words.
        (
            "Sorry, the line isn't very clear. Was that 22 Bay Crest Street?",
            DETAILS,
            "address_again",
        ),
        ("Was that 22 Bay Crest Street?", [*DETAILS, "address_again"], "address_again"),
        # ... a detail with no correction line is said again.
        ("Was that John Smythe?", DETAILS, "name"),
        ("Was that S W 1 A, 1 A B?", [*DETAILS, "postcode"], "postcode"),
        # The spelling of the street, once the address was said.
        (
            "Sorry about that. Could you spell the name of the street for me?",
            DETAILS,
            "street_spelling",
        ),
        ("Could you spell the name of the street for me?", ["leak"], None),
        # Not a read-back: the script goes on.
        ("Thanks. What's the address of the job?", DETAILS, None),
        ("I can do tomorrow at eight in the morning. Shall I book that for you?", DETAILS, None),
        ("Was that for the boiler?", DETAILS, None),  # made of nothing said
        ("Was that 22 Baker Street?", [], None),
        # Only one sentence is the read-back: no question runs into the next one.
        ("Was that. Sorry, I didn't follow. And the postcode?", DETAILS, None),
    ],
)
def test_reply_to_agent(agent_line, said, reply):
    assert reply_to_agent(agent_line, said, TEXTS) == reply


def test_every_reply_is_a_recorded_line():
    from agent.demo.readback import CORRECTIONS, SPELLINGS, YES

    named = {YES, *CORRECTIONS.values(), *(spelling for *_, spelling in SPELLINGS)}
    assert named <= set(TEXTS)
    for name in named:
        assert caller_lines()[name].path.is_file()
