"""The scripted callers of ``bench/caller_corpus.py``: 44 calls to the demo plumber.

Each caller is what a person does on the phone (lines said after the agent has
finished, or over it; keys; silence) and what the call must end in, with the
details the booking record must hold. The lines are written so the TTS says
them as a person would (postcodes as written, phone numbers digit by digit; a
few callers in words: "oh double seven", "S for sugar"), and the same text is
the reference for the recogniser's word error rate. Varied on purpose: details
out of order, corrections during and after the booking, keypad entry,
off-script questions, "I already told you", asking for a person mid-booking,
interruptions, silence, out-of-area postcodes, emergencies.

The company is the demo's Thames Plumbing and Heating (area SW1, SW3, SW7, SE1,
SE11, W1, WC, EC4; emergencies go to the on-call engineer), on a Tuesday at ten.
"""

from __future__ import annotations

import attrs

__all__ = ["CALLERS", "Keys", "Line", "Pause", "Spec"]


@attrs.frozen
class Line:
    text: str
    interrupt_ms: int | None = None  # talk over the agent after this much of its speech


@attrs.frozen
class Keys:
    digits: str


@attrs.frozen
class Pause:
    seconds: float


@attrs.frozen
class Spec:
    name: str
    steps: tuple[Line | Keys | Pause, ...]
    expect: str  # booked | declined | silence | transfer:office | transfer:on-call engineer
    slots: dict[str, str] = attrs.field(factory=dict)  # name, address, postcode, phone (E.164)
    confirms: tuple[str, ...] = ()  # other values the caller says yes to when read back
    react: bool = True  # answers "Was that ...?" and "say it again" like a person would


L = Line
YES, SLOT_YES, RIGHT = L("Yes please."), L("Yes, that's fine."), L("Yes, that's right.")
BYE = L("No, that's everything. Thank you, goodbye.")


def _phone(digits: str) -> str:
    return "+44" + digits[1:]


def booked(
    name: str,
    problem: str,
    details: tuple[Line | Keys | Pause, ...],
    slots: tuple[str, str, str, str],
    *,
    after_quote: Line = YES,
    when: str = "Tomorrow morning please.",
    tail: tuple[Line, ...] = (SLOT_YES, RIGHT, BYE),
    react: bool = True,
) -> Spec:
    person, address, postcode, phone = slots
    return Spec(
        name,
        (L(problem), after_quote, *details, L(when), *tail),
        "booked",
        {"name": person, "address": address, "postcode": postcode, "phone": _phone(phone)},
        react=react,
    )


CALLERS: tuple[Spec, ...] = (
    # --- in order, in different words
    booked(
        "plain",
        "Hello, my kitchen tap is dripping all the time.",
        (
            L("My name is John Smith."),
            L("It's 22 Baker Street."),
            L("My postcode is SW1A 1AA."),
            L("0 7 7 0 0 9 0 0 1 2 3."),
        ),
        ("John Smith", "22 Baker Street", "SW1A 1AA", "07700900123"),
    ),
    booked(
        "water-everywhere",
        "Hi, there's water all over the kitchen floor from under the sink.",
        (
            L("Sarah Jones."),
            L("41 Church Road."),
            L("My postcode is SW3 5RZ."),
            L("0 7 7 0 0 9 0 0 4 5 6."),
        ),
        ("Sarah Jones", "41 Church Road", "SW3 5RZ", "07700900456"),
        after_quote=L("Yeah, go on."),
    ),
    booked(
        "no-hot-water",
        "We've got no hot water since this morning.",
        (
            L("It's David Brown."),
            L("7 Station Road."),
            L("My postcode is SW7 2AZ."),
            L("0 2 0 7 1 2 3 4 5 6 7."),
        ),
        ("David Brown", "7 Station Road", "SW7 2AZ", "02071234567"),
        when="Thursday afternoon.",
    ),
    booked(
        "toilet",
        "The toilet won't flush properly.",
        (
            L("My name is Emma Wilson."),
            L("15 Park Lane."),
            L("My postcode is W1D 3QF."),
            L("0 7 7 0 0 9 0 0 7 8 9."),
        ),
        ("Emma Wilson", "15 Park Lane", "W1D 3QF", "07700900789"),
        after_quote=L("Yes, book it."),
    ),
    booked(
        "radiators",
        "The radiators are all cold upstairs.",
        (
            L("My name is James Taylor."),
            L("3 Mill Lane."),
            L("My postcode is SE1 7PB."),
            L("0 7 7 0 0 9 0 0 2 2 2."),
        ),
        ("James Taylor", "3 Mill Lane", "SE1 7PB", "07700900222"),
        when="As soon as possible.",
    ),
    booked(
        "sink-wont-drain",
        "My bathroom sink won't drain at all.",
        (
            L("My name is Laura Wilson."),
            L("88 High Street."),
            L("My postcode is SE11 5PH."),
            L("0 7 7 0 0 9 0 0 3 3 3."),
        ),
        ("Laura Wilson", "88 High Street", "SE11 5PH", "07700900333"),
        tail=(L("Yes."), L("Spot on."), BYE),
    ),
    booked(
        "boiler-pressure",
        "The boiler pressure keeps dropping.",
        (
            L("My name is Peter Morgan."),
            L("12 Victoria Road."),
            L("My postcode is WC2N 5DU."),
            L("0 7 7 0 0 9 0 0 4 4 4."),
        ),
        ("Peter Morgan", "12 Victoria Road", "WC2N 5DU", "07700900444"),
        after_quote=L("Yes, that sounds fine."),
    ),
    booked(
        "pipe-weeping",
        "There's a damp patch under the pipe in the bathroom.",
        (
            L("My name is Anna Lewis."),
            L("9 King Street."),
            L("My postcode is EC4M 7LS."),
            L("0 7 7 0 0 9 0 0 5 5 5."),
        ),
        ("Anna Lewis", "9 King Street", "EC4M 7LS", "07700900555"),
    ),
    # --- details out of order
    booked(
        "postcode-for-address",
        "My tap is leaking in the kitchen.",
        (
            L("My name is Mark Jenkins."),
            L("My postcode is SW1P 3QD."),
            L("30 Green Lane."),
            L("0 7 7 0 0 9 0 0 6 6 6."),
        ),
        ("Mark Jenkins", "30 Green Lane", "SW1P 3QD", "07700900666"),
    ),
    booked(
        "phone-for-postcode",
        "The kitchen tap is leaking.",
        (
            L("My name is Lucy Walker."),
            L("5 River Street."),
            L("My number is 0 7 7 0 0 9 0 0 7 7 7."),
            L("My postcode is SE1 9SG."),
        ),
        ("Lucy Walker", "5 River Street", "SE1 9SG", "07700900777"),
    ),
    booked(
        "name-and-phone",
        "My sink is leaking.",
        (
            L("My name is Paul Harris and my number is 0 7 7 0 0 9 0 0 8 8 8."),
            L("It's 19 Rose Street."),
            L("My postcode is SW1A 2AA."),
        ),
        ("Paul Harris", "19 Rose Street", "SW1A 2AA", "07700900888"),
    ),
    booked(
        "address-and-postcode",
        "I've got a leaking pipe under the sink.",
        (
            L("My name is Kate Morris."),
            L("It's 6 Albert Road, SW3 5RZ."),
            L("0 7 7 0 0 9 0 0 9 9 9."),
        ),
        ("Kate Morris", "6 Albert Road", "SW3 5RZ", "07700900999"),
    ),
    booked(
        "time-given-early",
        "My tap is dripping. Could someone come tomorrow morning?",
        (
            L("My name is Tom Hughes."),
            L("14 Queen Street."),
            L("My postcode is SW7 2AZ."),
            L("0 7 7 0 0 9 0 0 1 1 1."),
        ),
        ("Tom Hughes", "14 Queen Street", "SW7 2AZ", "07700900111"),
        when="Yes.",  # the time was given already: the first slot is offered at once
        tail=(RIGHT, BYE),
    ),
    # --- corrections
    booked(
        "house-number-correction",
        "My kitchen tap is leaking.",
        (
            L("My name is Amy Turner."),
            L("It's 14 Baker Street."),
            L("No, the house number is 41."),
            L("My postcode is SW1A 1AA."),
            L("0 7 7 0 0 9 0 0 1 2 4."),
        ),
        ("Amy Turner", "41 Baker Street", "SW1A 1AA", "07700900124"),
    ),
    booked(
        "correction-after-booking",
        "The tap in my bathroom is leaking.",
        (
            L("My name is Chris Evans."),
            L("It's 14 Mill Lane."),
            L("My postcode is SE1 7PB."),
            L("0 7 7 0 0 9 0 0 1 2 5."),
        ),
        ("Chris Evans", "41 Mill Lane", "SE1 7PB", "07700900125"),
        tail=(SLOT_YES, L("No, the house number is 41."), BYE),
    ),
    booked(
        "postcode-correction",
        "There's a leak under my kitchen sink.",
        (
            L("My name is Helen Carter."),
            L("8 Park Road."),
            L("My postcode is SW3 5RZ."),
            L("Sorry, my postcode is SW7 2AZ."),
            L("0 7 7 0 0 9 0 0 1 2 6."),
        ),
        ("Helen Carter", "8 Park Road", "SW7 2AZ", "07700900126"),
    ),
    booked(
        "not-friday-thursday",
        "My hot water isn't working.",
        (
            L("My name is Simon Baker."),
            L("10 Castle Street."),
            L("My postcode is W1D 3QF."),
            L("0 7 7 0 0 9 0 0 1 2 7."),
            L("Friday morning."),
        ),
        ("Simon Baker", "10 Castle Street", "W1D 3QF", "07700900127"),
        when="Sorry, not Friday, Thursday.",
    ),
    # --- keypad, number words
    booked(
        "keypad-phone",
        "My tap won't stop dripping.",
        (
            L("My name is Jane Cooper."),
            L("27 Bridge Street."),
            L("My postcode is SE1 9SG."),
            Keys("07700900128#"),
        ),
        ("Jane Cooper", "27 Bridge Street", "SE1 9SG", "07700900128"),
    ),
    booked(
        "double-oh",
        "I've got a leaking radiator valve.",
        (
            L("My name is Ben Thompson."),
            L("2 Hill Road."),
            L("My postcode is SW1A 1AA."),
            L("Oh double seven, double oh, nine double oh, one two nine."),
        ),
        ("Ben Thompson", "2 Hill Road", "SW1A 1AA", "07700900129"),
    ),
    booked(
        "spelled-postcode",
        "My sink is blocked.",
        (
            L("My name is Ruth Davies."),
            L("16 Oak Road."),
            L("S for sugar, E for echo, 1, 7, P for Peter, B for Bertie."),
            L("0 7 7 0 0 9 0 0 1 3 0."),
        ),
        ("Ruth Davies", "16 Oak Road", "SE1 7PB", "07700900130"),
    ),
    # --- off-script, already told, yes variants
    booked(
        "vat-question",
        "My kitchen tap is leaking.",
        (
            L("Yes please."),
            L("My name is Gary Mitchell."),
            L("4 Elm Street."),
            L("My postcode is SW3 5RZ."),
            L("0 7 7 0 0 9 0 0 1 3 1."),
        ),
        ("Gary Mitchell", "4 Elm Street", "SW3 5RZ", "07700900131"),
        after_quote=L("Does that include VAT?"),
    ),
    booked(
        "robot-question",
        "The boiler keeps losing pressure.",
        (
            L("Are you a robot?"),
            L("It's Nina Shaw."),
            L("11 Bell Street."),
            L("My postcode is SE11 5PH."),
            L("0 7 7 0 0 9 0 0 1 3 2."),
        ),
        ("Nina Shaw", "11 Bell Street", "SE11 5PH", "07700900132"),
    ),
    booked(
        "card-question",
        "My toilet is blocked.",
        (
            L("My name is Owen Phillips."),
            L("Can I pay by card?"),
            L("25 Manor Road."),
            L("My postcode is WC2N 5DU."),
            L("0 7 7 0 0 9 0 0 1 3 3."),
        ),
        ("Owen Phillips", "25 Manor Road", "WC2N 5DU", "07700900133"),
    ),
    booked(
        "how-soon",
        "The radiator in the lounge is leaking.",
        (
            L("My name is Fiona Campbell."),
            L("How soon can you get someone out?"),
            L("33 Church Street."),
            L("My postcode is SW7 2AZ."),
            L("0 7 7 0 0 9 0 0 1 3 4."),
        ),
        ("Fiona Campbell", "33 Church Street", "SW7 2AZ", "07700900134"),
    ),
    booked(
        "already-told",
        "My tap is leaking.",
        (
            L("My name is Adam Roberts."),
            L("I already told you my name."),
            L("18 Market Street."),
            L("My postcode is SE1 7PB."),
            L("0 7 7 0 0 9 0 0 1 3 5."),
        ),
        ("Adam Roberts", "18 Market Street", "SE1 7PB", "07700900135"),
    ),
    booked(
        "yes-variants",
        "The shower is stone cold.",
        (
            L("My name is Grace Martin."),
            L("20 Mill Road."),
            L("My postcode is SW1A 1AA."),
            L("0 7 7 0 0 9 0 0 1 3 6."),
        ),
        ("Grace Martin", "20 Mill Road", "SW1A 1AA", "07700900136"),
        after_quote=L("Yeah, go ahead."),
        tail=(L("Yep."), L("That's right."), L("Nah, that's all, bye.")),
    ),
    booked(
        "pause-then-answer",
        "My kitchen sink is leaking.",
        (
            Pause(3.0),
            L("My name is Ian Scott."),
            L("35 Baker Street."),
            L("My postcode is SW1A 1AA."),
            L("0 7 7 0 0 9 0 0 1 3 7."),
        ),
        ("Ian Scott", "35 Baker Street", "SW1A 1AA", "07700900137"),
    ),
    # --- interruptions
    booked(
        "interrupt-quote",
        "My tap is leaking badly.",
        (
            L("Yes please, book it."),
            L("My name is Joe Parker."),
            L("50 Kings Road."),
            L("My postcode is SW3 5RZ."),
            L("0 7 7 0 0 9 0 0 1 3 8."),
        ),
        ("Joe Parker", "50 Kings Road", "SW3 5RZ", "07700900138"),
        after_quote=L("Sorry, how much is it?", interrupt_ms=1500),
    ),
    booked(
        "interrupt-readback",
        "My boiler has stopped working.",
        (
            L("My name is Rosie Edwards."),
            L("6 Pond Street."),
            L("My postcode is SE1 9SG."),
            L("0 7 7 0 0 9 0 0 1 3 9."),
        ),
        ("Rosie Edwards", "6 Pond Street", "SE1 9SG", "07700900139"),
        tail=(SLOT_YES, L("Yes, that's all right.", interrupt_ms=2500), BYE),
    ),
    # --- a person, mid-booking
    Spec(
        "person-mid-booking",
        (L("My tap is leaking."), YES, L("Can I speak to a real person please?")),
        "transfer:office",
    ),
    Spec(
        "person-after-name",
        (
            L("The toilet is blocked."),
            YES,
            L("My name is Mary Hart."),
            L("Actually, put me through to someone."),
        ),
        "transfer:office",
    ),
    Spec("person-first", (L("Can I talk to a human please?"),), "transfer:office"),
    Spec("keypad-zero", (L("Hello, I need a plumber."), Keys("0")), "transfer:office"),
    # --- emergencies
    Spec("flooding", (L("Help, my kitchen is flooding!"),), "transfer:on-call engineer"),
    Spec(
        "ceiling",
        (L("Water is coming through the ceiling from the flat upstairs."),),
        "transfer:on-call engineer",
    ),
    Spec("burst-pipe", (L("A pipe has burst in the loft."),), "transfer:on-call engineer"),
    Spec("gas", (L("I can smell gas in the hallway."),), "transfer:on-call engineer"),
    Spec(
        "flood-mid-booking",
        (L("My tap is dripping."), YES, L("Oh no, the pipe just burst, it's pouring out!")),
        "transfer:on-call engineer",
    ),
    # --- out of area
    Spec(
        "out-of-area",
        (
            L("My tap is leaking."),
            YES,
            L("My name is Tim Ross."),
            L("5 Long Lane."),
            L("My postcode is EC1A 1BB."),
            BYE,
        ),
        "declined",
        confirms=("EC1A 1BB",),  # "is the postcode E C 1 A, 1 B B?" - yes
    ),
    Spec(
        "out-of-area-north",
        (
            L("My sink is blocked."),
            YES,
            L("My name is Ella Fry."),
            L("9 Upper Street."),
            L("My postcode is N1 9GU."),
            BYE,
        ),
        "declined",
        confirms=("N1 9GU",),
    ),
    booked(
        "out-of-area-misheard",
        "My tap is leaking.",
        (
            L("My name is Sam Collins."),
            L("12 Regent Street."),
            L("My postcode is N1 9GU."),
            L("No, it's W1D 3QF."),
            L("0 7 7 0 0 9 0 0 1 4 0."),
        ),
        ("Sam Collins", "12 Regent Street", "W1D 3QF", "07700900140"),
        react=False,  # the script itself says no to the postcode it gave by mistake
    ),
    # --- silence, goodbye
    Spec("silent", (Pause(70.0),), "silence"),  # three reprompts 15 s apart, then goodbye
    Spec(
        "just-asking",
        (L("My tap is leaking."), L("No thanks, that's too much. Goodbye.")),
        "declined",
    ),
    booked(
        "long-first-sentence",
        "Sorry, I need a plumber, my kitchen sink is leaking under the cupboard.",
        (
            L("My name is Jack Robinson."),
            L("70 Queens Road."),
            L("My postcode is SW1A 1AA."),
            L("0 7 7 0 0 9 0 0 1 4 1."),
        ),
        ("Jack Robinson", "70 Queens Road", "SW1A 1AA", "07700900141"),
    ),
)
