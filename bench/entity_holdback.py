"""End-of-turn latency with Deepgram's smart-format entity hold-back, in virtual time.

    python bench/entity_holdback.py

Deepgram with ``smart_format=true`` holds a final for up to 3 s of silence while
an entity may go on (changelog 2025-04-02); its remedies are ``Finalize`` and
``no_delay=true`` (which "skips formatting altogether in many cases"). This runs
the real caller, call, brain and Deepgram client against the fake Deepgram (which
models the hold-back) under a MockClock, for a caller ending with a phone number
and for one ending with ordinary words, and prints, per configuration: when the
final transcript arrived after the caller stopped, when the model was asked, and
what text the model got. Figures come from the fake's model of the hold-back, not
from Deepgram itself (no network here): they show what each remedy does to our
turn-taking, not Deepgram's own latency.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio
import trio.testing

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.conversation import conversation_brain_factory
from agent.demo.signals import speechlike
from agent.demo.softphone import HangUp, Say, Silence, WaitAgent
from agent.dialogue.turntaking import TurnTakingParams
from agent.providers.stt.deepgram import DeepgramSettings, DeepgramStt
from tests.conversation.test_faults import DIRECTORY, EPOCH, NoTools, whole_call
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.inmem import ScriptedLlm, ToneTts

TEXTS = {"phone number": "My phone number is 07700 900123.", "words": "I need a plumber."}
CONFIGS = [
    ("no remedy (before issue 20)", 60.0, False),
    ("Finalize 0.2 s after VAD end", 0.2, False),
    ("Finalize 0.4 s after VAD end (default)", 0.4, False),
    ("Finalize 0.6 s after VAD end", 0.6, False),
    ("no_delay=true + Finalize 0.4 s", 0.4, True),
]


async def one_call(
    text: str, finalize_after_s: float, no_delay: bool, server_latency_s: float
) -> tuple[float, float, str]:
    async with open_fake_deepgram(
        script=[text], sample_rate=8000, result_latency_s=server_latency_s
    ) as fake:
        settings = DeepgramSettings(api_key=fake.api_key, url=fake.url, no_delay=no_delay)
        stt = DeepgramStt(settings, 8000)
        llm = ScriptedLlm([])
        factory = conversation_brain_factory(
            stt=lambda call: stt,
            llm=lambda call: llm,
            tts=lambda call: ToneTts(),
            tools=lambda call, company: NoTools(),
            companies=DIRECTORY,
            turn_taking=TurnTakingParams(stt_finalize_after_s=finalize_after_s),
            epoch=lambda: EPOCH,
        )
        caller, _, _ = await whole_call(
            factory, [Say(speechlike(1.6)), WaitAgent(10), Silence(4.0), HangUp()]
        )
    (said,) = caller.utterances
    (connection,) = fake.connections
    final_at = next(
        at
        for message, at in zip(connection.sent, connection.sent_at, strict=True)
        if message.get("is_final") and message["channel"]["alternatives"][0]["transcript"]
    )
    first_turn = next(run for run in llm.runs if run.messages[-1].role == "user")
    return (
        final_at - said.end_at,
        first_turn.started_at - said.end_at,
        first_turn.messages[-1].content,
    )


def main() -> None:
    for server_latency_s in (0.0, 0.15):
        print(f"\nthe fake answers {server_latency_s * 1000:.0f} ms after the audio that decides")
        print(
            "caller ends with   configuration                            final   asked   model got"
        )
        for kind, text in TEXTS.items():
            for name, after, no_delay in CONFIGS:
                final, asked, got = trio.run(
                    one_call,
                    text,
                    after,
                    no_delay,
                    server_latency_s,
                    clock=trio.testing.MockClock(autojump_threshold=0),
                )
                print(f"{kind:<17}  {name:<39}  {final:5.2f} s {asked:5.2f} s  {got!r}")


if __name__ == "__main__":
    main()
