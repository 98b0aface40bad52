"""Questions off the booking script, answered from the company profile (pure).

Mid-booking a caller asks "does that include VAT?", "how soon can you come?",
"are you a robot?". The answer comes from the profile (its ``info`` texts,
opening hours, service area) or, when the profile does not say, an honest
"the engineer will confirm"; then the open question is asked again, so the
booking goes on where it was. A question with no topic here gets a short
honest answer too ("I can't answer that one") instead of "I didn't follow".
"""

from __future__ import annotations

import re
from datetime import datetime

from agent.business.company import CompanyProfile
from agent.business.hours import WEEKDAYS
from agent.dialogue.saytext import say_when

__all__ = [
    "REPEATS",
    "TOPICS",
    "answer",
    "booking_answer",
    "looks_like_question",
    "say_again",
    "topic",
    "without_company_name",
]

# Topics answered by saying again what the agent said (the workflow keeps that).
REPEATS = frozenset({"repeat", "price_again", "price"})

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

TOPICS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        # Moves of a phone conversation rather than questions about the company: the
        # line dropped a word ("Sorry, what?"), the caller needs a moment, or wonders
        # whether anyone is there. Checked first: "what was the price?" is the price.
        (
            "price_again",
            r"\bhow much did you say\b|\b(?:repeat|say again|what was) (?:the |that )?"
            r"(?:price|cost|charge)\b|\bwhat (?:was|is) the (?:price|cost|charge) again\b",
        ),
        (
            "repeat",
            r"^\W*(?:(?:sorry|oh|um|er)\W+)*(?:what|pardon(?: me)?|come again|say again|"
            r"excuse me)\W*$|\b(?:say|repeat) (?:that|it|what you said)(?: again)?(?: please)?\W*$|"
            r"\b(?:say|repeat) (?:that|it) again\b|\b(?:can|could) you repeat\b(?! the price)|"
            r"\bwhat (?:was|did you say|did you just say)(?: that)?\W*$|"
            r"\bi (?:didn't|did not|couldn't|could not) (?:catch|hear|get) (?:that|you|what you)\b",
        ),
        (
            "hold",
            r"^\W*(?:(?:oh|um|er|yes|yeah|ok|okay)\W+)*(?:hang on|hold on|one (?:sec|second|moment|"
            r"minute)|just a (?:sec|second|moment|minute)|give me a (?:sec|second|moment|minute)|"
            r"bear with me|wait a (?:sec|second|moment|minute))\b",
        ),
        (
            "here",
            r"\bare you (?:still )?there\b|\bcan you (?:still )?hear me\b|^\W*(?:hello\W*)+$|"
            r"\b(?:is |are )?(?:any|some)(?:one|body) (?:still )?there\b",
        ),
        (
            "why_details",
            r"\bwhy do you (?:need|want)\b|\bwhat do you (?:need|want) (?:my|the|that) \w+ for\b|"
            r"\bwhat(?:'s| is| do you need) (?:my|the|that) \w+ for\b|"
            # not giving it: why it is needed, and the way on
            r"\b(?:i'd|i would) rather not (?:say|give|tell|share)\b|"
            r"\bdo i have to (?:give|tell|say)\b",
        ),
        (
            "robot",
            r"\b(?:are you|is this|am i (?:talking|speaking) to) (?:a |an )?(?:robot|"
            r"machine|computer|bot|real person|human|person|ai|automated)\b|\bare you real\b|"
            r"\brobot\b",  # "robot" half heard in any question ("Our view are robot?")
        ),
        (
            "who",  # "is that the plumber?", "who am I speaking to?": the right number
            r"\bis (?:that|this|it) (?:the )?(?:plumb\w*|heating|gas (?:man|engineer)|engineers?|"
            r"office|company|firm|right number|booking line)\b|"
            r"\bis (?:that|this) (?:\w+ )?\w+ (?:plumb\w*|heating|gas|services|ltd|limited)\b|"
            r"\bwho (?:am i (?:speaking|talking) (?:to|with)|is (?:this|that|speaking)|are you)\b|"
            r"\bhave i (?:got|reached|come through to) the right\b|\bam i through to\b",
        ),
        ("vat", r"\bvat\b|\b(?:include|including|includes|inclusive|plus) (?:the )?(?:tax|vat)\b"),
        (
            "payment",
            r"\b(?:pay|paying|payment)\b.*\b(?:card|cash|transfer|contactless|cheque)\b|"
            r"\b(?:card|cash|contactless)\b.*\b(?:pay|take|accept)\b|\b(?:take|accept)\s+(?:cards?|cash|"
            r"contactless|cheques?)\b|\bhow (?:do|can|will) i pay\b",
        ),
        (
            # any other question about the price ("how much is that?", "what do you
            # charge?"): answered with the quote, after VAT and payment had their turn
            "price",
            r"\bhow much\b(?!\s+(?:longer|more time|time|notice|water|damage|mess)\b)|"
            r"\bwhat (?:do|would|will|does) (?:you|it|that|they|this) (?:charge|cost|come to)\b|"
            r"\bwhat(?:'s| is| will be| would be) (?:the |that |your |it )?"
            r"(?:price|cost|charge|fee|rate)s?\b|"
            r"\b(?:going|gonna) to cost\b|\bcall[- ]?out (?:fee|charge|cost|price)\b|"
            r"\b(?:price|cost|charge)s? (?:for|of) (?:that|it|this|the job)\b|\bexpensive\b",
        ),
        (
            "duration",  # how long the work takes, not how soon it starts
            r"\bhow long (?:will|does|would|is) (?:it|the job|that|the work|the repair)\b"
            r"(?:\s+(?:be\s+)?(?:take|last)|\s+going to take)(?!.*\bto (?:get|come|send)\b)",
        ),
        (
            "response_time",
            r"\bhow (?:soon|quickly|fast|long)\b|\bwhen can (?:you|someone|"
            r"an engineer|somebody) (?:get|come|be)\b|\b(?:today|tonight)\?",
        ),
        (
            "hours",
            r"\b(?:opening hours|what time do you (?:open|close)|when are you open|"
            r"are you open|what are your hours|open (?:on|at) (?:the )?weekends?)\b|"
            r"\bdo you (?:work|open|do (?:call[- ]?outs|jobs))\b.*\b(?:weekends?|saturdays?|"
            r"sundays?|evenings?|nights?|bank holidays?|christmas)\b",
        ),
        (
            # when the booked engineer comes ("what time will they get here?"): the slot
            "arrival",
            r"\bwhat time (?:will|is|are|does|do) (?:they|he|she|the engineer|someone|somebody|"
            r"you)\b|\bwhen (?:will|is|are|does) (?:they|he|she|the engineer) (?:get|come|arrive|"
            r"be (?:here|there|round))\b",
        ),
        (
            "reference",
            r"\b(?:booking|reference|confirmation) (?:reference|number|code)\b|"
            r"\bwhat(?:'s| is| was) (?:the|my|that) (?:reference|ref)\b",
        ),
        (
            "area",
            r"\b(?:do you (?:cover|come to|work in|go to)|what areas?|which areas?|"
            r"your area|service area|how far)\b",
        ),
    )
)
_QUESTION = re.compile(
    r"\?\s*$|^\s*(?:what|when|where|who|why|how|which|do you|does|did|can you|could you|"
    r"is there|are there|will)\b",
    re.IGNORECASE,
)


def topic(text: str) -> str | None:
    """The off-script topic the caller asks about, if any."""
    return next((name for name, pattern in TOPICS if pattern.search(text)), None)


def without_company_name(text: str, name: str) -> str:
    """``text`` without the company's own name, whole or its first words ("is this
    Thames Plumbing and Heating?"): the name of the firm never names the job."""
    words = name.split()
    if len(words) < 2:
        return text
    runs = sorted((words[:n] for n in range(2, len(words) + 1)), key=len, reverse=True)
    pattern = "|".join(r"\s+".join(re.escape(w) for w in run) for run in runs)
    return re.sub(rf"\b(?:{pattern})\b", " ", text, flags=re.IGNORECASE)


def looks_like_question(text: str) -> bool:
    return _QUESTION.search(text) is not None


def answer(profile: CompanyProfile, name: str | None, now: float) -> str:
    """The answer to topic ``name`` from ``profile`` (``None``: an unknown question)."""
    info = profile.info
    if name == "robot":
        person = (
            ", or put you through to a person if you'd prefer"
            if profile.default_transfer_target
            else ", and someone from the office can call you back"
        )
        return (
            f"I'm an automated booking assistant for {profile.name}, not a person. "
            f"I can book an engineer for you{person}."
        )
    if name == "who":
        return f"You're through to {profile.name}, and I'm its automated booking assistant."
    if name in ("vat", "payment"):
        return info.get(name) or "The engineer will confirm that with you before starting."
    if name == "duration":
        return info.get(name) or (
            "That depends on the job: the engineer will tell you once they've had a look."
        )
    if name == "response_time":
        return info.get(name) or "I'll check the diary for the first free visit in a moment."
    if name == "hours":
        return info.get(name) or _hours(profile, now)
    if name == "area":
        return info.get(name) or _area(profile)
    if name == "hold":
        return "Of course, take your time."
    if name == "here":
        return "Yes, I'm here."
    if name == "why_details":
        return (
            "It's so the engineer knows who they're visiting and where, and can reach you "
            "if anything changes."
        )
    return "I'm afraid I can't answer that one, but the office or the engineer can."


def booking_answer(
    profile: CompanyProfile,
    name: str,
    now: float,
    *,
    booking_id: str | None,
    pending: bool,
    slot_start: float | None,
) -> str:
    """The answers about the caller's own booking: when the engineer comes ("arrival":
    the booked slot, else how soon) and its reference (spelled in groups of four)."""
    if name == "arrival":
        if slot_start is None or not (booking_id or pending):
            return answer(profile, "response_time", now)
        return f"The engineer is booked for {say_when(slot_start, profile.timezone, now=now)}."
    if booking_id:
        chars = [c for c in booking_id.upper() if c.isalnum()]
        groups = [" ".join(chars[i : i + 4]) for i in range(0, len(chars), 4)]
        return f"Your booking reference is {', '.join(groups)}."
    if pending:
        return "The office will confirm your booking and give you its reference."
    return "You'll get a reference once the booking is made."


def say_again(name: str, said: dict[str, str], question: str) -> str:
    """What to say to "Sorry, what?" (``name`` "repeat": the agent's last words) or to
    "how much did you say?" or "how much is that?" ("price_again", "price": the quote's
    sentences, then ``question``, the one open now; before any quote, that the price
    comes before any booking); ``said`` holds the "last" and the "quote" words."""
    if name not in ("price_again", "price"):
        return said.get("last") or question
    kept = [
        x for x in re.split(r"(?<=[.!?])\s+", said.get("quote", "")) if x and not x.endswith("?")
    ]
    if not kept:  # asked before the job is known: what the price depends on
        kept = [
            "The price depends on the job, and I'll tell you the price before booking anything."
        ]
    return " ".join([*kept, question])


def _clock(minutes: int) -> str:
    hour, minute = divmod(minutes, 60)
    if hour in (0, 24):
        return "midnight"
    part = "in the morning" if hour < 12 else "in the afternoon" if hour < 18 else "in the evening"
    return f"{hour % 12 or 12}{f' {minute:02d}' if minute else ''} {part}"


def _hours(profile: CompanyProfile, now: float) -> str:
    """ "We're open Monday to Friday 8 in the morning till 6 ..., Saturday ..." """
    groups: list[tuple[list[str], tuple[tuple[int, int], ...]]] = []
    for index in range(len(WEEKDAYS)):
        periods = profile.hours.periods[index]
        if not periods:
            continue
        if groups and groups[-1][1] == periods and _DAY_NAMES.index(groups[-1][0][-1]) == index - 1:
            groups[-1][0].append(_DAY_NAMES[index])
        else:
            groups.append(([_DAY_NAMES[index]], periods))
    if not groups:
        return "The office will let you know our hours."
    parts = []
    for days, periods in groups:
        span = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
        times = " and ".join(f"{_clock(lo)} till {_clock(hi)}" for lo, hi in periods)
        parts.append(f"{span}, {times}")
    state = "open now" if profile.is_open(now) else "closed at the moment"
    weekday = _DAY_NAMES[datetime.fromtimestamp(now, profile.timezone).weekday()]
    return f"We're open {'; '.join(parts)}. It's {weekday} and we're {state}."


def _area(profile: CompanyProfile) -> str:
    if not profile.service_area:
        return "We cover the whole area, so that won't be a problem."
    # "SE11" -> "S E 11": letters one by one, the district as a number
    prefixes = [
        " ".join(re.findall(r"[A-Z]|\d+", p.replace(" ", ""))) for p in profile.service_area
    ]
    listed = ", ".join(prefixes[:-1]) + " and " + prefixes[-1] if len(prefixes) > 1 else prefixes[0]
    return f"We cover postcodes starting {listed}. I'll check yours when you give it to me."
