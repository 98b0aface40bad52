"""Off-script questions mid-booking: answered from the company profile, then the
booking goes on with the question it was on."""

from __future__ import annotations

import copy
import json

import pytest

from agent.business.company import EXAMPLE_COMPANIES, parse_company
from agent.dialogue.offscript import answer, topic
from agent.dialogue.workflow import State
from tests.dialogue.test_callers import NOW, Call

DATA = json.loads(EXAMPLE_COMPANIES.read_text())
_bare = copy.deepcopy(DATA["companies"][1])
_bare.pop("info")
_bare["transfer_targets"] = []
BARE = parse_company(_bare)  # no info texts, nobody to transfer to


@pytest.mark.parametrize(
    ("question", "name", "heard"),
    [
        ("does that include VAT?", "vat", "include VAT"),
        ("is that plus VAT?", "vat", "include VAT"),
        ("can I pay by card?", "payment", "by card"),
        ("do you take cash?", "payment", "cash"),
        ("how soon can you get someone out?", "response_time", "same or the next working day"),
        ("when can an engineer come?", "response_time", "same or the next working day"),
        ("what are your opening hours?", "hours", "Monday to Friday, 8 in the morning"),
        ("are you open on weekends?", "hours", "Saturday, 9 in the morning"),
        ("do you cover Wimbledon?", "area", "S W 1, S W 3"),
        ("which areas do you work in?", "area", "E C 4"),
        ("are you a robot?", "robot", "automated booking assistant"),
        ("am I talking to a computer?", "robot", "put you through to a person"),
        ("are your engineers insured?", None, "can't answer that one"),
    ],
)
def test_off_script_question_is_answered_and_the_step_goes_on(question, name, heard) -> None:
    call = Call()
    call.say("my tap is leaking")
    call.say("yes please")
    call.say("Sarah Jones")
    assert topic(question) == name
    reply = call.say(question)
    assert heard in reply
    assert reply.endswith("What's the address of the job?")  # back to the step
    assert call.wf.data.address is None  # the question is not taken as the address
    call.say("22 Baker Street")
    assert call.wf.data.address == "22 Baker Street"


def test_without_profile_texts_the_answers_stay_honest() -> None:
    assert answer(BARE, "vat", NOW) == "The engineer will confirm that with you before starting."
    assert "engineer will confirm" in answer(BARE, "payment", NOW)
    robot = answer(BARE, "robot", NOW)
    assert "automated" in robot and "put you through" not in robot  # nobody to put through to
    assert "S K 4" in answer(BARE, "area", NOW)


def test_a_question_that_gives_a_detail_is_a_detail() -> None:
    call = Call()
    call.say("my tap is leaking")
    call.say("yes please")
    call.say("Sarah Jones")
    call.say("22 Baker Street")
    call.say("do you cover SW1A 1AA?")
    assert call.wf.data.postcode == "SW1A 1AA"


def at_address() -> Call:
    call = Call()
    call.say("my tap is leaking")
    call.say("yes please")
    call.say("Sarah Jones")
    return call


@pytest.mark.parametrize(
    "said", ["Sorry, what?", "pardon?", "What was that?", "Sorry, can you say that again?"]
)
def test_sorry_what_gets_the_same_words_again(said: str) -> None:
    call = at_address()
    before = call.last
    assert topic(said) == "repeat"
    assert call.say(said) == before  # not "I can't answer that one"
    call.say("22 Baker Street")
    assert call.wf.data.address == "22 Baker Street"  # the booking goes on


@pytest.mark.parametrize("said", ["How much did you say?", "Can you repeat the price?"])
def test_the_price_again_is_the_quote_then_the_open_question(said: str) -> None:
    call = at_address()
    reply = call.say(said)
    assert "85 pounds" in reply and reply.endswith("What's the address of the job?")
    assert "Would you like me to book" not in reply  # the quote's own question is over


@pytest.mark.parametrize(
    "said",
    [
        "how much is that?",
        "How much will that be?",
        "what's that going to cost me?",
        "and what does that come to?",
        "what do you charge?",
        "is there a call out fee?",
        "how much?",
    ],
)
def test_any_price_question_gets_the_quote_then_the_open_question(said: str) -> None:
    call = at_address()
    assert topic(said) == "price"
    reply = call.say(said)
    assert "85 pounds" in reply and reply.endswith("What's the address of the job?")


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("how much longer will you be?", None),  # the time, not the price
        ("how much water is there, it's everywhere", None),
        ("how much is that including VAT?", "vat"),
        ("can I pay by card, how much is it?", "payment"),
    ],
)
def test_how_much_that_is_not_the_price(said: str, name: str | None) -> None:
    assert topic(said) == name


def test_the_price_before_the_job_is_known_waits_for_the_job() -> None:
    call = Call()
    reply = call.say("how much do you charge?")
    assert "depends on the job" in reply and reply.endswith("What can we help you with?")
    assert "85 pounds" in call.say("my tap is leaking")


@pytest.mark.parametrize("said", ["Hang on a sec", "Hold on, let me get a pen", "one moment"])
def test_hold_on_gets_time_and_no_question(said: str) -> None:
    call = at_address()
    assert call.say(said) == "Of course, take your time."
    assert call.wf.data.name == "Sarah Jones"  # "Hold on" is no one's name
    assert call.wf.data.address is None


def test_are_you_there_and_why_my_details() -> None:
    call = at_address()
    reply = call.say("Hello? Are you there?")
    assert reply.startswith("Yes, I'm here.") and reply.endswith("What's the address of the job?")
    reply = call.say("Why do you need my address?")
    assert "engineer knows who they're visiting" in reply
    assert reply.endswith("What's the address of the job?")


def test_saying_something_else_with_say_it_is_not_a_repeat() -> None:
    assert topic("I'd say it's urgent") is None
    assert topic("Sarah Jones") is None


@pytest.mark.parametrize(
    "said",
    [
        "Hello, is that the plumber?",
        "who am I speaking to?",
        "is this Thames Plumbing and Heating?",  # the name's "heating" is not the job
        "have I got the right number for the plumbers?",
    ],
)
def test_is_that_the_plumber_gets_who_we_are_then_the_question(said: str) -> None:
    call = Call()
    reply = call.say(said)
    assert topic(said) == "who"
    assert reply.startswith("You're through to Thames Plumbing and Heating")
    assert "automated" in reply and reply.endswith("What can we help you with?")
    assert "85 pounds" in call.say("my tap is leaking")


def test_the_company_name_said_with_the_job_leaves_the_job() -> None:
    reply = Call().say("Hi, is that Thames Plumbing? My kitchen tap is dripping.")
    assert "leak repair" in reply  # not boiler repair for the name's "heating"


@pytest.mark.parametrize(
    "said", ["are you a real person?", "am I talking to a human?", "is this a real person?"]
)
def test_are_you_a_person_is_answered_honestly_not_taken_as_asking_for_one(said: str) -> None:
    call = Call()
    call.say("my tap is leaking")
    reply = call.say(said)
    assert "automated" in reply and "not a person" in reply and not reply.startswith("Yes")
    assert call.wf.state is State.QUOTE  # still here: the caller may go on with the booking


def test_asking_for_a_real_person_is_still_put_through() -> None:
    call = Call()
    call.say("my tap is leaking")
    assert "put you through" in call.say("can I speak to a real person please")
    assert call.wf.state is State.TRANSFER


def booked() -> Call:
    call = at_address()
    for line in ("22 Baker Street", "SW1A 1AA", "07700900123", "tomorrow", "yes", "yes"):
        call.say(line)
    assert call.wf.state is State.CLOSE
    return call


@pytest.mark.parametrize(
    ("said", "heard"),
    [
        ("what time will they get here?", "The engineer is booked for tomorrow at nine"),
        ("when will the engineer arrive?", "The engineer is booked for tomorrow at nine"),
        ("what's my booking reference?", "Your booking reference is B 1."),
        ("how long will the job take?", "depends on the job"),
    ],
)
def test_questions_about_the_booking_made_are_answered_from_it(said: str, heard: str) -> None:
    call = booked()
    reply = call.say(said)
    assert heard in reply and reply.endswith("Is there anything else I can help with?")


def test_before_a_booking_when_and_reference_say_what_is_known() -> None:
    call = Call()
    call.say("my tap is leaking")
    assert "same or the next working day" in call.say("what time will they get here?")
    assert "once the booking is made" in call.say("what's my booking reference?")


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("how long will it take to get someone out?", "response_time"),  # how soon
        ("what time do you open?", "hours"),
    ],
)
def test_how_long_and_what_time_that_are_not_about_the_booking(said: str, name: str) -> None:
    assert topic(said) == name


@pytest.mark.parametrize(
    ("said", "name"),
    [
        # the caller wondering whether anyone is on the line
        ("Hello? Hello, is anyone there?", "here"),
        ("Hello, hello?", "here"),
        ("is anybody there?", "here"),
        ("is someone still there?", "here"),
        ("hello, my tap is leaking", None),  # a greeting before the job is not a check
        # working days asked about in other words: the opening hours
        ("do you work weekends?", "hours"),
        ("Do you work on Saturdays?", "hours"),
        ("do you do call-outs in the evenings?", "hours"),
        ("do you work for the council?", None),
        ("sorry, what was the reference?", "reference"),
        ("what's my ref?", "reference"),
        ("what's my name for?", "why_details"),
        ("I'd rather not say.", "why_details"),
        ("do I have to give you my number?", "why_details"),
    ],
)
def test_is_anyone_there_and_working_days_in_other_words(said: str, name: str | None) -> None:
    assert topic(said) == name


def test_is_anyone_there_at_the_start_gets_an_answer_not_a_wrong_job() -> None:
    call = Call()
    reply = call.say("Hello? Hello, is anyone there?")
    assert "I'm here" in reply and "job for us" not in reply
