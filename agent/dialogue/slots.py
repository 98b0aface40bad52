"""Slot extraction from what the caller said: pure regexes, no model.

Used by the offline dialogue policy (and by the workflow's own ``hear``) to
turn an utterance into an intent and slot values; the LLM mode fills the same
slots from tool arguments instead. Every function takes plain text (as an STT
writes it: "SW1A 1AA", "s w one a one a a", "oh seven seven double oh...")
and returns ``None`` when it found nothing, never a guess.

Times: ``now`` is Unix epoch seconds; windows are resolved in the company's
timezone and returned as epoch seconds.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import attrs

from agent.business.company import Service
from agent.business.ukformats import (
    find_phone,
    find_postcode,
    spoken_digits,
)
from agent.dialogue.details import (
    STREET_WORDS,
    address_answer,
    already_told,
    drop_negated,
    find_address,
    house_number,
    is_correction,
    respell,
)
from agent.dialogue.meaning import enrich
from agent.dialogue.times import TimeWindow, find_time_window

# --- names, yes/no, intents -------------------------------------------------

_NAME_EXPLICIT = re.compile(
    r"\b(?:my name is|my name's|name is|name's|call me(?!\s+(?:back|later|on|at|when|if|"
    r"after|before|tomorrow|today|tonight|this|next|again|asap|please|any)\b))\s+([A-Za-z][A-Za-z'\-]*"
    r"(?:\s+[A-Za-z][A-Za-z'\-]*){0,2})",
    re.IGNORECASE,
)
_NAME_SOFT = re.compile(
    r"\b(?:this is|i am|i'm|it's|its)\s+([A-Za-z][A-Za-z'\-]*(?:\s+[A-Za-z][A-Za-z'\-]*){0,2})",
    re.IGNORECASE,
)
_NOT_NAME = frozenset(
    "and please thanks thank you here calling speaking about with a the my i "  # noqa: SIM905
    "yes no yeah ok okay sure hello hi sorry from at in on "  # "John Smith from 22 ..."
    "who whose".split()
)
_YES = re.compile(
    r"^\s*(?:(?:oh|well|um|er|erm|uh)[\s,]+)?(?:yes|yeah|yea|yep|yup|ya|aye|sure|ok(?:ay)?|"
    r"alright|all right|please do|go ahead|go on|that's (?:fine|great|right|correct|perfect|"
    r"the one|it exactly|lovely|good)|that is (?:right|correct)|correct|right|perfect|"
    r"absolutely|definitely|certainly|of course|indeed|that works|sounds good|"
    r"fine|lovely|great|spot on|bang on|exactly|you (?:have|'ve got) it|uh[- ]huh|mm[- ]?hmm|"
    r"book it|do it|why not|please|yes please|(?:you(?:'ve| have)? )?got it|go for it|"
    r"that'll do|works for me|(?:the )?first one|that one|brilliant|that suits(?: me)?|"
    r"that(?:'d| would) be (?:great|lovely|fine|perfect|good)|i think so|i guess so|"
    r"i suppose so|sounds about right)\b",
    re.IGNORECASE,
)
_NO = re.compile(
    r"^\s*(?:(?:oh|well|um|er|erm|uh)[\s,]+)?(?:(?:thanks|thank you)(?: very much| so much)?"
    r"[\s.!]*$|no|nope|nah|naw|not really|not quite|not at all|no thanks|no thank you|"
    r"that's (?:all|it|wrong|not right|incorrect)|that is (?:all|wrong|not right)|"
    r"nothing else|i don't think so|wrong|incorrect|negative|don't bother|leave it|"
    r"(?:know|now)[\s,]+that's (?:all|everything|it)|"  # "Know that's everything"
    # not now, said politely: "let me think about it", "I'll have a think", "maybe later"
    r"(?:let me|i'll|i will|i need to|i'd like to) (?:have a )?think(?: about it)?|"
    r"(?:i'll|i will|i need to) (?:check|talk|speak) (?:with|to) (?:my )?\w+ first|"
    r"not (?:right )?now|not today|maybe later|not just yet|not yet)\b",
    re.IGNORECASE,
)
_HUMAN = re.compile(
    r"\b(?:speak|talk)\s+to\s+(?:a\s+|an\s+|the\s+|someone|somebody|a real)?\s*"
    r"(?:person|human|someone|somebody|engineer|manager|operator|real person|team)\b"
    r"|\b(?:real person|human being|put me through|put me on to|transfer me|an operator)\b"
    # Asking to speak to anyone at all is asking for a person ("Can I talk to Dave?",
    # "to your boss", and a recogniser's "to a few men"), but not to the agent itself
    # nor to someone of the caller's own ("I need to talk to my wife first").
    r"|\b(?:(?:can|could|may)\s+i|(?:like|want|wanna|need|rather|prefer)\s+to)\s+"
    r"(?:please\s+)?(?:speak|talk)\s+(?:to|with)\s+"
    r"(?!(?:you|u|yourself|my|our|his|her|their|him|them|it|this|that)\b)"
    r"(?!(?:a |an )?(?:plumber|electrician|gas ?man|heating)s?\b)\w"  # the trade: a job
    r"|\b(?:anyone|anybody|someone|somebody)\s+i\s+(?:can|could)\s+(?:speak|talk)\b",
    re.IGNORECASE,
)
_PHONE_SAID = re.compile(r"\b(?:phone|mobile|number)\b", re.I)
_POSTCODE_SAID = re.compile(r"\bpost ?code(?:'s|\s+is|\s+was|\s+should be)\s+\w", re.I)
_GOODBYE = re.compile(r"\b(?:bye|goodbye|good bye|that's all|hang up|cheers then)\b", re.I)


# Words a name never is: days, times, trade words, street words ("It's Tuesday",
# "this is urgent", bare "Baker Street" given for the address).
_NEVER_NAME = re.compile(
    rf"^(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|today|tomorrow|morning|afternoon|"
    rf"evening|urgent|leaking|flooding|about|calling|ringing|just|not|number|postcode|"
    rf"{STREET_WORDS})$",
    re.IGNORECASE,
)


_LEAD_IN = re.compile(r"^\s*(?:(?:let's|lets|that's|thats|well|oh|er|um|so)\s+)+", re.I)


def _tidy_name(words: str) -> str | None:
    kept: list[str] = []
    for word in words.split():
        if word.lower() in _NOT_NAME or _NEVER_NAME.match(word):
            break
        if word.isupper() and len(word) <= 3:  # "It's SW1A 1AA": a postcode's letters
            break
        kept.append(word[:1].upper() + word[1:])
    return " ".join(kept) or None


def find_name(text: str, *, expecting: bool = False) -> str | None:
    """A caller's name: "my name is ..." always; "I'm/this is ..." when a name
    was asked for or the words are capitalised; a bare 1-3 word answer when asked.
    Said once short and then in full ("Patel, Priya Patel"): the full one."""
    name = _first_name_said(text, expecting=expecting)
    if name is None:
        return name
    for clause in re.split(r"[,.;]", text)[1:3]:
        words = re.findall(r"[A-Za-z][A-Za-z'\-]*", _LEAD_IN.sub("", clause))
        named = expecting or all(w[:1].isupper() for w in words)
        fuller = _tidy_name(" ".join(words)) if named and 2 <= len(words) <= 3 else None
        if fuller and len(fuller) > len(name) and set(name.split()) < set(fuller.split()):
            return fuller
    return name


def _first_name_said(text: str, *, expecting: bool) -> str | None:
    if (m := _NAME_EXPLICIT.search(text)) is not None:
        return _tidy_name(m.group(1))
    if (m := _NAME_SOFT.search(text)) is not None:
        captured = m.group(1)
        if expecting or captured[:1].isupper():
            return _tidy_name(captured)
    first = re.split(r"[,.;?!]", text)[0]  # "Raj Patel, can you come tomorrow?"
    first = _LEAD_IN.sub("", first)  # "Let's David Brown": "It's" misheard
    if expecting and not re.search(r"\d", first):
        words = re.findall(r"[A-Za-z][A-Za-z'\-]*", first)
        if 1 <= len(words) <= 3 and not (_YES.match(text) or _NO.match(text)):
            return _tidy_name(" ".join(words))
    return None


def yes_no(text: str) -> bool | None:
    """``True`` for a yes, ``False`` for a no, ``None`` for neither (no before yes)."""
    if _NO.match(text):
        return False
    if _YES.match(text):
        return True
    # A short reply that ends in a yes, its start misheard ("You had to go on" for
    # "Yeah, go on", "Oh yes please"), with no no in it.
    words = re.findall(r"[\w']+", text.lower())
    question = text.rstrip().endswith("?")
    if len(words) <= 6 and _YES_TAIL.search(text) and not (_NEGATION.search(text) or question):
        return True
    return None


_YES_TAIL = re.compile(
    r"\b(?:yes|yeah|yep|go on|go ahead|yes please|book it|please do|sounds (?:good|fine)|"
    r"that's (?:fine|right|correct|great|perfect)|that is (?:fine|right|correct))[\s.!,]*$",
    re.IGNORECASE,
)
_NEGATION = re.compile(r"\b(?:no|not|don't|nah|nope|never|wrong|isn't|wasn't)\b", re.IGNORECASE)


# --- services ---------------------------------------------------------------


def match_service(text: str, services: Sequence[Service]) -> Service | None:
    """The service whose id, name or keywords occur in the text (most hits wins)."""
    low = enrich(text).lower()  # "water everywhere" means a leak, "won't flush" a blockage
    best: tuple[int, Service] | None = None
    for service in services:
        terms = {service.id.replace("_", " "), service.name.lower(), *service.keywords}
        hits = sum(1 for term in terms if term and re.search(rf"\b{re.escape(term)}", low))
        if hits and (best is None or hits > best[0]):
            best = (hits, service)
    return best[1] if best else None


# --- preferred times --------------------------------------------------------


# --- one utterance, all of it ------------------------------------------------


class Intent(enum.Enum):
    YES = "yes"
    NO = "no"
    HUMAN = "human"
    GOODBYE = "goodbye"
    TOLD = "told"  # "I already told you": read back what was understood


@attrs.frozen
class Slots:
    """Slot values found in one utterance (or given by a tool call); ``None`` = not said."""

    service_id: str | None = None
    name: str | None = None
    address: str | None = None
    postcode: str | None = None  # normalised "SW1A 1AA"; may be syntactically invalid text
    phone: str | None = None  # E.164, or the raw text when it did not parse
    when: TimeWindow | None = None
    house_number: str | None = None  # a corrected house number alone ("it's number 41")
    correction: bool = False  # the caller is correcting something said before

    def is_empty(self) -> bool:
        return all(
            v is None for k, v in attrs.asdict(self, recurse=False).items() if k != "correction"
        )


def _before_street_word(name: str, text: str) -> bool:
    """``name`` is said just before a street word ("Stay-Curse Street")."""
    pattern = rf"{re.escape(name)}\s+(?:{STREET_WORDS})\b"
    return re.search(pattern, text, re.IGNORECASE) is not None


def extract(
    text: str,
    *,
    services: Sequence[Service] = (),
    tz: ZoneInfo | None = None,
    now: float = 0.0,
    expecting: str | None = None,
) -> tuple[Intent | None, Slots]:
    """Intent and slots of one utterance; ``expecting`` names the slot just asked for
    ("name", "address", "postcode", "phone", "when") so bare answers count.

    Every detail found is returned whatever was asked, and a detail is never taken
    as the one asked for (a postcode given for the address is a postcode, not an
    address line); what the caller took back ("not Friday, Thursday") is dropped."""
    intent = None
    correction = is_correction(text)
    if _HUMAN.search(text):
        intent = Intent.HUMAN
    elif already_told(text):
        intent = Intent.TOLD
    elif (answer := yes_no(text)) is not None:
        intent = Intent.YES if answer else Intent.NO
        if not answer and _GOODBYE.search(text):
            intent = Intent.GOODBYE  # "no, that's everything, goodbye" ends the call
    elif _GOODBYE.search(text):
        intent = Intent.GOODBYE
    kept = drop_negated(text) if correction else text
    postcode = find_postcode(kept)
    phone = find_phone(kept)
    service = match_service(text, services)
    when = find_time_window(kept, now=now, tz=tz) if tz is not None else None
    asked_name = expecting == "name" and intent in (None, Intent.NO)
    name = find_name(kept, expecting=asked_name and postcode is None and phone is None)
    explicit = _NAME_EXPLICIT.search(kept) is not None
    if name is not None and expecting not in ("name", None) and not (correction or explicit):
        name = None  # "It's Sarah" when asked for the postcode is not a name change
    if name is not None and expecting == "address" and _before_street_word(name, kept):
        name = None  # "No, it's Stay-Curse Street": a street's name, not the caller's
    address = find_address(kept)
    if address is None and expecting == "address" and intent in (None, Intent.NO):
        others = (str(postcode) if postcode else "", phone or "", name or "")
        raw_phone = spoken_digits(kept) if phone else ""
        address = address_answer(kept, (*others, raw_phone.strip()))
        if address is not None and (postcode or phone) and not re.search(r"\d", address):
            address = None  # "my postcode is ...": the rest is no address
    if name is not None:
        name = respell(name, kept)
    # on the line as said: "24 not 22" is the number corrected, "not 22" dropped from kept
    number = house_number(text) if address is None else None
    found_other = any(v is not None for v in (postcode, name, address, when, number))
    # "Sorry, my postcode is SW72 Arizona" while the number is asked: a postcode not
    # heard whole, never digits of a phone number (the workflow reads back its guess).
    if postcode is None and expecting != "postcode" and _POSTCODE_SAID.search(kept):
        return intent, Slots(postcode=kept.strip(" ."), name=name, correction=correction)
    if expecting == "phone" and phone is None and not found_other:
        digits = spoken_digits(kept).strip()
        if re.search(r"\d", digits):
            phone = digits  # keep the raw digits so validation can say why
    if phone is None and postcode is None and expecting != "phone":
        # "My number is 0770 009 00777" when the postcode is asked: a phone number not
        # heard whole is still a phone number (said back), never a postcode or address.
        digits = spoken_digits(kept).strip()
        count = len(re.findall(r"\d", digits))
        if count >= 9 or (count >= 7 and _PHONE_SAID.search(kept)):
            phone, address = digits, None
    said_other = found_other or phone is not None
    if expecting == "postcode" and postcode is None and intent is None and not said_other:
        raw = kept.strip(" .")  # something said for the postcode that is no postcode: say so
        return intent, Slots(postcode=raw if raw else None, correction=correction)
    return intent, Slots(
        service_id=service.id if service else None,
        name=name,
        address=address,
        postcode=str(postcode) if postcode else None,
        phone=phone,
        when=when,
        house_number=number,
        correction=correction,
    )
