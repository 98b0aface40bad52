"""The booking conversation's transition table: states, input kinds and rows.

greet -> understand -> quote -> collect details -> book -> confirm -> close,
with transfer and a polite end reachable from every state; after the booking,
another time asked for goes through move (free slots offered, the booking moved).
``BookingWorkflow`` classifies each input into a ``Kind``; ``lookup`` gives the row
for the current state: the next state and the names of the actions to build
(``workflow_build``).
Unknown pairs fall back to "didn't follow, ask again" for caller input and to
nothing for stale tool results, so the call is never stuck.
"""

from __future__ import annotations

import enum

__all__ = ["ANY", "FINAL_STATES", "TABLE", "Kind", "Row", "State", "lookup"]


class State(enum.Enum):
    GREET = "greet"
    UNDERSTAND = "understand"
    QUOTE = "quote"
    COLLECT = "collect"
    BOOK = "book"
    CONFIRM = "confirm"
    MOVE = "move"  # after the booking: offering another slot to move it to
    CLOSE = "close"
    TRANSFER = "transfer"
    END = "end"


class Kind(enum.Enum):
    START = "start"
    START_CLOSED = "start_closed"  # out of hours
    PROBLEM = "problem"  # a problem we have a service for
    NEED_SERVICE = "need_service"
    ASSESS = "assess"  # still not understood: offer an engineer to come and look
    EMERGENCY_TRANSFER = "emergency_transfer"
    EMERGENCY_BOOKING = "emergency_booking"
    DETAILS = "details"  # some details given, some still missing
    DETAILS_READY = "details_ready"  # every detail in: look for slots
    READY_TO_BOOK = "ready_to_book"  # a corrected detail and an accepted slot
    INVALID_DETAIL = "invalid_detail"
    OUT_OF_AREA = "out_of_area"
    YES = "yes"
    NO = "no"
    ACCEPT_SLOT = "accept_slot"
    REJECT_SLOT = "reject_slot"
    HUMAN = "human"
    HUMAN_UNAVAILABLE = "human_unavailable"
    ANOTHER_JOB = "another_job"
    GOODBYE = "goodbye"
    UNCLEAR = "unclear"
    LOW_CONFIDENCE = "low_confidence"
    SILENCE = "silence"
    SILENCE_LIMIT = "silence_limit"
    DIGIT = "digit"
    QUOTED = "quoted"
    QUOTE_FAILED = "quote_failed"
    SLOTS_FOUND = "slots_found"
    NO_SLOTS = "no_slots"
    AVAILABILITY_FAILED = "availability_failed"
    BOOKED = "booked"
    BOOKING_FAILED = "booking_failed"
    SLOT_TAKEN = "slot_taken"
    BOOKING_INVALID = "booking_invalid"
    READ_BACK = "read_back"  # "I already told you": what was understood, then the question
    CHECK_VALUE = "check_value"  # heard with low confidence: "Was that ...?"
    SPELLING = "spelling"  # a spelling cut short by a pause: listen for the rest
    CHECK_AREA = "check_area"  # a postcode outside the area: confirm before declining
    HAND_OVER = "hand_over"  # a detail missed too often: a person takes over
    CALLBACK = "callback"  # "can you call me back later?": kept for the office
    CANCEL = "cancel"  # "I need to cancel" after the booking: the office is asked to
    DONT_KNOW = "dont_know"  # "I don't know the postcode": why it's needed, and a way on
    AMEND = "amend"  # a correction after the booking: change the booking
    ASK_FIX = "ask_fix"  # "the phone number is wrong": what is the right one?
    AMENDED = "amended"
    AMEND_PENDING = "amend_pending"  # the booking API is down: kept in the outbox
    AMEND_FAILED = "amend_failed"
    RESCHEDULE = "reschedule"  # another time after the booking: look for free slots then
    MOVE_ASKED = "move_asked"  # "can I change the time?": which day then?
    MOVED = "moved"  # the booking is on the new slot
    MOVE_PENDING = "move_pending"  # the booking API is down: the move is kept in the outbox
    MOVE_FAILED = "move_failed"  # not moved: the booking stands, the office is told
    MODEL_AMEND = "model_amend"
    MODEL_QUOTE = "model_quote"  # authorized tool calls of the LLM mode
    MODEL_AVAILABILITY = "model_availability"
    MODEL_BOOK = "model_book"
    MODEL_TRANSFER = "model_transfer"
    MODEL_END = "model_end"
    MODEL_CALLBACK = "model_callback"  # request_callback: kept for the office, the call goes on


S, K = State, Kind
ANY = None  # a row for every non-final state (specific rows win)
Row = tuple[State | None, tuple[str, ...]]  # next state (None: stay), action names

TABLE: dict[tuple[State | None, Kind], Row] = {
    (S.GREET, K.START): (S.UNDERSTAND, ("greet",)),
    (S.GREET, K.START_CLOSED): (S.UNDERSTAND, ("greet_closed",)),
    (S.UNDERSTAND, K.PROBLEM): (S.QUOTE, ("call_quote",)),
    (S.UNDERSTAND, K.NEED_SERVICE): (None, ("ask_service",)),
    (S.UNDERSTAND, K.ASSESS): (S.QUOTE, ("call_quote",)),
    (S.QUOTE, K.QUOTED): (None, ("say_quote",)),
    (S.QUOTE, K.QUOTE_FAILED): (None, ("say_quote_unavailable",)),
    (S.QUOTE, K.PROBLEM): (None, ("call_quote",)),
    (S.QUOTE, K.YES): (S.COLLECT, ("ask_detail",)),
    (S.QUOTE, K.DETAILS): (S.COLLECT, ("ask_detail",)),
    (S.QUOTE, K.NO): (S.CLOSE, ("say_no_booking",)),
    (S.COLLECT, K.DETAILS): (None, ("ask_detail",)),
    (S.COLLECT, K.INVALID_DETAIL): (None, ("say_invalid_detail",)),
    (S.COLLECT, K.OUT_OF_AREA): (S.CLOSE, ("say_out_of_area",)),
    (S.COLLECT, K.DETAILS_READY): (None, ("call_availability",)),
    (S.COLLECT, K.SLOTS_FOUND): (None, ("offer_slot",)),
    (S.COLLECT, K.NO_SLOTS): (None, ("say_no_slots",)),
    (S.COLLECT, K.AVAILABILITY_FAILED): (S.CLOSE, ("keep_callback", "say_availability_failed")),
    (S.COLLECT, K.ACCEPT_SLOT): (S.BOOK, ("call_book",)),
    (S.COLLECT, K.REJECT_SLOT): (None, ("offer_slot",)),
    (S.COLLECT, K.READY_TO_BOOK): (S.BOOK, ("call_book",)),
    (S.BOOK, K.BOOKED): (S.CONFIRM, ("say_booked",)),
    (S.BOOK, K.BOOKING_FAILED): (S.CLOSE, ("keep_booking", "say_booking_pending")),
    (S.BOOK, K.SLOT_TAKEN): (S.COLLECT, ("say_slot_taken", "offer_slot")),
    (S.BOOK, K.BOOKING_INVALID): (S.COLLECT, ("say_invalid_detail",)),
    (S.CONFIRM, K.YES): (S.CLOSE, ("say_anything_else",)),
    (S.CONFIRM, K.NO): (None, ("ask_change",)),
    (S.CONFIRM, K.DETAILS): (S.CLOSE, ("keep_correction", "say_correction_noted")),
    (S.COLLECT, K.CHECK_VALUE): (None, ("ask_check_value",)),
    (S.COLLECT, K.SPELLING): (None, ()),
    (S.COLLECT, K.CHECK_AREA): (None, ("ask_check_area",)),
    (ANY, K.READ_BACK): (None, ("say_read_back",)),
    (S.COLLECT, K.HAND_OVER): (S.TRANSFER, ("say_hand_over", "transfer_default")),
    (S.UNDERSTAND, K.HAND_OVER): (S.TRANSFER, ("say_hand_over", "transfer_default")),
    (S.CONFIRM, K.AMEND): (None, ("call_amend",)),
    (S.CONFIRM, K.ASK_FIX): (None, ("ask_fix",)),
    (S.CLOSE, K.ASK_FIX): (None, ("ask_fix",)),
    (S.CLOSE, K.AMEND): (None, ("call_amend",)),
    (S.CONFIRM, K.AMENDED): (S.CLOSE, ("say_amended",)),
    (S.CLOSE, K.AMENDED): (None, ("say_amended",)),
    (S.CONFIRM, K.AMEND_PENDING): (S.CLOSE, ("say_amend_pending",)),
    (S.CLOSE, K.AMEND_PENDING): (None, ("say_amend_pending",)),
    (S.CONFIRM, K.AMEND_FAILED): (S.CLOSE, ("keep_correction", "say_amend_failed")),
    (S.CLOSE, K.AMEND_FAILED): (None, ("keep_correction", "say_amend_failed")),
    (S.CONFIRM, K.RESCHEDULE): (S.MOVE, ("call_move_availability",)),
    (S.CLOSE, K.RESCHEDULE): (S.MOVE, ("call_move_availability",)),
    (S.MOVE, K.RESCHEDULE): (None, ("call_move_availability",)),
    (S.CONFIRM, K.MOVE_ASKED): (S.MOVE, ("ask_move_when",)),
    (S.CLOSE, K.MOVE_ASKED): (S.MOVE, ("ask_move_when",)),
    (S.MOVE, K.MOVE_ASKED): (None, ("ask_move_when",)),
    (S.MOVE, K.SLOTS_FOUND): (None, ("offer_move",)),
    (S.MOVE, K.NO_SLOTS): (None, ("say_no_move_slots",)),
    (S.MOVE, K.AVAILABILITY_FAILED): (S.CLOSE, ("keep_correction", "say_reschedule_noted")),
    (S.MOVE, K.ACCEPT_SLOT): (None, ("call_move",)),
    (S.MOVE, K.REJECT_SLOT): (None, ("offer_move",)),
    (S.MOVE, K.SLOT_TAKEN): (None, ("say_slot_taken", "offer_move")),
    (S.MOVE, K.YES): (None, ("ask_move_when",)),
    (S.MOVE, K.NO): (S.CLOSE, ("say_booking_stays",)),
    (S.MOVE, K.AMEND): (S.CLOSE, ("call_amend",)),
    (ANY, K.MOVED): (S.CLOSE, ("say_moved",)),
    (ANY, K.MOVE_PENDING): (S.CLOSE, ("say_move_pending",)),
    (ANY, K.MOVE_FAILED): (S.CLOSE, ("keep_correction", "say_move_failed")),
    (ANY, K.MODEL_AMEND): (None, ("call_authorized",)),  # admitted only after a booking
    (S.CLOSE, K.NO): (S.END, ("say_goodbye", "end_call")),
    (S.CLOSE, K.YES): (None, ("say_what_else",)),
    (S.CLOSE, K.PROBLEM): (S.QUOTE, ("call_quote",)),
    (S.CLOSE, K.ANOTHER_JOB): (S.TRANSFER, ("say_one_booking", "transfer_default")),
    (ANY, K.HUMAN): (S.TRANSFER, ("say_transfer", "transfer_default")),
    (ANY, K.HUMAN_UNAVAILABLE): (S.CLOSE, ("keep_callback", "say_no_human")),
    (S.UNDERSTAND, K.CALLBACK): (S.CLOSE, ("keep_callback", "say_callback")),
    (S.QUOTE, K.CALLBACK): (S.CLOSE, ("keep_callback", "say_callback")),
    (S.COLLECT, K.CALLBACK): (S.CLOSE, ("keep_callback", "say_callback")),
    (S.COLLECT, K.DONT_KNOW): (None, ("say_dont_know",)),
    (S.CONFIRM, K.CANCEL): (S.CLOSE, ("keep_cancel", "say_cancel_noted")),
    (S.CLOSE, K.CANCEL): (None, ("keep_cancel", "say_cancel_noted")),
    (ANY, K.GOODBYE): (S.END, ("say_goodbye", "end_call")),
    (ANY, K.EMERGENCY_TRANSFER): (S.TRANSFER, ("say_emergency_transfer", "transfer_emergency")),
    (ANY, K.EMERGENCY_BOOKING): (S.COLLECT, ("say_emergency_priority", "ask_detail")),
    (ANY, K.LOW_CONFIDENCE): (None, ("ask_repeat",)),
    (ANY, K.UNCLEAR): (None, ("say_unclear",)),
    (ANY, K.SILENCE): (None, ("reprompt",)),
    (ANY, K.SILENCE_LIMIT): (S.END, ("say_silence_end", "end_call")),
    (ANY, K.DIGIT): (None, ()),
    (ANY, K.MODEL_QUOTE): (S.QUOTE, ("call_authorized",)),
    (ANY, K.MODEL_AVAILABILITY): (S.COLLECT, ("call_authorized",)),
    (ANY, K.MODEL_BOOK): (S.BOOK, ("call_authorized",)),
    (ANY, K.MODEL_TRANSFER): (S.TRANSFER, ("transfer_authorized",)),
    (ANY, K.MODEL_END): (S.END, ("end_call",)),
    (ANY, K.MODEL_CALLBACK): (None, ("keep_callback",)),
}

FINAL_STATES = frozenset({S.TRANSFER, S.END})
_TOOL_KINDS = frozenset(
    {K.QUOTED, K.QUOTE_FAILED, K.SLOTS_FOUND, K.NO_SLOTS, K.AVAILABILITY_FAILED, K.BOOKED}
    | {K.BOOKING_FAILED, K.SLOT_TAKEN, K.BOOKING_INVALID, K.AMENDED, K.AMEND_PENDING}
    | {K.AMEND_FAILED, K.MOVED, K.MOVE_PENDING, K.MOVE_FAILED}
)


def lookup(state: State, kind: Kind) -> tuple[Kind, Row] | None:
    """The kind that applies and its table row, or ``None`` when nothing should happen.

    Caller input with no row of its own is treated as unclear (ask again);
    a tool result with no row is stale and ignored.
    """
    if state in FINAL_STATES:
        return None
    row = TABLE.get((state, kind)) or TABLE.get((ANY, kind))
    if row is not None:
        return kind, row
    if kind in _TOOL_KINDS or kind is K.START:
        return None
    return K.UNCLEAR, TABLE[(ANY, K.UNCLEAR)]
