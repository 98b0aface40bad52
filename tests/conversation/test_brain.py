"""Whole conversations in virtual time: the real Call over an in-memory stream, a
scripted phone, and the in-memory provider fakes (tests.fakes.inmem); the rig that
opens such a call is tests.conversation.call_rig."""

from __future__ import annotations

import uuid

import trio

from agent.base.errors import ProviderStatusError
from agent.base.events import ToolCall
from agent.conversation import (
    ConversationParams,
    conversation_brain_factory,
)
from agent.demo.signals import speechlike
from agent.dialogue.turntaking import TurnTakingParams
from tests.conversation.call_rig import (
    DIRECTORY,
    QUOTE,
    TUESDAY_10,
    FakeTools,
    open_call,
    user_texts,
)
from tests.fakes.inmem import LlmReply, ScriptedLlm, ScriptedStt, ToneTts
from tests.fakes.tone_text import encode_tones

# --- consent gate ------------------------------------------------------------------


async def test_no_caller_audio_reaches_the_stt_before_the_greeting_played(autojump_clock):
    async with open_call(["hello"], [LlmReply.say("Hi.")]) as rig:
        await rig.until(lambda: rig.calls and rig.brain._greeting is not None)
        greeting = rig.brain._greeting
        # The caller talks over the start of the greeting (short: not a barge-in).
        await rig.until(lambda: rig.phone.voiced_times())
        await rig.phone.say(speechlike(0.3))
        assert rig.stt.started_at is None and rig.stt.received_bytes == 0
        gate = await rig.greeted()
        assert greeting.utterance is not None and greeting.utterance.finished.is_set()
        assert not greeting.utterance.cut
        assert rig.stt.started_at >= greeting.utterance.last_frame_at
        assert rig.brain.feed.before_gate > 0
        await rig.until(lambda: rig.stt.first_audio_at is not None)
        assert rig.stt.first_audio_at >= gate
        # The whole greeting was heard (paused and resumed, not cut).
        assert "How can I help you today?" in rig.phone.heard_text()
        await rig.phone.hang_up()


# --- happy path ------------------------------------------------------------------------


async def test_multi_turn_with_a_tool_call_and_end_call(autojump_clock):
    quote_call = ToolCall("c1", "get_quote", '{"service_id": "leak_repair"}')
    end_call = ToolCall("c2", "end_call", '{"reason": "done"}')
    replies = [
        LlmReply(("Sorry", " to hear", " that.", quote_call)),
        LlmReply.say("A leak repair is £85. Shall I book it?"),
        LlmReply(("Thanks", " for", " calling.", " Goodbye.", end_call)),
    ]
    async with open_call(["my tap is leaking", "no thanks bye"], replies) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(1.0))
        await rig.until(lambda: len(rig.llm.runs) == 2 and rig.brain._turn is None)
        await rig.phone.say(speechlike(0.8))
        with trio.fail_after(30):
            await rig.phone.closed.wait()
        brain = rig.brain
        assert brain.outcome is not None and brain.outcome.kind == "end"
        assert rig.calls[0].end_reason == "agent"
        assert rig.phone.agent_hung_up
        heard = rig.phone.heard_text()
        assert "Sorry to hear that. A leak repair is 85 pounds. Shall I book it?" in heard
        assert heard.rstrip().endswith("Thanks for calling. Goodbye.")
        assert rig.tools.calls == [quote_call]  # end_call is the brain's, not the runner's
        second = rig.llm.runs[1]
        assert second.messages[-1].role == "tool" and '"fixed":85.0' in second.messages[-1].content
        assert user_texts(rig.llm.runs[2])[-1] == "no thanks bye"
        assert not any(run.cancelled for run in rig.llm.runs)


class WarmingLlm(ScriptedLlm):
    """A model that keeps a connection (``KeepsWarm``), opened by ``warm``."""

    def __init__(self, replies) -> None:
        super().__init__(replies)
        self.warmed_at: list[float] = []
        self.connected = False

    def wants_warming(self) -> bool:
        return not self.connected

    async def warm(self) -> None:  # type: ignore[override]
        self.warmed_at.append(trio.current_time())
        await trio.sleep(0.05)  # a handshake
        self.connected = True


async def test_the_models_connection_is_opened_as_the_caller_starts_talking(autojump_clock):
    llm = WarmingLlm([LlmReply.say("Sure."), LlmReply.say("Fine.")])
    async with open_call(["my tap is leaking", "thanks"], [], llm=llm) as rig:
        await rig.greeted()
        assert llm.warmed_at == []  # nobody has spoken yet
        spoke_at = trio.current_time()
        await rig.phone.say(speechlike(1.0))
        await rig.until(lambda: len(llm.runs) == 1 and rig.brain._turn is None)
        (warmed_at,) = llm.warmed_at
        assert spoke_at < warmed_at < spoke_at + 0.2  # at the VAD's speech start
        assert warmed_at + 0.05 < llm.runs[0].started_at  # ready before the reply began
        await rig.phone.say(speechlike(0.8))  # still warm: nothing to open
        await rig.until(lambda: len(llm.runs) == 2 and rig.brain._turn is None)
        assert len(llm.warmed_at) == 1
        await rig.phone.hang_up()


# --- barge-in -------------------------------------------------------------------------


async def barge_in_and_check(rig, *, interrupt_after_s: float, next_reply_text: str):
    """Talk over the agent; check it stopped within a frame, the turn ended, history
    holds only what was heard, and the next turn is heard."""
    brain = rig.brain
    turn = brain._turn
    assert turn is not None
    started = rig.phone.voiced_times(turn_start := trio.current_time())
    await rig.until(lambda: rig.phone.voiced_times(turn_start))
    start = rig.phone.voiced_times(turn_start)[0] if not started else started[0]
    await rig.until(lambda: trio.current_time() >= start + interrupt_after_s)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(rig.phone.say, speechlike(1.2))
        await rig.until(lambda: turn.interrupted)
        barged_at = trio.current_time()
        assert brain.playout.has_speech is False
        await trio.sleep(0)
        await rig.until(lambda: turn.done.is_set(), timeout=0.05)
    late = [t for t in rig.phone.voiced_times(barged_at + 0.021) if t < barged_at + 0.5]
    assert late == []
    heard = rig.phone.heard_text(turn_start, barged_at + 0.021)
    await rig.until(lambda: brain._turn is not None and brain._turn is not turn)
    await rig.until(lambda: brain._turn is None)
    assert next_reply_text in rig.phone.heard_text(barged_at + 0.5)
    return turn, heard


async def test_barge_in_while_waiting_for_the_first_token(autojump_clock):
    replies = [LlmReply.say("This never gets said.", first_token_s=5.0), LlmReply.say("Got it.")]
    async with open_call(["my tap", "is leaking"], replies) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: rig.llm.runs)
        await trio.sleep(0.3)
        first = rig.brain._turn
        await rig.phone.say(speechlike(1.0))  # the caller goes on before any reply
        await rig.until(lambda: first.done.is_set())
        assert first.interrupted and rig.llm.runs[0].cancelled
        assert rig.tts.speaks[1].cancelled  # [0] is the greeting
        await rig.until(lambda: len(rig.llm.runs) == 2 and rig.brain._turn is None)
        assert "Got it." in rig.phone.heard_text()
        assert "never" not in rig.phone.heard_text()
        # Nothing of the cancelled reply is in history; the caller's words are one turn.
        assert user_texts(rig.llm.runs[1])[-1] == "my tap is leaking"
        said = [m for m in rig.llm.runs[1].messages if m.role != "system"]
        assert all("never gets said" not in (m.content or "") for m in said)


async def test_barge_in_mid_token_stream(autojump_clock):
    long = "one two three four five six seven eight nine ten eleven twelve thirteen."
    replies = [LlmReply.say(long, gap_s=0.4), LlmReply.say("Sure, go on.")]
    async with open_call(["hello there", "wait a moment"], replies) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: rig.brain._turn is not None and rig.brain._turn.turn_id)
        _turn, heard = await barge_in_and_check(
            rig, interrupt_after_s=1.2, next_reply_text="Sure, go on."
        )
        assert rig.llm.runs[0].cancelled and not rig.llm.runs[0].finished
        assert rig.tts.speaks[1].cancelled
        assert_history_cut(rig.llm.runs[1], heard, unheard="thirteen")


def assert_history_cut(run, heard: str, *, unheard: str) -> None:
    replies = [m.content for m in run.messages if m.role == "assistant" and m.content]
    last = replies[-1]
    assert last.endswith("[interrupted by the caller]")
    said = last.removesuffix(" [interrupted by the caller]").removesuffix("...")
    assert said and heard.startswith(said.rstrip(".")), (said, heard)
    assert unheard not in last


async def test_barge_in_mid_tts_audio(autojump_clock):
    long = "Alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima."
    replies = [LlmReply.say(long, gap_s=0.0), LlmReply.say("Okay then.")]
    async with open_call(["hello there", "stop please"], replies) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: rig.brain._turn is not None and rig.brain._turn.turn_id)
        _turn, heard = await barge_in_and_check(
            rig, interrupt_after_s=1.0, next_reply_text="Okay then."
        )
        assert rig.llm.runs[0].finished  # generation was done; only audio was left
        assert_history_cut(rig.llm.runs[1], heard, unheard="lima")


async def test_barge_in_during_a_tool_call(autojump_clock):
    quote_call = ToolCall("c1", "get_quote", '{"service_id": "leak_repair"}')
    replies = [LlmReply(("Let", " me", " check.", quote_call)), LlmReply.say("Fine.")]
    tools = FakeTools({"get_quote": QUOTE}, delay_s=5.0)
    params = ConversationParams(filler_after_s=4.0)
    async with open_call(
        ["price please", "never mind"], replies, tools=tools, params=params
    ) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: tools.calls)
        # Past the first second of the reply (before it, the turn would be taken back:
        # test_false_end_of_turn_is_one_utterance).
        turn, _heard = await barge_in_and_check(rig, interrupt_after_s=1.1, next_reply_text="Fine.")
        assert tools.cancelled == [quote_call]
        assert not turn.filler_said
        messages = rig.llm.runs[1].messages
        tool_msg = next(m for m in messages if m.role == "tool")
        assert tool_msg.tool_call_id == "c1" and "not run" in tool_msg.content


async def test_barge_in_during_the_filler(autojump_clock):
    quote_call = ToolCall("c1", "get_quote", '{"service_id": "leak_repair"}')
    replies = [LlmReply(("Right.", quote_call)), LlmReply.say("Fine.")]
    tools = FakeTools({"get_quote": QUOTE}, delay_s=5.0)
    async with open_call(["price please", "never mind"], replies, tools=tools) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: rig.brain._turn is not None and rig.brain._turn.filler_said)
        _turn, heard = await barge_in_and_check(rig, interrupt_after_s=0.5, next_reply_text="Fine.")
        assert "One mo" in heard
        assert tools.cancelled == [quote_call]
        messages = rig.llm.runs[1].messages
        assert any(m.role == "assistant" and m.content == "Right." for m in messages)


async def test_false_interruption_pauses_then_resumes(autojump_clock):
    text = "Alpha bravo charlie delta echo foxtrot golf hotel."
    async with open_call(
        ["hello there"], [LlmReply.say(text)], stt_kwargs={"min_speech_s": 0.6}
    ) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: rig.brain._turn is not None and rig.brain._turn.turn_id)
        turn = rig.brain._turn
        await rig.until(lambda: turn.utterance is not None and turn.utterance.first_frame_at)
        await trio.sleep(0.5)
        await rig.phone.say(speechlike(0.4))  # a cough: pause, no words, resume
        await rig.until(lambda: turn.done.is_set())
        assert not turn.interrupted
        stats = rig.brain.statistics()
        assert stats["false_interruptions"] == 1 and stats["barge_ins"] == 0
        assert text in rig.phone.heard_text()
        assert len(rig.llm.runs) == 1


async def test_the_turn_takers_deadlines_fire_with_no_caller_frames(autojump_clock):
    """A deadline is checked at every caller frame and, when none comes (the stream
    stalls), by the brain's timer, whose sleep follows each new deadline: the
    reprompt after the caller's silence comes on time, frames or not."""
    turn_taking = TurnTakingParams(reprompt_after_s=2.0)
    async with open_call([], [], turn_taking=turn_taking) as rig:
        await rig.greeted()
        rig.phone.stalled = True
        greeted_at = rig.brain._greeting.utterance.last_frame_at
        quiet_from = greeted_at + 0.1  # (the greeting's last frame reaches the phone)
        await rig.until(lambda: "still there" in rig.phone.heard_text(since=quiet_from))
        reprompt_at = rig.phone.voiced_times(since=quiet_from)[0]
        assert 2.0 <= reprompt_at - greeted_at < 2.5
        rig.phone.stalled = False


async def test_llm_error_before_audio_gives_a_spoken_apology(autojump_clock):
    error = ProviderStatusError("scripted", "boom", status=500)
    replies = [LlmReply(error=error), LlmReply.say("Hello again.")]
    async with open_call(["hello", "hello?"], replies) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: len(rig.llm.runs) == 1 and rig.brain._turn is None)
        assert "having a bit of trouble" in rig.phone.heard_text()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: len(rig.llm.runs) == 2 and rig.brain._turn is None)
        assert "Hello again." in rig.phone.heard_text()


async def test_text_said_before_a_tool_call_is_not_said_again(autojump_clock):
    quote_call = ToolCall("c1", "get_quote", '{"service_id": "leak_repair"}')
    replies = [
        LlmReply(("Let", " me", " check.", quote_call)),
        LlmReply.say("Let me check. It's £85 for a leak repair."),
    ]
    async with open_call(["how much for a leak"], replies) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: len(rig.llm.runs) == 2 and rig.brain._turn is None)
        heard = rig.phone.heard_text()
        assert heard.count("Let me check.") == 1
        assert "Let me check. It's 85 pounds for a leak repair." in heard
        await rig.phone.hang_up()


async def test_the_company_is_picked_by_the_dialled_number():
    sparks = DIRECTORY.companies[1]
    factory = conversation_brain_factory(
        stt=lambda call: ScriptedStt([]),
        llm=lambda call: ScriptedLlm([]),
        tts=lambda call: ToneTts(),
        tools=lambda call, company: FakeTools({}),
        companies=DIRECTORY,
        did_for=lambda call: call.did,
        epoch=lambda: TUESDAY_10,
    )

    class FakeCall:
        uuid = uuid.uuid4()
        playout = vad = None
        did = sparks.dids[0]

    assert factory(FakeCall()).company is sparks
    FakeCall.did = None
    assert factory(FakeCall()).company.id == DIRECTORY.default_id


async def test_false_end_of_turn_is_one_utterance(autojump_clock):
    # A 0.7 s pause between two sentences ends the turn; the caller goes on as the
    # reply starts: it is dropped at once and the model gets both parts as one.
    replies = [LlmReply.say("Sure, a plumber. What seems to be the problem?"), LlmReply.say("Ok.")]
    async with open_call(["I need a plumber.", "There is water everywhere."], replies) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(1.0))
        await rig.until(lambda: rig.brain._turn is not None and rig.brain._turn.confirmed.is_set())
        first, confirmed_at = rig.brain._turn, trio.current_time()
        await rig.until(lambda: rig.phone.voiced_times(confirmed_at))  # the reply starts
        await rig.phone.say(speechlike(1.5))
        await rig.until(lambda: len(rig.llm.runs) == 2)
        assert first.interrupted
        assert user_texts(rig.llm.runs[0]) == ["I need a plumber."]
        last = rig.llm.runs[1].messages
        assert [m.role for m in last[1:]] == ["assistant", "user"]  # greeting; no reply
        assert "Thames Plumbing" in last[1].content
        assert last[-1].content == "I need a plumber. There is water everywhere."
        assert "What seems to be the problem" not in rig.phone.heard_text()


async def test_a_reply_faster_than_real_time_is_queued_at_most_max_ahead_and_plays_whole(
    autojump_clock,
):
    long = " ".join(["Alpha bravo charlie delta echo foxtrot golf hotel india juliet."] * 3)
    params = ConversationParams(max_ahead_s=0.5)
    async with open_call(["hello there"], [LlmReply.say(long, gap_s=0.0)], params=params) as rig:
        await rig.greeted()
        await rig.phone.say(speechlike(0.8))
        await rig.until(lambda: rig.brain._turn is not None and rig.brain._turn.utterance)
        u = rig.brain._turn.utterance
        ahead = int(0.5 * 8000) * 2
        queued: list[int] = []
        while not u.finished.is_set():
            queued.append(u.total_bytes - u.sent_bytes)
            await trio.sleep(0.005)
        largest_chunk = max(
            len(encode_tones(t, 8000, char_ms=30)) for t in rig.tts.speaks[-1].texts
        )
        # The TTS is far faster than real time: the queue reaches the limit and stays
        # within it plus the one chunk written when it had drained to the limit.
        assert ahead <= max(queued) <= ahead + largest_chunk
        assert rig.brain.playout.underruns == 0  # written in time: no hole in the reply
        assert not u.cut and u.sent_bytes == u.total_bytes
        await rig.phone.hang_up()
