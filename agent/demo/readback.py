"""How the demo's scripted caller answers a read-back, as a person would.

The agent reads back a detail it heard in doubt ("Was that 22 Bay Crest
Street?") and, after a no, may ask for it spelled. A recorded caller cannot
listen, but the demo knows what the agent said (its transcript) and what the
caller said (its own lines), so it answers the way the person on the phone
would: "yes" when the read-back is what they said, their correction when it is
not, the spelling when asked for it. Without this the caller talked past the
question and the demo booked whatever was heard first.

Pure: strings in, the name of the caller line to say out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher

__all__ = ["CORRECTIONS", "SPELLINGS", "YES", "reply_to_agent"]

# The line a caller says to a read-back that is right.
YES = "thats_right"

# What the caller says when the agent read back one of their lines wrong:
# line name -> the caller line that corrects it. Lines with no entry are said again.
CORRECTIONS: Mapping[str, str] = {"address": "address_again"}

# What the caller says when asked to spell a detail: (words of the agent's
# request, the line whose detail it is, the caller line that spells it).
SPELLINGS: tuple[tuple[str, str, str], ...] = (
    ("name of the street", "address", "street_spelling"),
)

# A read-back within one sentence: "Was that 22 Bay Crest Street?".
_READ_BACK = re.compile(r"\bwas that ([^.?!]+)\?", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")


def _compact(text: str) -> str:
    """Letters and digits only: "S W 1 A, 1 A A" and "SW1A 1AA" read the same."""
    return "".join(_WORD.findall(text.lower()))


def reply_to_agent(
    agent_line: str,
    said: Sequence[str],
    texts: Mapping[str, str],
) -> str | None:
    """The caller line to say to the agent's last (whole) line, or None: no
    read-back or spelling request in it, the script goes on.

    ``said``: the names of the caller's lines so far, oldest first; ``texts``:
    each line's words. A read-back found in one of them gets "yes"; otherwise
    the line it was most likely made of is corrected (or said again)."""
    lowered = agent_line.lower()
    for request, line, spelling in SPELLINGS:
        if request in lowered and line in said:
            return spelling
    asked = _READ_BACK.findall(agent_line)
    if not asked or not said:
        return None
    heard = asked[-1]
    if _compact(heard) and any(_compact(heard) in _compact(texts[name]) for name in said):
        return YES
    # The line the read-back was made of: the most of its letters, in order.
    best, score = None, 0.5  # at least half of them
    for name in reversed(said):  # the latest line wins a tie
        if name == YES:
            continue
        matcher = SequenceMatcher(None, _compact(heard), _compact(texts[name]), autojunk=False)
        matched = sum(block.size for block in matcher.get_matching_blocks())
        if matched / max(1, len(_compact(heard))) > score:
            best, score = name, matched / len(_compact(heard))
    if best is None:
        return None
    return CORRECTIONS.get(best, best)
