"""The offline dialogue policy behind the LanguageModel protocol.

Conversations are driven the way the brain drives a cloud model: the real
``History`` holds the messages, ``run`` streams into a memory channel, a tiny
tool executor answers each tool call with a ``ToolResult.for_model()`` tool
message, and the next run continues. Caller lines are written as Whisper
transcribes the fixtures of agent/data/caller/manifest.tsv.
(Silence handling is the turn-taking's job and is not tested here.) These are
whole scenarios; determinism, the message bookkeeping and the pieces (tool results,
arguments, streaming) are in test_offline_policy_pieces.py; the call rig is offline_rig.py.
"""

from __future__ import annotations

import pytest

from agent.dialogue.tools import ToolResult as Result
from agent.dialogue.tools import (
    TransferRequest,
    parse_tool_call,
)
from agent.providers.llm.offline_policy import (
    OfflinePolicy,
    dtmf_message,
)
from agent.providers.protocols import LanguageModel
from tests.providers.llm.offline_rig import (
    LINE,
    LOCAL_PLUMBER,
    PLUMBER,
    SLOT_A,
    SLOT_B,
    SUNDAY_10,
    TUESDAY_10,
    booking,
    make,
    to_phone_question,
)

# --- scenarios -----------------------------------------------------------------------


def test_is_a_language_model() -> None:
    policy = OfflinePolicy(PLUMBER, call_uuid="c", clock=lambda: TUESDAY_10)
    assert isinstance(policy, LanguageModel) and policy.name == "offline"
    with pytest.raises(ValueError, match="token_gap_s"):
        OfflinePolicy(PLUMBER, call_uuid="c", token_gap_s=-1)


async def test_happy_path_books_with_the_right_slots() -> None:
    call = make()
    assert (await call.turn()).startswith(PLUMBER.greeting)
    quoted = await call.turn(LINE["leak"])
    assert "85 pounds" in quoted and "65 pounds an hour" in quoted
    assert call.executor.calls[0].parsed_arguments()["service_id"] == "leak_repair"
    assert "name" in await call.turn(LINE["sounds_fine"])
    assert "address" in await call.turn(LINE["name"])
    assert "postcode" in await call.turn(LINE["address"])
    assert "number" in await call.turn(LINE["postcode"])
    assert "When" in await call.turn(LINE["phone"])
    offer = await call.turn(LINE["tomorrow"])
    assert "tomorrow at nine in the morning" in offer
    availability = call.executor.calls[1].parsed_arguments()
    assert availability["postcode"] == "SW1A 1AA"
    assert availability["earliest"] == "2025-05-14T08:00:00+01:00"
    readback = await call.turn(LINE["thats_right"])
    assert booking(call) == {
        "service_id": "leak_repair",
        "slot_start": SLOT_A[0],
        "slot_end": SLOT_A[1],
        "name": "John Smith",
        "phone": "+447700900123",
        "address": "22 Baker Street",
        "postcode": "SW1A 1AA",
        "problem": LINE["leak"],
    }
    assert "S W 1 A, 1 A A" in readback and "0 7 7 0 0, 9 0 0, 1 2 3" in readback
    assert "anything else" in await call.turn(LINE["thats_right"])
    assert "Goodbye" in await call.turn(LINE["goodbye"])
    assert call.ended is not None and call.ended.name == "end_call"
    assert call.policy.workflow.data.booking_id == "B7"


@pytest.mark.parametrize(
    "said",
    ["My postcode is SW1A 1AA.", "my postcode is sw1a 1aa", "It's SW1A1AA.", "S W 1 A 1 A A."],
)
async def test_postcode_transcript_variations(said: str) -> None:
    call = make()
    await call.turn()
    for line in ("leak", "sounds_fine", "name", "address"):
        await call.turn(LINE[line])
    assert "number" in await call.turn(said)
    assert call.policy.workflow.data.postcode == "SW1A 1AA"


async def test_misheard_postcode_is_asked_again_then_taken() -> None:
    call = make()
    await call.turn()
    for line in ("leak", "sounds_fine", "name"):
        await call.turn(LINE[line])
    assert "postcode" in await call.turn("It's 22 Bay Crest Street.")
    assert "letter by letter" in await call.turn("Bay Crest Street")
    assert "letter by letter" in await call.turn("My postcode is SW1A 1A.")
    assert "number" in await call.turn("S W 1 A, 1 A A.")
    assert call.policy.workflow.data.address == "22 Bay Crest Street"


async def test_out_of_area_postcode_is_declined_politely() -> None:
    call = make(LOCAL_PLUMBER)
    await call.turn()
    for line in ("leak", "sounds_fine", "name", "address"):
        await call.turn(LINE[line])
    reply = await call.turn(LINE["postcode_out_of_area"])
    assert "outside the area" in reply and "E C 1 A, 1 B B" in reply
    assert not [c for c in call.executor.calls if c.name == "check_availability"]
    assert "Goodbye" in await call.turn(LINE["goodbye"])
    assert call.ended is not None and call.ended.name == "end_call"


async def test_asking_for_a_person_transfers_to_an_allowed_target() -> None:
    call = make()
    await call.turn()
    await call.turn(LINE["leak"])
    reply = await call.turn(LINE["person"])
    assert "put you through to office" in reply
    assert call.ended is not None and call.ended.name == "transfer_to_human"
    request = parse_tool_call(call.ended, PLUMBER)
    assert isinstance(request, TransferRequest) and request.target.dial == "PJSIP/1001"


async def test_failed_transfer_carries_on_with_a_callback() -> None:
    call = make(transfer_to_human=Result("transfer_to_human", "failed", error="busy"))
    await call.turn()
    reply = await call.turn(LINE["person"])
    assert "no one free" in reply and call.ended is None
    assert [k.kind for k in call.policy.kept] == ["callback"]
    assert "Goodbye" in await call.turn(LINE["goodbye"])


async def test_booking_api_down_is_kept_pending_and_confirmed_later() -> None:
    down = Result("book_appointment", "failed", error="503 Service Unavailable")
    call = make(book_appointment=down)
    await call.turn()
    for line in ("leak", "sounds_fine", "name", "address", "postcode", "phone", "tomorrow"):
        await call.turn(LINE[line])
    reply = await call.turn(LINE["thats_right"])
    assert "confirm it by phone" in reply and "You're booked" not in reply
    (kept,) = call.policy.kept
    assert kept.kind == "booking" and kept.idempotency_key == "call-1:1"
    assert kept.data["customer"]["postcode"] == "SW1A 1AA"


async def test_slot_taken_offers_the_next_slot() -> None:
    taken = Result("book_appointment", "slot_taken")
    call = make(book_appointment=[taken, Result("book_appointment", "ok", {"booking_id": "B8"})])
    await call.turn()
    for line in ("leak", "sounds_fine", "name", "address", "postcode", "phone", "tomorrow"):
        await call.turn(LINE[line])
    reply = await call.turn(LINE["thats_right"])
    assert "just been taken" in reply and "eleven in the morning" in reply
    assert "You're booked" in await call.turn("Yes please.")
    assert booking(call)["slot_start"] == SLOT_B[0]


async def test_phone_number_typed_on_the_keypad() -> None:
    call = make()
    await to_phone_question(call)
    assert "When" in await call.turn(dtmf_message("07700900123#"))
    await call.turn(LINE["tomorrow"])
    await call.turn(LINE["thats_right"])
    assert booking(call)["phone"] == "+447700900123"


async def test_keypad_entry_without_hash_and_a_bad_entry() -> None:
    call = make()
    await to_phone_question(call)
    assert "doesn't look right" in await call.turn(dtmf_message("123"))
    assert "When" in await call.turn("[DTMF] 0770 0900 123")
    assert call.policy.workflow.data.phone == "+447700900123"


async def test_keypad_zero_outside_entry_asks_for_a_person() -> None:
    call = make()
    await call.turn()
    await call.turn(dtmf_message("0"))
    assert call.ended is not None and call.ended.name == "transfer_to_human"
    with pytest.raises(ValueError, match="DTMF"):
        dtmf_message("12x")


async def test_out_of_hours_emergency_goes_to_the_on_call_engineer() -> None:
    call = make(now=SUNDAY_10)
    assert "closed at the moment" in await call.turn()
    reply = await call.turn(LINE["gas"])
    assert "open the windows" in reply and "on-call engineer" in reply
    assert call.ended is not None
    request = parse_tool_call(call.ended, PLUMBER)
    assert isinstance(request, TransferRequest) and request.target.dial == "PJSIP/1099"


@pytest.mark.parametrize("stage", [1, 2, 5, 7])
async def test_unrecognised_input_is_asked_again_never_stuck(stage: int) -> None:
    call = make()
    await call.turn()
    script = ("leak", "sounds_fine", "name", "address", "postcode", "phone", "tomorrow")
    for line in script[:stage]:
        await call.turn(LINE[line])
    for garbage in ("Mm.", "Uh, what?", "Mm."):
        reply = await call.turn(garbage)
        assert reply.strip() and call.ended is None, garbage
    for line in script[stage:]:
        await call.turn(LINE[line])
    await call.turn(LINE["thats_right"])
    assert booking(call)["postcode"] == "SW1A 1AA"


async def test_price_questions_repeat_the_price_and_the_open_question() -> None:
    call = make()
    await call.turn()
    await call.turn(LINE["leak"])
    again = await call.turn(LINE["how_much"])
    assert again.startswith("For leak repair, there's a call-out charge of 85 pounds")
    assert again.endswith("Would you like me to book an engineer?")
    for line in ("sounds_fine", "name", "address", "postcode", "phone", "tomorrow"):
        await call.turn(LINE[line])
    barge_in = await call.turn(LINE["interrupt"])
    assert "85 pounds" in barge_in and barge_in.endswith("Shall I book that slot?")
    await call.turn(LINE["thats_right"])  # the offer is still open
    assert booking(call)["slot_start"] == SLOT_A[0]


async def test_brain_that_greets_by_itself() -> None:
    call = make()
    call.history.add_assistant(PLUMBER.greeting)
    reply = await call.turn(LINE["leak"])
    assert "85 pounds" in reply and PLUMBER.greeting not in reply
