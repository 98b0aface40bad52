"""The recogniser's other readings of a line (``doubt.mark_also_heard``): a postcode or
phone number asked for that the line itself does not hold is read back from them
("Was that EC4M 7LS?"), never taken unasked, never over one the line holds."""

from __future__ import annotations

import pytest

from agent.dialogue.doubt import mark_also_heard, mark_check
from agent.dialogue.normalise import normalise
from agent.dialogue.readings import known_street
from tests.dialogue.test_callers import Call, to_details

DETAILS = ("name", "address", "postcode", "phone")
ANSWERS = ("Raj Patel", "22 Baker Street", "SW1A 1AA")


def at(detail: str) -> Call:
    """A call at the question for ``detail``, the ones before it given."""
    call = to_details()
    for line in ANSWERS[: DETAILS.index(detail)]:
        call.say(line)
    return call


def hear(call: Call, line: str, *others: str, confidence: float = 1.0) -> str:
    return call.say(mark_also_heard(line, others), confidence=confidence)


EASY = "My post code is easy for M7LS."  # the top reading of "my postcode is EC4M 7LS"
GOO = "My post code is in one nine goo."  # no postcode, no guess
IN_AREA, OUT_OF_AREA = "My post code is SE1 7PB.", "My post code is EC1A 1BB."

ROWS = [
    # asked, the line, its other readings -> read back ("Was that ...?"), value taken
    ("postcode", EASY, ("My post code is EC4M7LS",), "E C 4 M, 7 L S", None),
    # the line's own: EC4M is one letter from "EASY4M" and in the area (SY4M is not)
    ("postcode", EASY, (), "E C 4 M, 7 L S", None),
    ("postcode", GOO, (), None, None),
    ("postcode", "My postcode is SW1A 1AA.", ("My postcode is SW1A 1AB.",), None, "SW1A 1AA"),
    ("postcode", GOO, (OUT_OF_AREA, IN_AREA), "S E 1, 7 P B", None),  # the area's first
    ("postcode", GOO, (OUT_OF_AREA,), "E C 1 A, 1 B B", None),  # the only one: read back
    ("postcode", "My post code is SW1A1A1A1.", (OUT_OF_AREA,), "S W 1 A, 1 A A", None),
    # the line's own postcode is outside the area, another reading's inside: that first
    (
        "postcode",
        "S for shooter B E1 7PB",
        ("S for shooter B4 Edward 1 7 P4 Peter B4 Bertie",),
        "S E 1, 7 P B",
        None,
    ),
    ("postcode", OUT_OF_AREA, ("My post code is EC1A 1BD.",), None, "EC1A 1BB"),  # none inside
    # SE0 9SD: a postcode's shape, but there is no SE0
    ("postcode", GOO, ("My post code is southeast 0.9 SD.",), None, None),
    ("phone", "0 7 7 0 0 9 0 0 1 2.", ("07700900123.",), "0 7 7 0 0, 9 0 0, 1 2 3", None),
    ("phone", "0 7 7 0 0 9 0 0 1 2.", (), None, None),
    # "00770090055" reads as +7 70090055 (the international prefix): not a UK number
    ("phone", "077009555.", ("00770090055.", "07700900555."), "0 7 7 0 0, 9 0 0, 5 5 5", None),
    ("phone", "07700900456.", ("07700900123.",), None, "+447700900456"),
    # a number said while the address was asked, heard short: its other reading whole
    ("address", "077009009", ("07700990099",), "0 7 7 0 0, 9 9 0, 0 9 9", None),
]


@pytest.mark.parametrize(("asked", "line", "others", "read_back", "taken"), ROWS)
def test_the_other_readings_are_read_back_only_when_the_line_has_no_such_detail(
    asked, line, others, read_back, taken
):
    call = at(asked)
    reply = hear(call, line, *others)
    if read_back is None:
        assert "Was that" not in reply
    else:
        assert f"Was that {read_back}?" in reply
    assert getattr(call.wf.data, asked) == taken


def test_a_reading_read_back_is_taken_on_a_yes():
    call = at("postcode")
    hear(call, EASY, "My post code is EC4M7LS")
    assert "number" in call.say("Yes.") and call.wf.data.postcode == "EC4M 7LS"


def test_a_reading_turned_down_is_never_read_back_again():
    call = at("postcode")
    hear(call, EASY, "My post code is EC4M7LS")
    call.say("No.")
    assert "E C 4 M" not in hear(call, EASY, "My post code is EC4M7LS")


def test_a_line_heard_in_doubt_is_read_back_from_the_other_readings_too():
    call = at("phone")
    reply = hear(call, "0 7 7 0 0 9 0 0 1 2.", "07700900123.", confidence=0.3)
    assert "Was that 0 7 7 0 0, 9 0 0, 1 2 3?" in reply and call.wf.data.phone is None


@pytest.mark.parametrize(
    ("asked", "other"),
    [("name", "Raj Patel, SW1A 1AA."), ("address", "22 Baker Street, 07700900123")],
)
def test_never_a_detail_that_is_not_being_asked_for(asked, other):
    call = at(asked)
    reply = hear(call, ANSWERS[DETAILS.index(asked)] + ".", other)
    assert "Was that" not in reply
    assert call.wf.data.postcode is None and call.wf.data.phone is None


@pytest.mark.parametrize(
    ("line", "read_back"),
    [
        # no SE0: one character from SE1, which the company serves, so that is asked
        ("My postcode is S0E 9SG.", "S E 1, 9 S G"),
        ("It's SE0 9SD.", "S E 1, 9 S D"),
        ("It's NW0 9SD.", None),  # nor NW0, and no district of the area is that close
    ],
)
def test_a_postcode_of_a_district_that_does_not_exist_is_never_taken_or_read_back(line, read_back):
    call = at("postcode")
    reply = call.say(line)
    assert "0" not in reply.replace("0 7", "") and call.wf.data.postcode is None
    if read_back is None:
        assert "postcode" in reply  # asked again
    else:
        assert f"Was that {read_back}?" in reply


@pytest.mark.parametrize(
    ("line", "read_back"),
    [
        ("My post code is southeast point nine sg.", "S E 1, 9 S G"),  # "one" lost
        ("S4 sugar, E4 outward, E9, S4 sugar, G4 George.", "S E 1, 9 S G"),  # "1" as E
    ],
)
def test_a_postcode_one_character_from_the_area_is_read_back_and_taken_on_a_yes(line, read_back):
    call = at("postcode")
    assert f"Was that {read_back}?" in call.say(line)
    assert "number" in call.say("Yes.")
    assert call.wf.data.postcode == read_back.replace(" ", "").replace(",", " ")


def test_no_to_the_area_one_beside_a_postcode_outside_it_checks_that_one_then_declines():
    call = at("postcode")
    assert "Was that S E 1, 7 P B?" in call.say("My postcode is E1 7PB.")
    assert "is the postcode E 1, 7 P B?" in call.say("No.")
    assert "outside the area we cover" in call.say("Yes.")
    assert call.wf.data.postcode == "E1 7PB"


def test_no_with_more_of_the_postcode_reads_back_what_the_rest_sounds_like():
    call = at("postcode")
    assert "Was that N 1, 9 G D?" in call.say("My post code is N19 good.")
    assert "Was that W 1 D, 3 Q F?" in call.say("No, it's probably 1D3QF.")
    assert "number" in call.say("Yes.") and call.wf.data.postcode == "W1D 3QF"


def test_a_bare_no_to_a_guessed_postcode_asks_another_way():
    call = at("postcode")
    assert "Was that N 1, 9 G D?" in call.say("My post code is N19 good.")
    reply = call.say("No.")
    assert "Was that" not in reply and "letter by letter" in reply


# --- a postcode the recogniser doubted and read otherwise too --------------------------

WAVERING = mark_check("My post code is W1D 3QS.", ["w1d", "3qs"])


def test_a_doubted_postcode_read_otherwise_too_is_read_back_then_its_other_reading() -> None:
    call = at("postcode")
    assert "Was that W 1 D, 3 Q S?" in hear(call, WAVERING, "My post code is W1D 3QF.")
    assert call.wf.data.postcode is None  # not taken before the caller says so
    call.say("No.")
    # said again, heard the same: the other reading is read back, and a yes takes it
    assert "Was that W 1 D, 3 Q F?" in hear(call, WAVERING, "My post code is W1D 3QF.")
    assert "best number" in call.say("Yes, that's right.")
    assert call.wf.data.postcode == "W1D 3QF"


def test_a_doubted_postcode_read_back_right_is_taken_with_a_yes() -> None:
    call = at("postcode")
    assert "Was that W 1 D, 3 Q S?" in hear(call, WAVERING, "My post code is W1D 3QF.")
    call.say("Yes.")
    assert call.wf.data.postcode == "W1D 3QS"


@pytest.mark.parametrize(
    ("line", "others"),
    [
        (WAVERING, ()),  # doubted, but read no other way: taken
        ("My post code is W1D 3QS.", ("My post code is W1D 3QF.",)),  # read otherwise, not doubted
    ],
)
def test_a_postcode_is_taken_without_a_read_back_unless_doubted_and_read_otherwise(
    line: str, others: tuple[str, ...]
) -> None:
    call = at("postcode")
    assert "best number" in hear(call, line, *others)
    assert call.wf.data.postcode == "W1D 3QS"


# --- an address the best reading mangled, from the recogniser's other readings ------------


def at_address_of(call: Call) -> Call:
    call.say("Raj Patel")
    return call


@pytest.mark.parametrize(
    ("line", "doubted", "others", "read_back"),
    [
        # the house number from a reading with the same street word
        ("start the green lane", ["start", "green"], ("30 cream lane.",), "30 green lane"),
        # a whole address where the best has no street word (then the street prior)
        ("That's 14 million.", ["million"], ("That's 14 mil lane",), "14 Mill Lane"),
        # nothing whole in the other readings: the line as heard (or the prior's)
        ("50 can throw it.", ["can", "throw"], ("50 can throw.",), "50 can throw it"),
        ("That's 14 million.", ["that's", "million"], ("That's 14 millions.",), "14 Mill Lane"),
    ],
)
def test_an_address_mangled_in_the_best_reading_is_mended_from_another_and_read_back(
    line: str, doubted: list[str], others: tuple[str, ...], read_back: str
) -> None:
    call = at_address_of(to_details())
    reply = call.say(mark_check(mark_also_heard(line, others), doubted))
    assert f"was that {read_back}?" in reply
    assert call.wf.data.address is None  # not taken before the caller says so
    assert "postcode" in call.say("Yes, that's right.")
    assert call.wf.data.address == read_back


FOUR_L = mark_check(
    mark_also_heard("4L in the street", ("4L in street.", "For Elm Street.")), ["4l"]
)


def test_after_a_no_another_reading_with_a_known_street_is_read_back_before_the_spelling() -> None:
    call = at_address_of(to_details())
    assert "was that 4L in the street?" in call.say(FOUR_L)
    assert "was that 4 Elm Street?" in call.say("No.")  # "4L in street" is the same hearing
    assert "spell the name of the street" in call.say("No.")  # one other reading at most
    assert call.wf.data.rejected >= {"4L in the street", "4 Elm Street"}


def test_the_line_said_again_over_the_other_reading_asks_it_once_more_then_is_a_no() -> None:
    call = at_address_of(to_details())
    call.say(FOUR_L)
    call.say("No.")
    assert "was that 4 Elm Street?" in call.say(FOUR_L)  # they had not heard it yet
    assert "spell the name of the street" in call.say(FOUR_L)  # said again: a no


def test_other_readings_with_no_known_street_are_never_read_back() -> None:
    call = at_address_of(to_details())
    line = mark_also_heard("41 stretch road.", ("41-shot road", "41-shirt road"))
    call.say(mark_check(line, ["stretch"]))
    assert "spell the name of the street" in call.say("No.")
    spelling = "C for Charlie, H for Harry, U for Uncle, R for Robert, C for Charlie, H for Harry."
    assert "was that 41 Church Road?" in call.say(spelling)


def test_a_whole_address_in_the_best_reading_is_taken_as_usual() -> None:
    call = at_address_of(to_details())
    assert "postcode" in hear(call, "22 Baker Street.", "22 Bakers Street.")
    assert call.wf.data.address == "22 Baker Street"


def test_a_no_to_the_mended_address_is_a_no_to_the_line_as_heard() -> None:
    call = at_address_of(to_details())
    line = mark_also_heard("16 hope route.", ("16 hope road",))
    assert "was that 16 hope road?" in call.say(line)
    assert "spell the name of the street" in call.say("No.")
    # said again before the spelling: heard as before, never read back as it was heard
    assert "spell the name of the street" in call.say(line)
    assert "was that 16 Oak Road?" in call.say("O for Oliver, A for Apple, K for King.")


REGIONS = mark_also_heard("12 regions straight.", ("12 region street.", "12 Regents Street"))


@pytest.mark.parametrize("unsure", [False, True])
def test_a_reading_with_a_known_street_is_read_back_before_the_unknown_best(unsure) -> None:
    call = at_address_of(to_details())
    line = mark_check(REGIONS, ["regions", "straight"])
    assert "that 12 Regent Street?" in call.say(line, 0.0 if unsure else 1.0)
    assert call.wf.data.address is None  # not taken before the caller says so
    assert "postcode" in call.say("Yes.")
    assert call.wf.data.address == "12 Regent Street"


def test_a_no_to_the_known_reading_is_a_no_to_the_line_as_heard() -> None:
    call = at_address_of(to_details())
    call.say(mark_check(REGIONS, ["regions"]))
    assert "spell the name of the street" in call.say("No.")
    assert call.wf.data.rejected >= {"12 Regent Street", "12 regions Street"}


def test_a_known_best_reading_is_read_back_as_heard_not_another() -> None:
    call = at_address_of(to_details())
    line = mark_also_heard("12 Mill Lane.", ("12 Regents Street",))
    assert "was that 12 Mill Lane?" in call.say(mark_check(line, ["mill"]))


def at_phone() -> Call:
    call = to_details()
    call.say("Sarah Jones")
    call.say("22 Baker Street")
    assert "number" in call.say("SW1A 1AA")
    return call


@pytest.mark.parametrize(
    ("line", "doubted"),
    [
        ("07700990099", ["07700990099"]),  # the number written in digits, doubted
        ("oh seven seven double oh nine nine oh oh nine nine", ["double"]),  # in words
    ],
)
def test_a_phone_number_with_a_doubted_digit_is_read_back_before_it_is_taken(
    line: str, doubted: list[str]
) -> None:
    call = at_phone()
    reply = call.say(mark_check(normalise(line), doubted))
    assert "was that 0 7 7 0 0, 9 9 0, 0 9 9?" in reply.lower()
    assert call.wf.data.phone is None  # not taken before the caller says so
    assert "keypad" in call.say("No.")  # asked another way, never taken as heard
    call.say("07700900999")
    assert call.wf.data.phone == "+447700900999"


def test_a_doubted_phone_number_confirmed_is_taken() -> None:
    call = at_phone()
    call.say(mark_check("07700900999", ["07700900999"]))
    call.say("Yes, that's right.")
    assert call.wf.data.phone == "+447700900999"


def test_a_phone_number_with_only_other_words_doubted_is_taken_as_heard() -> None:
    call = at_phone()
    assert "was that" not in call.say(mark_check("It's 07700900999 thanks", ["thanks"])).lower()
    assert call.wf.data.phone == "+447700900999"


@pytest.mark.parametrize("doubted", [True, False])
def test_a_phone_number_turned_down_and_heard_again_is_never_taken(doubted: bool) -> None:
    call = at_phone()
    call.say(mark_check("07700990099", ["07700990099"]))
    assert "keypad" in call.say("No.")
    again = mark_check("07700990099", ["07700990099"]) if doubted else "07700990099"
    assert "keypad" in call.say(again)  # heard the same way: asked on the keypad again
    assert call.wf.data.phone is None
    call.say("07700900999")
    assert call.wf.data.phone == "+447700900999"


@pytest.mark.parametrize(
    ("reading", "known"),
    [
        ("12 Regents Street", "12 Regent Street"),
        ("12 Regent's Street", "12 Regent Street"),
        ("12 Al-berts Road", "12 Albert Road"),  # a recogniser's hyphen: no error
        ("41-shot road", None),
    ],
)
def test_known_street_of_a_reading(reading: str, known: str | None) -> None:
    assert known_street(reading) == known
