"""What the workflow says: reply templates, overridable per company.

Each template is a ``str.format`` text; a company's ``phrases`` entry with the
same name replaces it. Fields arrive already written for the ear (postcodes,
phone numbers, prices and times through ``agent.dialogue.saytext``), so the rendered
text goes to the TTS as it is. Templates never use brackets or markdown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.business.company import CompanyProfile
from agent.dialogue.history import History

# The question for each detail the booking needs, in the order they are asked.
DETAIL_ORDER = ("name", "address", "postcode", "phone", "when")

TEMPLATES: dict[str, str] = {
    "greet": "{greeting} How can I help you today?",
    "greet_closed": (
        "{greeting} We're closed at the moment and open again {next_opening}. "
        "I can book you the first available visit, and if it's an emergency just tell me. "
        "How can I help?"
    ),
    "ask_service": "Sorry, is that a job for us? We do {services}. Which of those do you need?",
    "quote": "For {service}, {price_text}. Would you like me to book an engineer?",
    "assessment": (
        "I'm sorry, I'm not sure which of our services that is. I can book an engineer "
        "to come and take a look: {price_text}. Shall I do that?"
    ),
    "quote_unavailable": (
        "I can't get the price list up right now, so the engineer will confirm the price "
        "before starting. Would you like me to book a visit?"
    ),
    "ask_name": "Can I take your name, please?",
    "ask_address": "Thanks. What's the address of the job?",
    "ask_first_name": "Thanks. And what's your first name?",
    "retry_first_name": "Sorry, what's your first name?",
    "ask_house_number": "And what's the house number?",
    "retry_house_number": "Sorry, what's the house number?",
    "ask_postcode": "And the postcode?",
    "ask_phone": (
        "What's the best number to reach you on? You can also type it on your keypad "
        "and press hash."
    ),
    "ask_when": "When would suit you for the visit?",
    "invalid_postcode": "Sorry, I didn't get a valid postcode. Could you say it letter by letter?",
    "invalid_phone": "Sorry, that number doesn't look right. Could you give it to me again?",
    "heard_phone": (
        "Sorry, I heard {heard}, and that doesn't look right for a whole phone number. "
        "Could you give me the whole number again, or type it on your keypad and press hash?"
    ),
    # after two misses on one detail: another way to give it, and a person on offer
    "retry_name": (
        "Sorry, I'm not getting your name. Could you spell it for me? "
        "Or say person and I'll put you through to the office."
    ),
    "retry_address": (
        "Sorry, I'm still missing the address. Just the house number and the street, please. "
        "Or say person and I'll put you through to the office."
    ),
    "retry_postcode": (
        "Sorry, I'm still not getting the postcode. Could you spell it letter by letter, "
        "like S for sugar, W for William? Or say person and I'll put you through."
    ),
    "retry_phone": (
        "Sorry, the number isn't coming through clearly. Please type it on your keypad and "
        "press hash, or say person and I'll put you through."
    ),
    "retry_when": (
        "Sorry, I didn't get a day. Could you say a day, like tomorrow morning or Thursday? "
        "Or say person and I'll put you through."
    ),
    "spell_address": "Sorry about that. Could you spell the name of the street for me?",
    "spell_name": "Sorry about that. Could you spell your surname for me?",
    # still not right after the spelling: once more, another way, before it is kept
    "another_address": (
        "Sorry, I still haven't got the street right. Could you say the house number and "
        "the street once more, nice and slowly?"
    ),
    "another_name": (
        "Sorry, I still haven't got your name right. Could you say it once more, nice and slowly?"
    ),
    "offer_person": "Or say person and I'll put you through to someone who can help.",
    "check_value": "Sorry, the line isn't very clear. Was that {value}?",
    "check_word": "Just to check, was that {value}?",  # one word of it in doubt
    "check_area": (
        "Just to check, is the postcode {postcode}? That's outside the area we usually cover."
    ),
    "read_back": "Sorry about that. So far I have {summary}. {question}",
    "read_back_empty": "Sorry about that, I haven't got any of your details yet. {question}",
    "changed": "Got it, I've changed {what} to {value}.",  # the question after may thank
    "hand_over": (
        "I'm sorry, I'm struggling to get that down. Let me put you through to {target}, "
        "who can take it from here. Please hold."
    ),
    "ask_change": "Sorry about that. What should I change?",
    "ask_fix": "Sorry about that. What's the right {what}?",
    "amend_failed": (
        "I'm sorry, I couldn't change the booking from here. The change is recorded on this "
        "call for the office to put right. Is there anything else?"
    ),
    "amended": "Done, I've changed {what} to {value} on your booking. Is there anything else?",
    "amend_pending": (
        "The booking system isn't answering right now, so I've kept the change to {what} "
        "and it will go onto your booking as soon as the system is back; the office will "
        "confirm it. Is there anything else?"
    ),
    "invalid_field": "Sorry, I need to check your {field} again. {question}",
    "out_of_area": (
        "I'm sorry, {postcode} is outside the area we cover, so we can't send anyone. "
        "Is there anything else I can help with?"
    ),
    "offer_slot": "I can do {slot}. Shall I book that for you?",
    "no_slots": "I'm sorry, nothing is free then. Is there another day or time that suits you?",
    "availability_failed": (
        "I'm sorry, I can't check the diary right now. I've taken your details and the "
        "office will call you back on {phone} to arrange a time. Is there anything else?"
    ),
    "booked": (
        "You're booked. That's {name} at {address}, {postcode}, {slot}, and we'll "
        "call {phone} if anything changes. Have I got all that right?"
    ),
    "booking_pending": (
        "I'm sorry, the booking system isn't answering right now. I've kept your booking "
        "for {slot} and the office will confirm it by phone shortly. Is there anything else?"
    ),
    "slot_taken": "Sorry, that slot has just been taken.",
    "already_booked": "You're already booked in on this call, so I won't book twice.",
    "anything_else": "Great. Is there anything else I can help with?",
    "no_booking": "No problem. Is there anything else I can help with?",
    "what_else": "Go ahead, what else can I do for you?",
    "correction_noted": (
        "Thanks, I've made a note and the office will call you to put that right. "
        "Is there anything else?"
    ),
    "reschedule_noted": (
        "I can't check the diary right now, so your booking stays for {slot} for now. "
        "I've noted that you'd rather have {when}, and the office will call you to move it. "
        "Is there anything else?"
    ),
    # moving the booked slot (agent.dialogue.workflow_move)
    "ask_move_when": "Of course. Which day and time would suit you better?",
    "move_offer": "I can do {slot} instead. Shall I move your booking to then?",
    "no_move_slots": (
        "I'm sorry, I can't find another free slot for {when}, so your booking stays for "
        "{slot}. Would another day suit you?"
    ),
    "moved": "Done, I've moved your booking to {slot}. Is there anything else?",
    "move_pending": (
        "I've asked for your booking to be moved to {slot}, but the booking system isn't "
        "answering right now, so it isn't changed yet. You'll get a confirmation once it "
        "goes through. Is there anything else?"
    ),
    "move_failed": (
        "I'm sorry, I couldn't move the booking from here, so it stays for {slot}. I've "
        "noted that you'd rather have {when}, and the office will call you about it. "
        "Is there anything else?"
    ),
    "booking_stays": "No problem, your booking stays for {slot}. Is there anything else?",
    "goodbye": "Thanks for calling {company}. Goodbye.",
    "transfer": "Of course, I'll put you through to {target} now. Please hold.",
    "cancel_noted": (
        "I've noted that you'd like to cancel, and the office will confirm the "
        "cancellation with you. Is there anything else?"
    ),
    "callback": (
        "Of course. I'll ask the office to call you back on {phone} as soon as they can. "
        "Is there anything else?"
    ),
    "dont_know": (
        "No problem. {why} If you can find it, just say it; or say person and I'll put you "
        "through to {target}."
    ),
    "no_human": (
        "I'm sorry, there's no one free to take the call right now. I'll ask someone "
        "to call you back as soon as possible. Is there anything else?"
    ),
    "one_booking": "I can only book one job per call, so let me put you through to {target}.",
    "emergency_transfer": (
        "That sounds urgent. I'm putting you straight through to {target}. Please hold."
    ),
    "emergency_priority": (
        "That sounds urgent, so I'll book you in as a priority for the first engineer free."
    ),
    "emergency_safety_gas": (
        "If you can smell gas, open the windows, don't use switches or flames, and call "
        "the National Gas Emergency line on 0 8 0 0, 1 1 1, 9 9 9."
    ),
    "emergency_safety_co": (
        "If a carbon monoxide alarm is going off, open the windows, turn off any gas "
        "appliances, get everyone outside into fresh air, and call the National Gas "
        "Emergency line on 0 8 0 0, 1 1 1, 9 9 9. If anyone feels unwell, call 9 9 9."
    ),
    "ask_repeat": "Sorry, I didn't quite catch that. Could you say it again?",
    "unclear": "Sorry, I didn't follow. {question}",
    "reprompt": "Are you still there? {question}",
    "silence_end": (
        "I can't hear anything, so I'll end the call now. Please call back any time. Goodbye."
    ),
}

QUESTIONS = {
    "greet": "How can I help you today?",
    "service": "What can we help you with?",
    "book?": "Would you like me to book an engineer?",
    "slot?": "Shall I book that slot?",
    "confirm?": "Have I got your details right?",
    "else?": "Is there anything else I can help with?",
    "move?": "Shall I move your booking to then?",
    "move_when?": "Which day and time would suit you better?",
}


def render(profile: CompanyProfile, key: str, **fields: Any) -> str:
    """The company's text for template ``key`` with ``fields`` filled in."""
    template = profile.phrases.get(key, TEMPLATES[key])
    values = {"company": profile.name, "greeting": profile.greeting, **fields}
    try:
        return " ".join(template.format(**values).split())
    except (KeyError, IndexError, ValueError):
        # A company phrase naming an unknown field: fall back to ours, never crash a call.
        return " ".join(TEMPLATES[key].format(**values).split())


def reprompt_text(profile: CompanyProfile, history: History, fallback: Callable[[], str]) -> str:
    """ "Are you still there?" and the question the caller heard last (since they last
    spoke; in offline mode the policy's workflow is further along than the brain's gate
    workflow, whose ``question`` is only the ``fallback``)."""
    still_there = render(profile, "reprompt", question="")
    question = history.open_question(still_there) or fallback()
    return render(profile, "reprompt", question=question)
