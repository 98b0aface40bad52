"""UK postcode prefixes: what a company's service area matches."""

from __future__ import annotations

import pytest

from agent.business.postcode_districts import known_district
from agent.business.ukformats import (
    find_phone,
    find_postcode,
    is_postcode_prefix,
    parse_postcode,
    postcode_guess,
    postcode_in_area,
    spelled_postcode,
    to_e164,
)


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


# --- callers' spoken variants (issue 16) ---------------------------------------------


@pytest.mark.parametrize(
    ("said", "postcode"),
    [
        ("SE-11 5PH", "SE11 5PH"),
        ("SE1 7 LG", "SE1 7LG"),
        ("my postcode is S E one, seven L G", "SE1 7LG"),
        ("S for Sierra, W for whiskey, one A, one A A", "SW1A 1AA"),
        ("S as in sugar E as in echo eleven five P H", "SE11 5PH"),
        ("S W one, for B B", "SW1 4BB"),
        ("S W double one, two A B", "SW11 2AB"),
        ("South East 11 5 pH", "SE11 5PH"),  # as Whisper writes a spoken SE11
        ("My post code is Southeast 1 1 5 pH.", "SE11 5PH"),
        ("My post code is southeast 1-9 SG", "SE1 9SG"),
        ("S 4 sugar, E 4 echo, 1, 7, P 4 peter, B 4 bertie", "SE1 7PB"),  # "for" as "4"
        ("my post code in SW1A1A8", "SW1A 1AA"),  # "eight" heard for the unit's "A"
        ("it is at 22 Baker Street", None),
        ("it's 22 Baker Street", None),
    ],
)
def test_spoken_postcodes(said: str, postcode: str | None) -> None:
    found = find_postcode(said)
    assert (str(found) if found else None) == postcode


@pytest.mark.parametrize(
    ("number", "e164"),
    [
        ("07700 900123", "+447700900123"),
        ("0770090012", None),  # a mobile two digits short is refused, not booked
        ("077009001", None),
        ("020 7123 4567", "+442071234567"),
        ("0161 496 0000", "+441614960000"),
        ("0300 123 456", None),
        ("0800 111 999", "+44800111999"),  # freephone numbers may have 9 digits
        ("+44 7700 900123", "+447700900123"),
        ("+1 415 555 0100", "+14155550100"),
        ("7700 900123", "+447700900123"),  # a mobile said without its leading "oh"
        ("770 090 012", None),  # ... and a digit short: no
    ],
)
def test_complete_uk_numbers_only(number: str, e164: str | None) -> None:
    assert to_e164(number) == e164


def test_a_doubled_leading_zero_reads_as_the_national_number() -> None:
    assert find_phone("007700900123") == "+447700900123"  # as Whisper wrote 0 7 7 0 0 ...
    assert find_phone("00 33 1 23 45 67 89") == "+33123456789"  # a real international one


@pytest.mark.parametrize(
    ("heard", "postcode"),
    [
        # as said, and as a recogniser writes the "for": "4", "four", run together
        ("S for sugar, E for echo, 1, 7, L for London, G for George", "SE1 7LG"),
        ("N as in Nelly, W as in William, 3, 6, A as in apple, B as in Bertie", "NW3 6AB"),
        ("S4 sugar, W4 William 7-2, a 4 apple, Z4 zebra.", "SW7 2AZ"),
        ("S4Sugar.wil4William35R4RZ4Zulu", "SW3 5RZ"),
        (
            "That's four sugar, the blue four-whisky one, the four apple one, "
            "a four apple, a four alpha",
            "SW1A 1AA",
        ),
        # the word is heard better than the letter: "B4 Edward" is an E
        ("S4 shooter B4 Edward 1 7 P4 Peter B4 Bertie", "SE1 7PB"),
        (
            "Before Edward, see for Charlie, for and for Mary, 7L for London, S for sugar",
            "EC4M 7LS",
        ),
        ("W for whisky, C for Charlie, 2, N for Nelly, 5, D for David, U for uncle", "WC2N 5DU"),
        # a letter heard alone that sounds nothing like the word's: the word was misheard
        ("W4 William C4 Charlie 2N4 NLE 5D4 David U4 Enkill", "WC2N 5DU"),
        ("S4 sugar, E4 outward, 1, 9, S4 sugar, G4 George", "SE1 9SG"),
        # a digit word before a spelled letter is that digit, then the letter
        ("E for Edward, C for Charlie, one for apple, one, B for Bertie, B for Bertie", "EC1A 1BB"),
        ("S for sugar, W for William, one for apple, two for apple, A for apple", "SW1A 2AA"),
        # ... unless the letter's name sounds like it: "oh for Oliver" is O (where the
        # sector's digit goes, its look-alike 0), not "0, O"
        ("N for Nelly, one, seven, oh for Oliver, L for London, B for Bertie", "N17 0LB"),
        ("N for Nelly, one, seven, one for Oliver, L for London, B for Bertie", None),
        # a digit heard as its look-alike letter, digits as words
        ("S for sugar, E for Edward, I, nine, S for sugar, G for George", "SE1 9SG"),
        ("M for Mary, one, four, four, double E for Edward", "M14 4EE"),
        ("M for Mary, one, four, four, E for Edward", None),  # a letter short
        ("B for Bertie", None),  # one spelled letter is not a spelled postcode
        ("I'm calling for Sarah about the leak for tomorrow", None),
    ],
)
def test_spelled_postcodes(heard: str, postcode: str | None) -> None:
    found = spelled_postcode(heard)
    assert (str(found) if found else None) == postcode


AREA = ("SW1", "SW3", "SE1", "W1", "WC", "EC4")


@pytest.mark.parametrize(
    ("heard", "guess"),
    [
        ("My post code is SW1A1A1A1.", "SW1A 1AA"),  # a letter's "one" repeated
        ("postcode is SW3 55RZ", "SW3 5RZ"),  # in the area before anything else
        ("postcode is W1D3 3QF", "W1D 3QF"),
        ("My post code is in one nine GUI.", "N1 9GU"),  # outside the area: still read back
        ("It's Baker Street", None),
        ("Tomorrow morning please", None),
        ("My post code is SW1A2R.", None),  # a letter missing: nothing to read back
    ],
)
def test_postcode_guesses_to_read_back(heard: str, guess: str | None) -> None:
    found = postcode_guess(heard, AREA)
    assert (str(found) if found else None) == guess


@pytest.mark.parametrize("text", ["SW1A 1AC", "SE1 7LI", "W1D 3QK", "EC4M 7LM", "N1 9GO", "E1 6VV"])
def test_an_inward_code_never_has_c_i_k_m_o_v(text: str) -> None:
    assert parse_postcode(text) is None


# --- districts that exist (``postcode_districts``) -----------------------------------


@pytest.mark.parametrize(
    ("postcode", "known"),
    [
        ("SE1 9SG", True),
        ("SE28 8AA", True),
        ("SE0 9SD", False),  # "southeast 0.9 SD": no district 0 in SE
        ("SE29 1AA", False),
        ("SE1P 5LX", True),
        ("SE2A 1AA", False),  # no letter after SE2
        ("EC4M 7LS", True),
        ("EC4 7LS", False),  # EC districts always have their letter
        ("EC5A 1AA", False),
        ("SW1A 1AA", True),
        ("SW1 1AA", False),
        ("SW20 8AA", True),
        ("W1D 3QF", True),
        ("SW1D 3US", False),  # a W1D heard with an S in front: SW1 has A E H P V W X Y
        ("EC1Z 1AA", False),
        ("WC2N 5DU", True),
        ("N1C 4AG", True),
        ("WC3A 1AA", False),
        ("N22 5AA", True),
        ("CR0 2AA", True),  # Croydon has a district 0
        ("SW0 1AA", False),
        ("SY4 7LS", True),  # outside London only district 0 is checked
    ],
)
def test_known_districts(postcode: str, known: bool) -> None:
    pc = parse_postcode(postcode)
    assert pc is not None and known_district(pc) is known
