"""End of turn does not wait on Deepgram's entity hold-back (issue 20), in virtual time.

The real caller, the real call and brain, the real Deepgram client against the
fake Deepgram, whose smart format withholds a final that ends in a number (a
phone number may go on) until ``Finalize`` or 3 s of silence (Deepgram changelog
2025-04-02). The turn-taker asks for the final (``FinalizeTranscript``) once the
caller has stopped; so a caller who ends with a phone number gets the final, and
the agent's reply, within the turn-taker's confirmation time instead of 3 s later.
"""

from __future__ import annotations

from agent.demo.signals import speechlike
from agent.demo.softphone import HangUp, Say, Silence, WaitAgent
from agent.dialogue.turntaking import TurnTakingParams
from agent.providers.stt.deepgram import DeepgramSettings, DeepgramStt
from tests.conversation.test_faults import DIRECTORY, EPOCH, NoTools, user_turns, whole_call
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.deepgram_asr import ENTITY_HOLD_MS
from tests.fakes.inmem import ScriptedLlm, ToneTts

PHONE = "My phone number is 07700 900123."
CONFIRMATION_S = TurnTakingParams().vad_confirm_timeout_s  # 1.0 s


async def call_with_a_phone_number(
    turn_taking: TurnTakingParams | None = None, *, stay_s: float = 0.0
):
    from agent.conversation import conversation_brain_factory

    async with open_fake_deepgram(script=[PHONE], sample_rate=8000) as fake:
        stt = DeepgramStt(DeepgramSettings(api_key=fake.api_key, url=fake.url), 8000)
        llm = ScriptedLlm([])
        factory = conversation_brain_factory(
            stt=lambda call: stt,
            llm=lambda call: llm,
            tts=lambda call: ToneTts(),
            tools=lambda call, company: NoTools(),
            companies=DIRECTORY,
            turn_taking=turn_taking,
            epoch=lambda: EPOCH,
        )
        script = [Say(speechlike(1.6)), WaitAgent(10), Silence(stay_s), HangUp()]
        caller, _, _ = await whole_call(factory, script)
        fake.check()
    (said,) = caller.utterances
    (connection,) = fake.connections
    final_at = next(
        at
        for message, at in zip(connection.sent, connection.sent_at, strict=True)
        if message.get("is_final") and message["channel"]["alternatives"][0]["transcript"]
    )
    return said.end_at, final_at, connection, llm, stt


async def test_phone_number_final_comes_within_the_confirmation_time(autojump_clock):
    spoke_until, final_at, connection, llm, stt = await call_with_a_phone_number()
    assert connection.recognizer is not None and connection.recognizer.held == 1
    assert connection.controls.count("Finalize") == 1
    assert stt.statistics().finalizes_sent == 1
    assert final_at - spoke_until < CONFIRMATION_S
    # The whole formatted number reached the model, once, as the caller's turn.
    assert user_turns(llm) == [PHONE]
    reply_asked_at = next(run.started_at for run in llm.runs if run.messages[-1].content == PHONE)
    assert reply_asked_at - spoke_until < CONFIRMATION_S


async def test_without_the_finalize_request_the_final_waits_out_the_hold_back(autojump_clock):
    # The behaviour before issue 20: nobody sends Finalize.
    never = TurnTakingParams(stt_finalize_after_s=60.0)
    # The caller stays on a little after the first answer: the held final comes
    # 3 s into the silence, which goes in 240 ms messages.
    spoke_until, final_at, connection, llm, _ = await call_with_a_phone_number(never, stay_s=1.0)
    assert connection.controls.count("Finalize") == 0
    # 3 s of silence as the fake hears it (it ends speech on 10 ms blocks).
    assert final_at - spoke_until >= ENTITY_HOLD_MS / 1000 - 0.02
    # Meanwhile the turn-taker's no-signal fallback took the turn from a partial
    # interim: the first reply answered half a number, the held final then barged in.
    turns = user_turns(llm)
    assert turns[0] != PHONE and PHONE.startswith(turns[0]) and len(turns) == 2
