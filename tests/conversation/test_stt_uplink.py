"""The caller's audio to Deepgram in a whole call, in virtual time: fewer messages,
the same end of turn.

The real caller, call and brain (its VAD tells the session when the caller starts
and pauses), the real Deepgram client against the fake Deepgram. While the
caller is quiet the audio goes in 240 ms messages, while it talks in
``DEEPGRAM_BATCH_MS`` (100 ms) ones, and around the pause's endpointing time
frame by frame: the final comes when it comes with every frame sent alone.
"""

from __future__ import annotations

import pytest

from agent.demo.signals import speechlike
from agent.demo.softphone import HangUp, Say, WaitAgent
from agent.providers.stt.deepgram import DeepgramSettings, DeepgramStt
from tests.conversation.test_faults import factory_for, whole_call
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.inmem import ScriptedLlm, ToneTts

FRAME = 320  # 20 ms at 8 kHz


async def one_turn(batch_ms: int):
    """A greeting, a 1.6 s sentence, the agent's answer; what the fake got and when."""
    async with open_fake_deepgram(script=["I need a plumber."], sample_rate=8000) as fake:
        settings = DeepgramSettings(api_key=fake.api_key, url=fake.url, batch_ms=batch_ms)
        stt = DeepgramStt(settings, 8000)
        llm = ScriptedLlm([])
        caller, _, _ = await whole_call(
            factory_for(stt, llm, ToneTts()), [Say(speechlike(1.6)), WaitAgent(10), HangUp()]
        )
        fake.check()
    (said,) = caller.utterances
    (connection,) = fake.connections
    final_at = next(
        at
        for message, at in zip(connection.sent, connection.sent_at, strict=True)
        if message.get("speech_final")
    )
    return said, connection, final_at, stt.statistics()


async def test_fewer_messages_and_the_same_end_of_turn(autojump_clock):
    said, connection, final_at, stats = await one_turn(100)
    alone_said, _, alone_final_at, alone = await one_turn(20)  # every frame alone
    # The end of turn is not later than with every frame sent on its own.
    assert final_at - said.end_at == pytest.approx(alone_final_at - alone_said.end_at, abs=0.005)
    assert alone.audio_messages_sent == alone.audio_bytes_sent // FRAME
    assert stats.audio_messages_sent < stats.audio_bytes_sent // FRAME / 4
    messages = connection.audio_messages
    # Before the caller spoke (the consent gate opened after the greeting): 240 ms.
    quiet = [size for at, size in messages if at < said.start_at]
    assert len(quiet) >= 2 and set(quiet) == {12 * FRAME}
    # While it talked: 100 ms batches, and what waited at each pause between its
    # words (loud again before the endpointing time: no frame-by-frame run).
    talk = [size for at, size in messages if said.start_at < at < said.end_at]
    assert talk.count(5 * FRAME) >= 10
    assert len(talk) <= (said.end_at - said.start_at) / 0.1 + 4
    # Around the pause: one by one from 200 ms before the endpointing time to the final.
    single = [at for at, size in messages if size == FRAME and at > said.end_at]
    assert single and max(single) <= final_at
    assert said.end_at + 0.15 < min(single) < said.end_at + 0.25
    # Then quiet again: 240 ms messages (the last one at hang-up, whatever was left).
    after = [size for at, size in messages if at > final_at]
    assert len(after) >= 3 and set(after[:-1]) == {12 * FRAME}
