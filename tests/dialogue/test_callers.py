"""Callers who don't follow the script: details in any order, corrections, doubt.

The workflow is driven as the offline policy drives it (``hear`` on the
caller's words); tool calls are answered at once with a quote, two free slots
and a confirmed booking, so each test reads as the conversation it checks.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from agent.business.company import EXAMPLE_COMPANIES, CompanyProfile, parse_company
from agent.dialogue.doubt import mark_also_heard, mark_check
from agent.dialogue.tools import ToolResult
from agent.dialogue.workflow import BookingWorkflow, CallTool, KeepPending, Say, State, Transfer

TZ = ZoneInfo("Europe/London")
PLUMBER = parse_company(json.loads(EXAMPLE_COMPANIES.read_text())["companies"][0])
NOW = datetime(2025, 5, 13, 10, 0, tzinfo=TZ).timestamp()  # a Tuesday, open
SLOTS = {
    "slots": [
        {"start": "2025-05-14T09:00:00+01:00", "end": "2025-05-14T11:00:00+01:00"},
        {"start": "2025-05-14T11:00:00+01:00", "end": "2025-05-14T13:00:00+01:00"},
    ]
}


class Call:
    """One call: the caller's lines in, what the agent said out (tools answered)."""

    def __init__(self, amend: str = "ok", profile: CompanyProfile = PLUMBER) -> None:
        self.wf = BookingWorkflow(profile, "call-1", NOW)
        self.tools: list[CallTool] = []
        self.amend = amend
        self.last = self._run(self.wf.start(NOW))

    def say(self, text: str, confidence: float = 1.0) -> str:
        self.last = self._run(self.wf.hear(text, NOW, confidence=confidence))
        return self.last

    def keys(self) -> list[str]:
        return [a.key for a in self._actions if isinstance(a, Say)]

    def _run(self, actions: tuple[Any, ...]) -> str:
        self._actions = list(actions)
        spoken: list[str] = []
        while self._actions:
            action = self._actions.pop(0)
            if isinstance(action, Say):
                spoken.append(action.text)
                self._said = [*getattr(self, "_said", []), action.key]
            elif isinstance(action, CallTool):
                self.tools.append(action)
                self._actions.extend(self.wf.handle(self._answer(action), NOW))
        return " ".join(spoken)

    def _answer(self, call: CallTool) -> ToolResult:
        if call.name == "get_quote":
            return ToolResult(call.name, "ok", {"amount": 85})
        if call.name == "check_availability":
            return ToolResult(call.name, "ok", SLOTS)
        if call.name == "amend_booking":
            return ToolResult(call.name, self.amend, {"pending": True} if self.amend else {})  # type: ignore[arg-type]
        return ToolResult(call.name, "ok", {"booking_id": "B1"})


def to_details() -> Call:
    call = Call()
    call.say("my kitchen sink is leaking")
    call.say("yes please")
    return call


# --- details in any order ---------------------------------------------------------


def test_postcode_given_for_the_address_is_kept_and_never_taken_as_the_address() -> None:
    call = to_details()
    call.say("Sarah Jones")
    reply = call.say("my postcode is SW1A 1AA")
    data = call.wf.data
    assert data.postcode == "SW1A 1AA" and data.address is None
    assert "address" in reply  # still missing, asked again; the postcode is not asked for
    reply = call.say("22 Baker Street")
    assert data.address == "22 Baker Street" and "number" in reply


def test_phone_given_for_the_postcode_is_kept_and_postcode_asked_again() -> None:
    call = to_details()
    call.say("Sarah Jones")
    call.say("22 Baker Street")
    reply = call.say("my number is 07700 900123")
    assert call.wf.data.phone == "+447700900123" and call.wf.data.postcode is None
    assert "postcode" in reply.lower()
    call.say("SW1A 1AA")
    assert call.wf.data.postcode == "SW1A 1AA"


@pytest.mark.parametrize(
    ("said", "field", "value"),
    [
        ("My name is Raj Patel and my number is 07700 900123", "phone", "+447700900123"),
        ("It's Raj Patel, 22 Baker Street, SW1A 1AA", "address", "22 Baker Street"),
        ("Raj Patel, can you come tomorrow morning?", "name", "Raj Patel"),
    ],
)
def test_everything_in_one_answer_is_kept(said: str, field: str, value: str) -> None:
    call = to_details()
    call.say(said)
    assert getattr(call.wf.data, field) == value
    assert call.wf.data.name == "Raj Patel"


def test_a_whole_booking_given_in_two_sentences() -> None:
    call = to_details()
    call.say("I'm Raj Patel at 22 Baker Street SW1A 1AA")
    reply = call.say("07700 900123, and tomorrow morning suits")
    assert "Shall I book that" in reply
    call.say("yes")
    assert call.wf.state is State.CONFIRM and call.wf.data.booking_id == "B1"


# --- corrections ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("correction", "field", "value", "heard"),
    [
        ("no, the house number is 41", "address", "41 Baker Street", "41 Baker Street"),
        ("sorry, 41 not 22", "address", "41 Baker Street", "41 Baker Street"),
        ("actually it's 41, not 22", "address", "41 Baker Street", "41 Baker Street"),
        ("the house number was wrong, it's 41", "address", "41 Baker Street", "41 Baker Street"),
        ("sorry, it's Patel with one T", "name", "Raj Patel", "Raj Patel"),
        ("no, my postcode is SW1A 2AA", "postcode", "SW1A 2AA", "S W 1 A, 2 A A"),
    ],
)
def test_a_correction_changes_only_that_detail_and_is_read_back(
    correction: str, field: str, value: str, heard: str
) -> None:
    call = to_details()
    call.say("my name is Raj Pattel")
    call.say("22 Baker Street")
    call.say("SW1A 1AA")
    before = {f: getattr(call.wf.data, f) for f in ("name", "address", "postcode")}
    reply = call.say(correction)
    assert getattr(call.wf.data, field) == value
    assert f"changed the {field} to {heard}" in reply
    for other, old in before.items():
        if other != field:
            assert getattr(call.wf.data, other) == old  # nothing else moved


def test_not_friday_thursday_asks_for_thursday() -> None:
    call = to_details()
    for line in ("Raj Patel", "22 Baker Street", "SW1A 1AA", "07700 900123"):
        call.say(line)
    call.say("Friday morning")
    call.say("not Friday, Thursday")
    start = datetime.fromtimestamp(call.wf.data.when.start, TZ)
    assert start.strftime("%A") == "Thursday"


def test_i_already_told_you_reads_back_what_was_understood() -> None:
    call = to_details()
    call.say("Raj Patel")
    call.say("22 Baker Street")
    reply = call.say("I already told you that")
    assert "Raj Patel" in reply and "22 Baker Street" in reply and "postcode" in reply


# --- doubt ------------------------------------------------------------------------------


def test_a_number_heard_in_doubt_is_confirmed_not_asked_again() -> None:
    call = to_details()
    for line in ("Raj Patel", "22 Baker Street", "SW1A 1AA"):
        call.say(line)
    reply = call.say("07700 900456", confidence=0.3)
    assert "Was that 0 7 7 0 0, 9 0 0, 4 5 6?" in reply and call.wf.data.phone is None
    reply = call.say("yes")
    assert call.wf.data.phone == "+447700900456" and "When would suit" in reply


def test_a_rejected_guess_is_asked_again() -> None:
    call = to_details()
    for line in ("Raj Patel", "22 Baker Street", "SW1A 1AA"):
        call.say(line)
    call.say("07700 900456", confidence=0.3)
    reply = call.say("no")
    assert call.wf.data.phone is None and "number" in reply


def test_two_misses_change_strategy_then_a_person_takes_over() -> None:
    call = to_details()
    for line in ("Raj Patel", "22 Baker Street", "SW1A 1AA"):
        call.say(line)
    first = call.say("oh seven seven")  # too short: says what it heard
    assert "I heard 0 7 7" in first
    second = call.say("seven seven oh oh nine")
    assert "keypad" in second and "person" in second  # another way, and a person on offer
    actions: list = []
    for _ in range(3):
        actions += call.wf.hear("nine nine", NOW)
    assert any(isinstance(a, Transfer) for a in actions)


def test_the_same_question_at_most_twice_in_a_row() -> None:
    call = to_details()
    first = call.say("Raj Patel")
    questions = [first] + [call.say("hmm") for _ in range(2)]
    assert questions[0].endswith("What's the address of the job?")
    assert questions[1].endswith("What's the address of the job?")  # asked twice in a row
    assert "house number and the street" in questions[2] and "person" in questions[2]


def test_another_way_at_most_twice_then_a_person_whatever_else_is_given() -> None:
    # Seen in the corpus: the postcode asked ten times in a row while the caller gave
    # the phone number and the time in between (each answer kept something).
    call = to_details()
    for line in ("Raj Patel", "22 Baker Street"):
        call.say(line)
    asked = [call.say("My post code is SW1A1R.") for _ in range(2)]
    assert "postcode" in asked[0] and "spell it letter by letter" in asked[1]
    assert "spell it letter by letter" in call.say("tomorrow morning please")
    actions = call.wf.hear("My number is 07700 900123", NOW)
    assert any(isinstance(a, Transfer) for a in actions)  # not a third retry


def test_a_nine_digit_mobile_is_refused_and_read_back() -> None:
    call = to_details()
    for line in ("Raj Patel", "22 Baker Street", "SW1A 1AA"):
        call.say(line)
    reply = call.say("07700 90012")
    assert call.wf.data.phone is None and "I heard 0 7 7, 0 0 9, 0 0 1, 2" in reply


# --- amendment after the booking --------------------------------------------------------


def booked(amend: str = "ok") -> Call:
    call = Call(amend)
    call.say("my kitchen sink is leaking")
    call.say("yes please")
    for line in ("Raj Patel", "22 Baker Street", "SW1A 1AA", "07700 900123", "tomorrow"):
        call.say(line)
    call.say("yes")
    assert call.wf.data.booking_id == "B1"
    return call


def test_a_correction_after_booking_amends_it_and_says_so() -> None:
    call = booked()
    reply = call.say("no, the house number is 41")
    (amend,) = [t for t in call.tools if t.name == "amend_booking"]
    assert amend.request.body(PLUMBER) == {"customer": {"address": "41 Baker Street"}}
    assert amend.idempotency_key == "call-1:amend:1"
    assert "changed the address to 41 Baker Street on your booking" in reply


def test_an_amendment_kept_for_later_is_told_as_such() -> None:
    reply = booked("failed").say("no, the house number is 41")
    assert "isn't answering" in reply and "as soon as the system is back" in reply


def test_a_bare_no_to_the_read_back_asks_what_to_change() -> None:
    call = booked()
    assert "What should I change?" in call.say("no")
    assert "41 Baker Street on your booking" in call.say("the house number is 41")


def test_a_job_we_cannot_place_is_asked_twice_then_a_person_is_offered_then_takes_over() -> None:
    call = Call(profile=attrs.evolve(PLUMBER, assessment_service=None))  # no one sent to look
    replies = [call.say("it's making a funny noise") for _ in range(3)]
    assert replies[0].startswith("Sorry, is that a job for us?") and "person" not in replies[0]
    assert "person" not in replies[1]
    assert "say person" in replies[2]  # the third time: another way out
    actions = [a for _ in range(2) for a in call.wf.hear("it's making a funny noise", NOW)]
    assert any(isinstance(a, Transfer) for a in actions)  # the fifth miss: a person takes over


def test_a_caller_who_moves_on_after_was_that_keeps_the_value() -> None:
    call = to_details()
    call.say("Raj Patel")
    assert "Was that 22 Bay Crest Street?" in call.say("It's 22 Bay Crest Street", 0.3)
    reply = call.say("My postcode is SW1A 1AA")  # no "no": the address stands
    assert call.wf.data.address == "22 Bay Crest Street"
    assert call.wf.data.postcode == "SW1A 1AA" and "number" in reply


@pytest.mark.parametrize("said", ["tomorrow morning please", "as soon as possible", "hmm"])
def test_an_answer_to_another_question_is_never_the_address(said: str) -> None:
    call = to_details()
    call.say("Raj Patel")
    call.say(said)
    assert call.wf.data.address is None


def test_an_emergency_heard_in_doubt_is_acted_on_not_asked_again() -> None:
    call = Call()
    actions = call.wf.hear("Help my kitchen is flooding", NOW, confidence=0.2)
    assert any(isinstance(a, Transfer) and a.target.name == "on-call engineer" for a in actions)


# --- a call back asked for, a detail not to hand ----------------------------------


def test_a_call_back_asked_for_is_kept_for_the_office_on_the_callers_number() -> None:
    call = Call()
    call.wf.data.caller_id = "+447700900555"
    actions = call.wf.hear("Can you call me back later? I'm driving.", NOW)
    kept = [a for a in actions if isinstance(a, KeepPending)]
    assert [k.kind for k in kept] == ["callback"] and kept[0].data["phone"] == "+447700900555"
    said = " ".join(a.text for a in actions if isinstance(a, Say))
    assert "call you back on 0 7 7 0 0, 9 0 0, 5 5 5" in said
    assert call.wf.state is State.CLOSE and call.wf.data.name is None  # "Back Later" is no name


def test_a_call_back_with_no_number_to_call_goes_to_a_person() -> None:
    call = Call()  # the caller's number withheld
    assert "put you through" in call.say("Could someone ring me back this afternoon?")
    assert call.wf.state is State.TRANSFER


def at_postcode() -> Call:
    call = to_details()
    call.say("Ann Lee")
    call.say("22 Baker Street")
    return call


def test_a_detail_not_to_hand_gets_why_and_a_way_on_then_a_person() -> None:
    call = at_postcode()
    reply = call.say("I'm not sure of the postcode.")
    assert reply.startswith("No problem.") and "cover your area" in reply
    assert "letter by letter" not in reply  # not asked to spell what they don't know
    call.say("I don't know it, sorry.")
    assert call.wf.state is State.TRANSFER


def test_a_detail_found_after_all_is_taken() -> None:
    call = at_postcode()
    call.say("I can't remember the postcode")
    assert "number" in call.say("Oh wait, it's SW3 5RZ.")
    assert call.wf.data.postcode == "SW3 5RZ"


@pytest.mark.parametrize(
    ("said", "address"),
    [
        ("Flat 12, Riverside Court", "Flat 12, Riverside Court"),  # the number is the flat's
        ("It's apartment 4B, Queens Mansions", "Apartment 4B, Queens Mansions"),
        ("flat 3, 12 Church Road", "flat 3, 12 Church Road"),
        # the lines after the first: the building's street too
        (
            "Apartment 12, Riverside Court, 5 Mill Lane",
            "Apartment 12, Riverside Court, 5 Mill Lane",
        ),
        ("12 Riverside Court, Mill Lane", "12 Riverside Court, Mill Lane"),
        ("22 Baker Street, by the way", "22 Baker Street"),  # no line of the address
    ],
)
def test_a_flat_keeps_its_word(said: str, address: str) -> None:
    call = to_details()
    call.say("Ann Lee")
    call.say(said)
    assert call.wf.data.address == address


@pytest.mark.parametrize(
    ("first", "then", "name"),
    [
        ("Tom", "Tomasz Kowalski", "Tomasz Kowalski"),  # the short form, then in full
        ("Tomasz Kowalski", "K O W A L S K I", "Tomasz Kowalski"),  # spelled: the same
        ("Sarah Tomson", "that's T H O M P S O N", "Sarah Thompson"),  # spelled: corrected
    ],
)
def test_the_name_completed_or_spelled_unasked_while_the_address_is_asked(first, then, name):
    call = to_details()
    call.say(first)
    reply = call.say(then)
    assert call.wf.data.name == name and "address" in reply
    assert "didn't follow" not in reply
    assert call.wf.data.address is None  # neither is taken as the address


def test_a_cancellation_after_the_booking_is_noted_for_the_office_not_promised() -> None:
    call = booked()
    call.say("Yes, that's right.")
    actions = call.wf.hear("I need to cancel actually", NOW)
    kept = [a for a in actions if isinstance(a, KeepPending)]
    assert [k.kind for k in kept] == ["correction"] and kept[0].data["cancel"] is True
    assert kept[0].data["booking_id"] == "B1"
    said = " ".join(a.text for a in actions if isinstance(a, Say))
    assert "office will confirm the cancellation" in said and call.wf.state is State.CLOSE


@pytest.mark.parametrize("said", ["can I cancel if I need to?", "what if I have to cancel?"])
def test_asking_whether_one_could_cancel_cancels_nothing(said: str) -> None:
    call = booked()
    call.say("Yes, that's right.")
    actions = call.wf.hear(said, NOW)
    assert not [a for a in actions if isinstance(a, KeepPending)]


@pytest.mark.parametrize("said", ["cheers", "lovely, thank you so much", "Thanks a lot, bye"])
def test_thanks_to_anything_else_ends_the_call(said: str) -> None:
    call = booked()
    call.say("Yes, that's right.")
    assert "Goodbye" in call.say(said) and call.wf.state is State.END


# --- a street without a house number --------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "address"),
    [
        ("Number 30.", "30 Green Lane"),
        ("30", "30 Green Lane"),
        ("It's thirty.", "30 Green Lane"),
        ("It's 30 Green Lane.", "30 Green Lane"),
        ("There isn't one.", "Green Lane"),  # asked once: the call goes on
        ("Thirty two.", "32 Green Lane"),
    ],
)
def test_an_address_without_a_house_number_asks_for_it_once(answer: str, address: str) -> None:
    call = to_details()
    call.say("Mark Jenkins")
    assert "house number" in call.say("Green Lane.")
    assert "postcode" in call.say(answer)
    assert call.wf.data.address == address


@pytest.mark.parametrize(
    "said", ["Rose Cottage, Green Lane.", "22 Baker Street.", "Flat 3, Rose Court."]
)
def test_a_numbered_or_named_house_is_not_asked_its_number(said: str) -> None:
    call = to_details()
    call.say("Mark Jenkins")
    assert "postcode" in call.say(said)


# --- a surname spelled alone ------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "name"),
    [
        ("Ben.", "Ben Thompson"),
        ("My name is Ben.", "Ben Thompson"),
        ("Ben Thompson.", "Ben Thompson"),
        ("No.", "Thompson"),  # asked once: the call goes on
    ],
)
def test_a_surname_spelled_alone_asks_for_the_first_name_once(answer: str, name: str) -> None:
    call = to_details()
    call.say(mark_check("My name is Bentonson.", ["bentonson"]))
    assert "spell your surname" in call.say("No.")
    spelling = "T for Tommy, H for Harry, O for Oliver, M, P for Peter, S for Sugar, O, N."
    assert "was that Thompson?" in call.say(spelling)
    assert "first name" in call.say("Yes, that's right.")
    assert "address" in call.say(answer)
    assert call.wf.data.name == name


def to_first_name(heard: str = "Thomson") -> Call:
    """A call at "And what's your first name?" after the name heard as ``heard``, turned
    down, and Thompson spelled."""
    call = to_details()
    call.say(mark_check(f"My name is {heard}.", [heard.lower()]))
    call.say("No.")
    call.say("T for Tommy, H for Harry, O for Oliver, M, P for Peter, S for Sugar, O, N.")
    assert "first name" in call.say("Yes, that's right.")
    return call


@pytest.mark.parametrize(
    ("answer", "confidence"), [(mark_check("Then...", ["then"]), 1.0), ("Neither.", 0.3)]
)
def test_a_first_name_heard_in_doubt_is_not_taken(answer: str, confidence: float) -> None:
    call = to_first_name()
    assert "address" in call.say(answer, confidence=confidence)
    assert call.wf.data.name == "Thompson"  # the surname alone, rather than "Then Thompson"


@pytest.mark.parametrize(
    ("heard", "answer", "guess"),
    [
        # another reading of the line is a first name
        ("Thomson", mark_check(mark_also_heard("Then.", ("Done.", "Ben.")), ["then"]), "Ben"),
        ("Thomson", mark_check("Niner.", ["niner"]), "Nina"),  # "-a" heard as "-er"
        ("Thomson", mark_check(mark_also_heard("9.", ("Nine.",)), ["9"]), "Nina"),
        ("Bentonson", mark_check("Then...", ["then"]), "Ben"),  # run into the surname before
    ],
)
@pytest.mark.parametrize("right", [True, False])
def test_a_first_name_heard_in_doubt_is_read_back_when_a_reading_of_it_is_a_name(
    heard: str, answer: str, guess: str, right: bool
) -> None:
    call = to_first_name(heard)
    assert f"was that {guess} Thompson?" in call.say(answer)
    assert "address" in call.say("Yes, that's right." if right else "No.")
    assert call.wf.data.name == (f"{guess} Thompson" if right else "Thompson")


def test_a_first_name_that_lost_its_ending_to_the_surname_is_read_back_whole() -> None:
    call = to_details()
    call.say(mark_check("My name is Ann Oluis.", ["ann", "oluis"]))
    assert "spell your surname" in call.say("No.")
    assert "was that Anna Lewis?" in call.say("L for London, E for Edward, W, I, S for Sugar.")


def test_a_name_heard_whole_is_not_asked_its_first_name() -> None:
    call = to_details()
    assert "address" in call.say("My name is Ben Thompson.")


def test_the_house_number_said_with_the_postcode_keeps_both() -> None:
    call = to_details()
    call.say("Mark Jenkins")
    call.say("Green Lane.")
    assert "best number" in call.say("It's number 30, and the postcode is SW1P 3QD.")
    assert (call.wf.data.address, call.wf.data.postcode) == ("30 Green Lane", "SW1P 3QD")


@pytest.mark.parametrize(
    "said",
    [
        "It's number 30 on Green Lane.",
        "30, Green Lane.",
        "Green Lane, number 30.",
        "It's Green Lane, number 30.",
        "The house number is 30 and it's Green Lane.",
    ],
)
def test_an_address_in_other_words_is_written_as_the_office_writes_it(said: str) -> None:
    call = to_details()
    call.say("Mark Jenkins")
    assert "postcode" in call.say(said)
    assert call.wf.data.address == "30 Green Lane"


@pytest.mark.parametrize("said", ["Can it be later?", "Has it got to be nine? Anything later?"])
def test_asking_for_another_time_to_an_offer_gets_the_next_slot(said: str) -> None:
    call = to_details()
    for line in ("Raj Patel", "22 Baker Street", "SW1A 1AA", "07700 900123"):
        call.say(line)
    assert "nine in the morning" in call.say("tomorrow please")
    assert "eleven in the morning" in call.say(said)


@pytest.mark.parametrize(
    "said",
    [
        "I'm calling about an existing booking",
        "I want to make a complaint",
        "is the engineer who came yesterday available?",
        "it's about my invoice",
    ],
)
def test_a_matter_for_the_office_is_put_through_at_once(said: str) -> None:
    call = Call()
    reply = call.say(said)
    assert "put you through" in reply and "job for us" not in reply
    assert call.wf.state is State.TRANSFER


def test_a_new_job_from_a_returning_customer_is_still_a_job() -> None:
    call = Call()
    assert "leak repair" in call.say("you fixed my boiler last year, now my tap is leaking")
