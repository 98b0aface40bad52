"""A problem still not understood: an engineer offered to come and look (``workflow_problem``)."""

from __future__ import annotations

import json

import attrs
import pytest

from agent.base.errors import ConfigError
from agent.business.company import EXAMPLE_COMPANIES, parse_company
from agent.dialogue.workflow import State, Transfer
from agent.dialogue.workflow_problem import not_a_job
from tests.dialogue.test_callers import NOW, PLUMBER, Call

MISHEARD = "The radio D8 turns the lounges."


def offered() -> Call:
    call = Call()
    assert call.say(MISHEARD).startswith("Sorry, is that a job for us?")
    reply = call.say("Yes please.")  # yes, it is a job for you
    assert "I can book an engineer to come and take a look" in reply
    assert "call-out charge of 85 pounds" in reply and reply.endswith("Shall I do that?")
    return call


def test_yes_to_the_offer_books_the_look_with_the_callers_own_words() -> None:
    call = offered()
    assert "name" in call.say("Yes please.")
    call.say("My name is Fiona Campbell")
    call.say("33 Church Street")
    call.say("SW7 2AZ")
    call.say("07700 900134")
    call.say("tomorrow morning")
    assert "You're booked" in call.say("yes that's fine")
    booking = next(t.request for t in call.tools if t.name == "book_appointment")
    assert booking.service_id == "leak_repair"  # the company's assessment service
    assert booking.problem == "The radio D8 turns the lounges."


@pytest.mark.parametrize("answer", ["No thanks.", "Can I speak to a real person?"])
def test_no_or_a_person_is_put_through_as_before(answer: str) -> None:
    call = offered()
    call.say(answer)
    assert call.wf.state is State.TRANSFER
    assert not any(t.name == "book_appointment" for t in call.tools)


def test_two_lines_not_understood_are_both_the_job_description() -> None:
    call = Call()
    call.say("It's making a funny noise.")
    assert "come and take a look" in call.say("a sort of banging in the walls at night")
    assert call.say("yes")
    assert (
        call.wf.data.problem
        == "It's making a funny noise. a sort of banging in the walls at night."
    )


def test_lines_heard_in_doubt_count_too() -> None:
    call = Call()
    assert "say it again" in call.say(MISHEARD, confidence=0.3)
    assert "come and take a look" in call.say(MISHEARD, confidence=0.3)


def test_lines_heard_in_doubt_that_name_a_service_are_the_job_description_too() -> None:
    call = Call()
    line = "The radio D8 turns the lounges, leak them."  # "leak": heard, but in doubt
    assert "say it again" in call.say(line, confidence=0.3)
    assert "come and take a look" in call.say(line, confidence=0.3)
    assert call.wf.data.problem == line


def test_naming_a_service_after_the_offer_quotes_that_service_instead() -> None:
    call = offered()
    assert "For boiler repair" in call.say("it's the boiler, it keeps losing pressure")
    assert call.wf.data.service_id == "boiler_repair" and not call.wf.data.assessing


@pytest.mark.parametrize(
    "first",
    [
        "I'm calling about my invoice.",
        "I think I've got the wrong number.",
        "Hi, I'm calling from a marketing company.",
        "Have you got any vacancies for apprentices?",
    ],
)
def test_a_call_that_is_plainly_not_a_job_is_never_offered_a_visit(first: str) -> None:
    assert not_a_job(first)
    call = Call()
    replies = [call.say(line) for line in (first, "yes", "hmm", "well", "erm")]
    assert not any("take a look" in r for r in replies)
    assert call.wf.state is State.TRANSFER  # handed over after the misses, as before


def test_no_to_is_that_a_job_for_us_is_never_offered_a_visit() -> None:
    call = Call()
    call.say(MISHEARD)
    assert "take a look" not in call.say("No.")


def test_an_emergency_is_never_offered_a_look() -> None:
    call = Call()
    call.say(MISHEARD)
    actions = call.wf.hear("there's water coming through the ceiling", NOW)
    assert any(isinstance(a, Transfer) and "emergency" in a.reason for a in actions)


def test_no_assessment_service_hands_over_as_before() -> None:
    call = Call(profile=attrs.evolve(PLUMBER, assessment_service=None))
    replies = [call.say(MISHEARD) for _ in range(5)]
    assert not any("take a look" in r for r in replies)
    assert call.wf.state is State.TRANSFER


def test_profile_field_defaults_to_the_first_call_out_and_is_checked() -> None:
    data = json.loads(EXAMPLE_COMPANIES.read_text())["companies"]
    assert [parse_company(c).assessment_service for c in data] == ["leak_repair", "fault_finding"]
    plumber = dict(data[0])
    del plumber["assessment_service"]
    assert parse_company(plumber).assessment_service == "leak_repair"  # first with a call-out
    assert parse_company({**plumber, "assessment_service": None}).assessment is None
    with pytest.raises(ConfigError, match=r"'assessment_service'.*not one of the service ids"):
        parse_company({**plumber, "assessment_service": "painting"})
