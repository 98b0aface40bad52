"""Calls for the console's tests and benchmark: written through the records API."""

from __future__ import annotations

import random
import uuid as _uuid

from agent.observe.records import RecordStore, ToolCallRecord, TurnRecord

COMPANIES = ("brightspark", "flowright", "sparkle-clean")
OUTCOMES = ("booked", "quoted", "transferred", "abandoned")
SAID = (
    "my boiler is leaking",
    "can someone come tomorrow morning",
    "how much is a callout",
    "the kitchen tap drips",
    "my postcode is SW1A 1AA",
)


def turns_of(uuid: str, count: int, rng: random.Random) -> list[TurnRecord]:
    """A greeting and ``count - 1`` caller turns with plausible stage timestamps."""
    out = [TurnRecord(uuid, 0, "", "Hello, how can I help?", first_agent_frame_at=0.3)]
    at = 2.0
    for index in range(1, count):
        end = at + rng.uniform(1.0, 4.0)
        stt = end + rng.uniform(0.05, 0.4)
        llm = stt + 0.01
        token = llm + rng.uniform(0.1, 0.6)
        tts = token + 0.01
        audio = tts + rng.uniform(0.05, 0.3)
        first = audio + rng.uniform(0.01, 0.05)
        cut = rng.random() < 0.15
        out.append(
            TurnRecord(
                uuid,
                index,
                rng.choice(SAID),
                "Sorry to hear" if cut else "Thanks, a plumber can come tomorrow at nine.",
                interrupted=cut,
                caller_speech_end_at=end,
                stt_final_at=stt,
                llm_request_at=llm,
                llm_first_token_at=token,
                tts_request_at=tts,
                tts_first_audio_at=audio,
                first_agent_frame_at=first,
                barge_in_at=first + 0.5 if cut else None,
                last_agent_frame_at=first + (0.7 if cut else 2.0),
            )
        )
        at = first + 2.5
    return out


def seed(store: RecordStore, count: int, *, now: float, span_s: float, seed: int = 1) -> list[str]:
    """``count`` ended calls started over the ``span_s`` before ``now``; their ids."""
    rng = random.Random(seed)
    uuids = []
    for n in range(count):
        uuid = str(_uuid.UUID(int=rng.getrandbits(128)))
        started = now - span_s * (n + 0.5) / count
        store.post_start_call(
            uuid,
            started_at=started,
            did="+441632960001",
            caller_id=f"0770090{n % 10000:04d}",
            company=COMPANIES[n % len(COMPANIES)],
        )
        turns = turns_of(uuid, rng.randint(3, 9), rng)
        for turn in turns:
            store.post_turn(turn)
        store.post_tool_call(
            ToolCallRecord(
                uuid,
                "check_availability",
                {"day": "tomorrow"},
                {"slots": 3},
                0.12,
                turn_index=1,
                at=5.0,
            )
        )
        store.post_end_call(
            uuid,
            ended_at=started + (turns[-1].last_agent_frame_at or 10.0) + 1.0,
            end_reason="hangup",
            outcome=OUTCOMES[n % len(OUTCOMES)],
            cost=0.01 * len(turns),
            currency="GBP",
            barge_ins=sum(t.interrupted for t in turns),
        )
        uuids.append(uuid)
    return uuids
