"""What a caller means, beyond the company's keyword lists (pure).

Companies list a few keywords per service and per emergency ("leak", "boiler",
"flood"); callers say "there's water all over the floor", "the loo won't
flush", "sparks came out of the socket". ``concepts`` maps such phrasings to
the plain words those lists use, and ``enrich`` appends them to the text, so
the same keyword matching (``slots.match_service``, ``CompanyProfile.find_emergency``)
then works on what was meant. The rules are general trade vocabulary, not one
company's: a company still decides which words are its services and which are
emergencies.
"""

from __future__ import annotations

import re

__all__ = ["CONCEPTS", "concepts", "enrich"]

_W = r"(?:\w+\s+){0,3}"  # up to three words in between ("water is coming through the...")

# (pattern, the plain words it means). Order does not matter: every match adds its words.
CONCEPTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), words)
    for pattern, words in (
        # water where it should not be: a leak; pouring or through a ceiling: a flood
        (r"\bwater\b\s+(?:is\s+)?(?:everywhere|all over|on the floor|under)", "leak"),
        (r"\b(?:puddles?|damp patch|wet patch|dripping|drips|weeping|seeping)\b", "leak"),
        (r"\b(?:water|it)(?:'s| is)?\s+(?:coming|leaking|getting)\s+(?:out|in)\b", "leak"),
        (
            r"\bwater(?:'s| is)? (?:coming|pouring|dripping|leaking|getting) (?:through|from) "
            rf"{_W}(?:ceiling|light|roof|upstairs)",
            "leak water through the ceiling",
        ),
        (r"\b(?:pouring|gushing|spraying|pissing|streaming)\b", "leak flood"),
        (r"\bflood\w*|\bunder water\b|\bknee deep\b", "leak flood"),
        # standing water in a room: "under an inch of water", "inches of water on the floor"
        (
            r"\b(?:under|in) (?:an? |two |three |several |\w+ )?(?:inch(?:es)?|foot|feet|cm)"
            r" of water\b|\b(?:inch(?:es)?|foot|feet) of water\b",
            "leak flood",
        ),
        (r"\bpipe\w*\s+(?:has\s+|have\s+|just\s+)?(?:burst|split|exploded|bust)", "burst pipe"),
        # a hose, tank or cylinder that burst floods a room the same way a pipe does
        (
            r"\b(?:hose|tank|cylinder|radiator|valve)s?\s+(?:has\s+|just\s+)?(?:burst|split|bust)\b",
            "burst pipe",
        ),
        (r"\b(?:soaked|sodden|drenched|waterlogged)\b", "leak"),
        (
            r"\bwater(?:'s| is)? (?:coming|pouring|seeping|bubbling) (?:up )?"
            rf"(?:through|from|out of) {_W}(?:floor|floorboards|wall|walls)\b",
            "leak flood",
        ),
        (r"\b(?:burst|split|bust)\s+(?:a\s+|the\s+)?pipe", "burst pipe"),
        (r"\bstop ?cock|\bwasher\b|\bcistern (?:keeps )?(?:running|filling)", "leak tap"),
        # heating and hot water
        (
            r"\bno (?:hot water|heating|heat)\b|\b(?:hot water|heating)\s+(?:is\s+|has\s+)?"
            r"(?:not working|off|gone|stopped|broken|packed up|on the blink)",
            "boiler heating",
        ),
        # "no hot water" with its middle word misheard ("no fat water"): still hot water
        (r"\b(?:got|have|there's|there is) no (?:\w+ )?water\b(?! pressure)", "boiler hot water"),
        (r"\b(?:radiators?|rads)\b\s+(?:are\s+|is\s+)?(?:cold|not (?:warm|working))", "radiator"),
        (r"\bcold radiators?\b|\bpilot light\b|\bcombi\b|\block(?:ed)? ?out\b", "boiler"),
        (
            r"\b(?:shower|water)\s+(?:is\s+|runs?\s+|goes\s+)?(?:\w+ )?(?:cold|freezing)\b",
            "boiler hot water",
        ),
        (
            r"\bboiler (?:pressure|keeps|won'?t|isn'?t|is not|has)|\berror code\b|\bF\d\d\b",
            "boiler",
        ),
        # blockages
        (
            r"\b(?:toilet|loo|wc|sink|bath|basin|shower|drain|water|plughole)s?\b\s+(?:\w+\s+){0,2}"
            r"(?:won'?t|doesn'?t|isn'?t|not)\s+(?:flush|drain|go(?:ing)? down|empty)",
            "blocked",
        ),
        (r"\bwon'?t (?:flush|drain)|\bnot draining\b|\b(?:backed|backing) up\b", "blocked"),
        (
            r"\b(?:overflowing|clogged|bunged up|blockage)\b|\bsmell\w* from the drains?\b",
            "blocked drain",
        ),
        (r"\b(?:loo|wc)\b", "toilet"),
        # gas
        (
            r"\bsmell(?:s|ing)? (?:of )?gas\b|\bgas (?:leak|smell)\b|\bsmells? like gas\b|"
            # what gas smells of: the odorant added to it so that a leak is noticed
            r"\b(?:rotten|bad) eggs?\b|\bsmell\w* (?:of |like )?(?:sulphur|sulfur)\b",
            "gas smell boiler heating",
        ),
        # carbon monoxide: a gas emergency, whatever the company lists ("the CO alarm")
        (
            r"\b(?:carbon )?monoxide\b|\b(?:co|c o|c\.o\.)\s+(?:alarm|detector|monitor)\b",
            "gas smell carbon monoxide boiler",
        ),
        # electrics: emergencies
        (
            r"\bsparks?\b|\bspark(?:ed|ing)\b|\barcing\b|\bflash(?:ed)? from\b",
            "sparking socket electric",
        ),
        (
            r"\b(?:burning|melting)\b|\bscorch(?:ed| marks?)\b|\bsmells? (?:hot|burnt)\b",
            "burning smell electric",
        ),
        (r"\bsmok(?:e|ing|ey)\b", "smoke electric"),
        (
            r"\b(?:got|had|gave me|get) (?:a |an )?(?:electric )?shock\b|\belectrocuted\b",
            "electric shock",
        ),
        (
            r"\bno (?:electric(?:ity|s)?|power|lights? at all)\b|\bpower (?:cut|is out|'s out|"
            r"has gone|went off)\b|\b(?:lost|lost all) (?:the )?power\b",
            "no power",
        ),
        # electrics: faults and certificates
        (
            r"\btrip(?:s|ped|ping)?\b|\b(?:rcd|breaker|consumer unit|fuse ?box|fuse board)\b",
            "tripping fuse",
        ),
        (
            r"\b(?:sockets?|plugs?|switch(?:es)?|lights?)\b\s+(?:\w+\s+){0,3}(?:not working|"
            r"don'?t work|doesn'?t work|stopped working|dead|flicker\w*|keeps? going off)",
            "socket lights power",
        ),
        (r"\bflicker\w*\b|\bdead sockets?\b", "lights socket"),
        (
            r"\b(?:eicr|safety (?:cert|certificate|check)|landlord'?s? (?:cert|certificate|check)|"
            r"electrical (?:inspection|check|report)|periodic inspection)\b",
            "certificate",
        ),
        (r"\b(?:tenants?|letting agent|rental|rented|buy-to-let)\b", "landlord"),
        (r"\belectrics?\s+(?:\w+\s+)?(?:checked|tested|inspected)\b", "certificate inspection"),
    )
)


def concepts(text: str) -> tuple[str, ...]:
    """The plain words the caller's phrasing means, in rule order, no repeats
    (multi-word keywords such as "gas smell" or "no power" stay whole)."""
    found: list[str] = []
    for pattern, words in CONCEPTS:
        if pattern.search(text) and words not in found:
            found.append(words)
    return tuple(found)


def enrich(text: str) -> str:
    """``text`` with the plain words it means appended (unchanged when none)."""
    extra = concepts(text)
    return f"{text} ({'; '.join(extra)})" if extra else text
