"""Pure helpers of the call observer: timeline look-ups, the call's outcome, the
kind of a provider error, and the personal values to hide from the logs.

No Trio, no I/O: times are plain numbers on the call's clock.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agent.base.errors import ProviderConnectError, ProviderStatusError, ProviderTimeout
from agent.base.logs import ADDRESS, NAME, PHONE, POSTCODE
from agent.business.ukformats import parse_postcode, to_e164
from agent.dialogue.slots import extract

# A barge-in onset further back than this before the interruption belongs to
# something else (an earlier cough); the interruption's own time is used then.
MAX_BARGE_IN_ONSET_S = 3.0


def latest_in(times: Sequence[float], lo: float, hi: float) -> float | None:
    """The latest of the sorted ``times`` in (``lo``, ``hi``], or None."""
    i = bisect.bisect_right(times, hi)
    if i and times[i - 1] > lo:
        return times[i - 1]
    return None


def barge_in_onset(
    vad_starts: Sequence[float], interrupted_at: float, first_frame_at: float | None
) -> float:
    """When the caller began the speech that interrupted the agent: the last VAD
    onset after the agent became audible (and not long before the interruption),
    else the interruption itself (a key press, words the VAD missed)."""
    lo = interrupted_at - MAX_BARGE_IN_ONSET_S
    if first_frame_at is not None:
        lo = max(lo, first_frame_at)
    onset = latest_in(vad_starts, lo - 1e-9, interrupted_at)
    return onset if onset is not None else interrupted_at


def classify_outcome(
    end_reason: str | None,
    outcome_kind: str | None,
    outcome_reason: str,
    tool_results: Iterable[tuple[str, str, Mapping[str, Any]]],
    *,
    conversation: bool = True,
) -> str:
    """One word for how the call went, for records, metrics and reports.

    ``tool_results`` are (tool, status, data) of the call's tool calls. The
    first that applies: error, transferred, booked, booking-pending, quoted,
    silence, completed (the agent ended it), abandoned (the caller hung up),
    else the end reason."""
    if end_reason in ("error", "crashed", "protocol-error"):
        return "error"
    if outcome_kind == "transfer":
        return "transferred"
    results = list(tool_results)
    if any(t == "book_appointment" and s == "ok" for t, s, _ in results):
        return "booked"
    if any(t == "book_appointment" and d.get("pending") for t, _, d in results):
        return "booking-pending"
    if any(t == "get_quote" and s == "ok" for t, s, _ in results):
        return "quoted"
    if outcome_kind == "end":
        return "silence" if outcome_reason == "silence" else "completed"
    if not conversation:
        return "ended"
    if end_reason in ("hangup", "hangup-message"):
        return "abandoned"
    return end_reason or "ended"


def error_kind(exc: BaseException) -> str:
    """The ``kind`` label of ``provider_errors_total``."""
    if isinstance(exc, ProviderTimeout):
        return "timeout"
    if isinstance(exc, ProviderConnectError):
        return "connect"
    if isinstance(exc, ProviderStatusError):
        return f"status_{exc.status // 100}xx" if 100 <= exc.status < 600 else "status"
    return "error"


# --- what must never reach a log ------------------------------------------------

_QUESTIONS = (
    ("postcode", re.compile(r"(?i)\bpost\s*code\b")),
    ("phone", re.compile(r"(?i)\b(?:phone|mobile|number|contact)\b")),
    ("name", re.compile(r"(?i)\bname\b|\bwho am i speaking\b")),
    ("address", re.compile(r"(?i)\baddress\b")),
)


def expecting_from_question(agent_text: str) -> str | None:
    """The detail the agent's last words asked for ("Can I take your name?" -> "name"),
    so a bare answer ("Sarah Connor") is taken as that detail."""
    for slot, pattern in _QUESTIONS:
        if pattern.search(agent_text):
            return slot
    return None


def phone_values(number: str) -> list[str]:
    """A phone number and the forms it is written in (E.164, national, digits)."""
    values = [number]
    e164 = to_e164(number)
    if e164 is not None:
        values.append(e164)
        values.append(e164[1:])
        if e164.startswith("+44"):
            values.append("0" + e164[3:])
    return values


def postcode_values(text: str) -> list[str]:
    """A postcode whole, without its space, and its two halves."""
    postcode = parse_postcode(text)
    if postcode is None:
        return [text]
    return [str(postcode), postcode.outward + postcode.inward, postcode.outward, postcode.inward]


_STREET = re.compile(
    r"(?i)\b\d+[a-z]?\s+(?:[a-z'\-]+\s+){1,3}(?:street|st|road|rd|avenue|ave|lane|ln|close"
    r"|drive|dr|way|court|place|crescent|grove|gardens|terrace|hill|park|row|square|mews)\b"
)

Personal = dict[str, list[str]]  # marker (agent.base.logs NAME, PHONE...) -> values


def personal_values(text: str, *, expecting: str | None = None) -> Personal:
    """The caller's name, phone number, postcode and address found in ``text``, by
    the log marker that replaces them, in every form a log line might carry them
    (a phone number's digit groups as spoken too)."""
    _, slots = extract(text, expecting=expecting)
    found: Personal = {}
    if slots.name:
        found.setdefault(NAME, []).append(slots.name)
    addresses = [m[0] for m in _STREET.finditer(text)]
    if slots.address and slots.address not in addresses:  # slots find addresses unasked too
        addresses.append(slots.address)
    if addresses:
        found[ADDRESS] = addresses
    if slots.postcode:
        found[POSTCODE] = postcode_values(slots.postcode)
    if slots.phone:
        # "07700 900 123": each group alone too, as it may be quoted in part.
        found[PHONE] = phone_values(slots.phone) + re.findall(r"\d{3,}", text)
    return found


_PERSONAL_ARGUMENTS = {
    "name": NAME,
    "caller_name": NAME,
    "customer_name": NAME,
    "address": ADDRESS,
    "postcode": POSTCODE,
    "phone": PHONE,
}


def personal_arguments(arguments: Mapping[str, Any]) -> Personal:
    """The personal values among a tool call's arguments (book_appointment)."""
    found: Personal = {}
    for key, marker in _PERSONAL_ARGUMENTS.items():
        value = arguments.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        if marker == PHONE:
            values = phone_values(value) + re.findall(r"\d{3,}", value)
        elif marker == POSTCODE:
            values = postcode_values(value)
        else:
            values = [value]
        found.setdefault(marker, []).extend(values)
    return found
