"""What the caller needs, and what to do while it is not understood (pure).

A caller whose first sentence is misheard ("The radio D8 turns the lounges") has a
job all the same. After a miss or two a good receptionist does not keep asking
"which of our services?" nor pass the call on: she offers to send someone to look
("I can book an engineer to come and take a look; the call-out charge is ...").
The company's ``assessment_service`` is booked then, with the caller's own words as
the job description. Never for an emergency (handled before this) nor for a call
that is plainly not a job (an invoice, a wrong number, a sales call): those are
handed over as before, and so is a caller who says no to the offer.
"""

from __future__ import annotations

import re

import attrs

from agent.business.company import CompanyProfile
from agent.dialogue.slots import Intent
from agent.dialogue.workflow_actions import Utterance, WorkflowConfig
from agent.dialogue.workflow_data import BookingData
from agent.dialogue.workflow_table import Kind, State

__all__ = [
    "classify_problem",
    "dont_know",
    "hand_over",
    "not_a_job",
    "office_matter",
    "thanks_only",
    "unclear_problem",
    "wants_callback",
    "wants_cancel",
]

K = Kind

# Calls that are not a job to book: money, a wrong number, selling, looking for work.
_NOT_A_JOB = re.compile(
    r"\b(?:invoices?|bills?|refunds?|receipts?|complain(?:t|ts|ing)?|wrong number|"
    r"(?:selling|sales|marketing|advertis\w*|survey)|(?:a|any) (?:job|vacanc\w*|work)\s+"
    r"(?:going|available|for me)|hiring|apprentice\w*|recruit\w*|my cv)\b",
    re.IGNORECASE,
)


# Matters for the office, not a new job: a booking already made, a visit that has
# been, money, a complaint. Put through at once ("is that a job for us?" would not help).
_OFFICE_MATTER = re.compile(
    r"\b(?:an? |my |our )?existing (?:booking|appointment|job)\b|"
    r"\b(?:about|regarding|chasing|checking on) (?:my|our|a|the) (?:booking|appointment|"
    r"invoice|bill|refund|visit)\b|\b(?:the|your) engineer (?:who|that) came\b|"
    r"\b(?:make|making|have|got|log|raise) a complaint\b|\bcomplain(?:ing)? about\b|"
    r"\b(?:invoices?|refunds?|receipts?)\b",
    re.IGNORECASE,
)


# "Can someone call me back later? I'm driving": a call back asked for, not a job yet.
_CALLBACK = re.compile(
    r"\b(?:call|ring|phone) me back\b|\bcall me (?:later|tomorrow|in an hour|this (?:afternoon|"
    r"evening))\b|\b(?:can|could) (?:someone|somebody|you) (?:call|ring|phone) me\b|"
    r"\b(?:a|arrange a) call ?back\b",
    re.IGNORECASE,
)
# "I'm not sure of the postcode", "I don't know it": the detail asked is not to hand.
_DONT_KNOW = re.compile(
    r"\b(?:(?:i )?(?:don't|do not|dunno) know|not sure|no idea|(?:can't|cannot|don't) remember|"
    r"(?:can't|cannot) remember|forgot(?:ten)?|haven't got (?:it|one))\b",
    re.IGNORECASE,
)


# "I need to cancel actually", after the booking ("can I cancel if I need to?" is a question).
_CANCEL = re.compile(
    r"\b(?:need|want|like|have|going) to cancel\b|\bplease cancel\b|\b(?:can|could) you cancel\b|"
    r"\bcancel (?:it|that|the booking|my booking|the appointment|the visit)\b",
    re.IGNORECASE,
)
# "Cheers", "lovely, thank you so much": thanks, nothing more, to "anything else?".
_THANKS_ONLY = re.compile(
    r"^\W*(?:(?:lovely|great|perfect|brilliant|super|smashing|ok(?:ay)?|right|that's (?:great|"
    r"lovely|perfect|brilliant))\W+)?(?:cheers|ta|thanks|thank you)(?: (?:very|so) much| a lot| "
    r"ever so much)?(?:\W+(?:bye|goodbye|cheers))?\W*$",
    re.IGNORECASE,
)


def wants_cancel(text: str) -> bool:
    """The caller asks to cancel ("I need to cancel actually"), not whether they could."""
    return _CANCEL.search(text) is not None and not re.search(r"\bif\b", text, re.IGNORECASE)


def thanks_only(text: str) -> bool:
    """Thanks and nothing more ("cheers", "lovely, thank you so much")."""
    return _THANKS_ONLY.match(text) is not None


def wants_callback(text: str) -> bool:
    """The caller asks to be called back ("can you call me back later?")."""
    return _CALLBACK.search(text) is not None


def dont_know(text: str) -> bool:
    """The caller does not have the detail asked for to hand ("I don't know it")."""
    return _DONT_KNOW.search(text) is not None


def office_matter(text: str) -> bool:
    """A booking already made, a visit that has been, money or a complaint: for the
    office ("I'm calling about an existing booking", "I want to make a complaint")."""
    return _OFFICE_MATTER.search(text) is not None


def not_a_job(text: str) -> bool:
    """The caller's words are plainly not a job to book (an invoice, a sales call)."""
    return _NOT_A_JOB.search(text) is not None


def hand_over(profile: CompanyProfile) -> Kind:
    return K.HAND_OVER if profile.default_transfer_target else K.HUMAN_UNAVAILABLE


def classify_problem(
    state: State,
    data: BookingData,
    profile: CompanyProfile,
    config: WorkflowConfig,
    u: Utterance,
    filled: set[str],
) -> Kind:
    """The caller's first words (or more after "is that a job for us?"), or another
    job after the booking: a service to quote, another question, or the offer to
    send an engineer to look."""
    text = u.text.strip()
    if state is State.CLOSE:
        if "service_id" not in filled:
            return K.UNCLEAR
        if data.booked:
            has_target = profile.default_transfer_target is not None
            return K.ANOTHER_JOB if has_target else K.HUMAN_UNAVAILABLE
        data.problem, data.assessing = text, False
        return K.PROBLEM
    if not text and not filled:
        return K.UNCLEAR
    if data.service_id is None and office_matter(text):
        data.not_a_job = True  # put through to the office as asked for a person
        return K.HUMAN if profile.default_transfer_target else K.HUMAN_UNAVAILABLE
    data.problem = data.problem or text
    if data.service_id is None and len(profile.services) == 1:
        data.service_id = profile.services[0].id
    if data.service_id is not None:
        data.assessing = False
        return K.PROBLEM
    return unclear_problem(data, profile, config, u) or K.NEED_SERVICE


def unclear_problem(
    data: BookingData, profile: CompanyProfile, config: WorkflowConfig, u: Utterance
) -> Kind | None:
    """One more line that did not say which service (heard in doubt or not): keep the
    caller's words; the offer to send someone to look when it is time, a person after
    too many misses, else ``None`` (ask again)."""
    words = u.text.strip()
    # A line heard in doubt may name a service ("... lounges, leak them"): still the
    # caller's words for the job, though not taken as the service unconfirmed.
    details = attrs.evolve(u.slots, service_id=None)
    if words and u.intent is None and details.is_empty() and words not in data.problem_said:
        data.problem_said.append(words)  # the job description, in the caller's words
    if not_a_job(words) or u.intent in (Intent.NO, Intent.GOODBYE):
        data.not_a_job = True  # "no" to "is that a job for us?" too
    misses = data.miss("service")
    offer = profile.assessment is not None and not data.not_a_job and not data.priority
    # After "is that a job for us?" once (a yes to it says it is one, whatever it is).
    if offer and data.problem_said and misses >= config.assess_after:
        assert profile.assessment is not None
        data.service_id, data.assessing = profile.assessment.id, True
        data.problem = ". ".join(s.rstrip(" .") for s in data.problem_said) + "."
        return K.ASSESS
    if misses > config.max_misses:
        return hand_over(profile)  # never "is that a job for us?" for ever
    return None
