"""One bot response: LLM -> TTS -> playout inside the turn's own cancel scope.

A ``Turn`` owns a ``CancelScope``; cancelling it (barge-in) ends the LLM stream,
the TTS context and the playout feeder at once, and that is the normal way a
turn stops early, not an error. Three tasks are linked by small memory channels,
so generation never runs far ahead of speech:

    LLM tokens -> (RepeatGuard, EarStream) -> text channel -> tts.speak
    tts.speak -> audio channel -> playout (one Utterance per turn)

Tokens go to the TTS word by word as they arrive. Tool calls are authorized by
the workflow and run by the tool runner while the same utterance keeps playing
(a filler is said if the tool is slow); then the model continues in the same
turn. A speculative turn generates, but nothing is played, written to history
or run as a tool until it is confirmed. A canned turn (greeting, reprompt)
speaks a fixed text. History is written as the caller hears it: on a barge-in
``interrupt()`` cuts the last reply to the heard text.

A turn knows its conversation only as a ``TurnHost`` (``agent.conversation.protocols``),
weakly. For records and metrics it keeps ``times`` (each stage's time, on
``trio.current_time()``), its LLM tokens and the text it sent to the TTS; it
tells the host's observer (a ``TurnObserver``) of tool calls, errors and its end.
"""

from __future__ import annotations

import json
import logging
import weakref

import trio

from agent.base.errors import ProviderError
from agent.base.events import AudioChunk, LlmEvent, Message, TextDelta, ToolCall, Usage
from agent.conversation.protocols import Outcome, TurnHost, TurnObserver, TurnTimes
from agent.dialogue.history import cut_to_heard, mark_interrupted
from agent.dialogue.replies import render
from agent.dialogue.speakstream import EarStream, RepeatGuard
from agent.dialogue.tools import TOOL_NAMES, InvalidToolCall, ToolResult
from agent.dialogue.workflow import CallTool, EndCall, KeepPending, Transfer
from agent.dialogue.workflow_results import callback_result
from agent.media.playout import Utterance
from agent.providers.channels import received_eagerly, send_eagerly
from agent.providers.protocols import KeepsPending
from agent.wire.jsonstream import ReplyFormatError, ResponseExtractor

log = logging.getLogger(__name__)


class Turn:
    def __init__(
        self,
        brain: TurnHost,
        turn_id: int | None,
        user_text: str | None = None,
        *,
        speculative: bool = False,
        canned: str | None = None,
        canned_outcome: Outcome | None = None,
    ) -> None:
        self.brain = weakref.proxy(brain)  # it keeps its turns: a cycle otherwise
        self.turn_id = turn_id
        self.user_text = user_text
        self.canned = canned
        self.scope = trio.CancelScope()
        self.confirmed = trio.Event()
        now = trio.current_time()
        self.times = TurnTimes(created_at=now)
        if not speculative:
            self.confirmed.set()
            self.times.confirmed_at = now
        self.llm_input_tokens = self.llm_output_tokens = 0
        self.done = trio.Event()
        self.utterance: Utterance | None = None
        self.outcome: Outcome | None = canned_outcome
        self.interrupted = self.discarded = self.failed = False
        self.tool_results: list[ToolResult] = []
        self.filler_said = False
        self._sent = ""  # all text handed to the TTS in this turn
        self._segment = EarStream(ear=canned is None and brain.params.ear)
        self._segment_offset = 0  # where the current segment starts in _sent
        self._segment_committed = False
        self._committed_span: tuple[int, int] | None = None  # last reply in history

    @property
    def observer(self) -> TurnObserver | None:
        return self.brain.observer  # not kept: it holds the brain (a cycle)

    # --- controls (sync, from the brain) ------------------------------------------

    def confirm(self) -> None:
        if not self.confirmed.is_set():
            self.times.confirmed_at = trio.current_time()
        self.confirmed.set()

    def discard(self) -> None:
        """Throw away a speculative turn: nothing of it was heard or recorded."""
        self.discarded = True
        self.scope.cancel()

    def interrupt(self) -> None:
        """The caller barged in: cut history to what was heard, cancel everything."""
        if self.interrupted or self.discarded:
            return
        self.interrupted = True
        self.times.interrupted_at = trio.current_time()
        self.scope.cancel()
        if not self.confirmed.is_set():
            return
        history = self.brain.history
        spoken = self._segment.spoken
        if not self._segment_committed and spoken.strip() and not history.pending_tool_calls():
            # Still generating: whatever was heard, the reply was cut short.
            self._segment_committed = True
            start = self._segment_offset
            heard = self._heard_text()[start : start + len(spoken)]
            cut, _ = cut_to_heard(spoken, heard_text=heard)
            if cut.strip():
                history.add_assistant(mark_interrupted(cut.strip()))
            return
        if self._committed_span is None:
            if history.pending_tool_calls():
                history.interrupt(heard_chars=0)  # closes the unanswered calls
            return
        start, end = self._committed_span
        history.interrupt(heard_text=self._heard_text()[start:end])

    @property
    def sent_text(self) -> str:
        """All text handed to the TTS (what it billed for, heard or not)."""
        return self._sent

    def heard_text(self) -> str:
        """Everything of this turn the caller heard (the whole text once it has played)."""
        return self._heard_text()

    def _heard_text(self) -> str:
        u = self.utterance
        if u is None or u.sent_bytes == 0:
            return ""
        if u.full_text:
            return u.heard_text
        # No alignment from the TTS: estimate by the share of audio sent.
        return self._sent[: len(self._sent) * u.sent_bytes // max(u.total_bytes, 1)]

    # --- the task -------------------------------------------------------------------

    async def run(self) -> None:
        try:
            with self.scope:
                await self._run()
        except* ProviderError as group:
            self.failed = True
            log.warning("turn %s: speech failed: %s", self.turn_id, group.exceptions[0])
            self._provider_error(group.exceptions[0], "tts")
        finally:
            self.done.set()
            if self.observer is not None:
                self.observer.turn_ended(self)
            self.brain.turn_ended(self)

    async def _run(self) -> None:
        p = self.brain.params
        text_send, text_recv = trio.open_memory_channel[str](p.text_buffer)
        audio_send, audio_recv = trio.open_memory_channel[AudioChunk](p.audio_buffer)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._speak, text_recv, audio_send)
            nursery.start_soon(self._play, audio_recv)
            with text_send:
                if self.canned is not None:
                    await self._say_whole(text_send, self.canned)
                    await self.confirmed.wait()
                    self._commit(())
                else:
                    await self._converse(text_send)
        if self.utterance is not None:
            await self.utterance.finished.wait()

    async def _speak(
        self, text: trio.MemoryReceiveChannel[str], audio: trio.MemorySendChannel[AudioChunk]
    ) -> None:
        with text, audio:
            await self.brain.tts.speak(text, audio)

    async def _play(self, audio: trio.MemoryReceiveChannel[AudioChunk]) -> None:
        with audio:
            # The first chunk is taken before the turn is confirmed, so the TTS's
            # time to first audio is measured even for a speculative turn.
            try:
                first: AudioChunk | None = await audio.receive()
                self.times.tts_first_audio_at = trio.current_time()
            except trio.EndOfChannel:
                first = None
            if not self.confirmed.is_set():  # (a set Event's wait() would still yield)
                await self.confirmed.wait()
            playout = self.brain.playout
            u = self.utterance = playout.open_utterance()
            self.brain.utterance_opened(self, u)
            bytes_per_s = playout.sample_rate * 2
            ahead = int(self.brain.params.max_ahead_s * playout.sample_rate) * 2
            try:
                if first is not None:
                    playout.write(u, first)
                async for chunk in received_eagerly(audio):
                    # Do not queue far ahead of the caller's ear (backpressure to the
                    # LLM): wait until the playout has played the excess (it plays in
                    # real time; paused, it has not, and the wait goes on).
                    while (excess := u.total_bytes - u.sent_bytes - ahead) > 0 and not u.closed:
                        await trio.sleep(excess / bytes_per_s)
                    if u.closed:
                        return
                    playout.write(u, chunk)
            finally:
                playout.close_utterance(u)

    async def _say(self, text_send: trio.MemorySendChannel[str], text: str) -> None:
        if text:
            if self.times.tts_request_at is None:
                self.times.tts_request_at = trio.current_time()
            if self._sent and not self._sent[-1].isspace() and not text[0].isspace():
                text = " " + text  # a new segment (after a tool call) starts a new sentence
            self._sent += text
            await send_eagerly(text_send, text)

    async def _say_whole(self, text_send: trio.MemorySendChannel[str], text: str) -> None:
        """Speak a fixed text (already written for the ear) as a segment of its own."""
        self._segment = EarStream(ear=False)
        self._segment_offset = len(self._sent)
        self._segment_committed = False
        await self._say(text_send, self._segment.feed(text) + self._segment.flush())

    # --- the model ------------------------------------------------------------------

    async def _converse(self, text_send: trio.MemorySendChannel[str]) -> None:
        previous = ""
        for round_no in range(self.brain.params.max_tool_rounds + 1):
            guard = RepeatGuard(previous) if round_no else None
            self._segment = EarStream(ear=self.brain.params.ear)
            self._segment_offset = len(self._sent)
            self._segment_committed = False
            calls = await self._llm_round(text_send, guard)
            if self.failed:
                return
            await self.confirmed.wait()
            if self.brain.structured:
                self._commit(())
            else:
                self._commit(calls)
            if not calls:
                return
            previous = self._segment.raw
            if await self._run_tools(calls, text_send):
                return
        log.warning("turn %s: the model kept calling tools; stopping", self.turn_id)

    def _messages(self) -> list[Message]:
        messages = self.brain.history.for_llm()
        if not self.confirmed.is_set() and self.user_text:
            messages.append(Message("user", self.user_text))
        return messages

    async def _llm_round(
        self, text_send: trio.MemorySendChannel[str], guard: RepeatGuard | None
    ) -> list[ToolCall]:
        brain, segment = self.brain, self._segment
        extractor = ResponseExtractor() if brain.structured else None
        calls: list[ToolCall] = []
        send, recv = trio.open_memory_channel[LlmEvent](brain.params.llm_buffer)

        async def consume() -> None:
            with recv:
                async for event in received_eagerly(recv):
                    if self.times.llm_first_token_at is None and isinstance(
                        event, TextDelta | ToolCall
                    ):
                        self.times.llm_first_token_at = trio.current_time()
                    if isinstance(event, TextDelta):
                        text = extractor.feed(event.text) if extractor else event.text
                        text = guard.feed(text) if guard is not None else text
                        await self._say(text_send, segment.feed(text))
                    elif isinstance(event, ToolCall):
                        calls.append(event)
                    elif isinstance(event, Usage):
                        self.llm_input_tokens += event.prompt_tokens
                        self.llm_output_tokens += event.completion_tokens

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume)
                await self._run_llm(send)  # now, from this task: not a run-loop trip later
            if guard is not None:
                await self._say(text_send, segment.feed(guard.flush()))
            await self._say(text_send, segment.flush())
            if extractor is not None:
                reply = extractor.finish()
                if reply.action in TOOL_NAMES:
                    arguments = json.dumps(reply.variables)
                    calls.append(ToolCall(f"action-{len(self._sent)}", reply.action, arguments))
        except* (ProviderError, ReplyFormatError) as group:
            await self._fail(text_send, group.exceptions[0])
        return calls

    async def _run_llm(self, send: trio.MemorySendChannel[LlmEvent]) -> None:
        brain = self.brain
        tools = () if brain.structured else brain.tool_specs
        if self.times.llm_request_at is None:
            self.times.llm_request_at = trio.current_time()
        with send:
            await brain.llm.run(self._messages(), tools, send)
        if isinstance(brain.llm, KeepsPending):  # no tool carries them: the outbox's now
            for action in brain.llm.take_kept():
                brain.keep(action)

    async def _fail(self, text_send: trio.MemorySendChannel[str], exc: BaseException) -> None:
        self.failed = True
        log.warning("turn %s: the model failed: %s", self.turn_id, exc)
        if isinstance(exc, ProviderError):
            self._provider_error(exc, "llm")
        if not self._sent:
            await self.confirmed.wait()
            await self._say_whole(text_send, self.brain.params.apology)
            self._commit(())

    def _commit(self, calls: list[ToolCall] | tuple[()]) -> None:
        """Write the current segment to history (as it will be heard)."""
        if self._segment_committed:
            return
        self._segment_committed = True
        text = self._segment.spoken.strip()
        if not text and not calls:
            return
        self.brain.history.add_assistant(text or None, calls)
        if text:
            start = self._segment_offset
            self._committed_span = (start, start + len(self._segment.spoken))

    # --- tools ----------------------------------------------------------------------

    async def _run_tools(
        self, calls: list[ToolCall], text_send: trio.MemorySendChannel[str]
    ) -> bool:
        """Run the calls; True when the conversation ends (end_call / transfer)."""
        brain = self.brain
        for call in calls:
            started = trio.current_time()
            result = await self._run_tool(call, text_send)
            self.tool_results.append(result)
            if self.observer is not None:
                self.observer.tool_call(self, call, result, started, trio.current_time())
            if brain.structured:
                brain.history.add_user(f"[{call.name} result: {result.for_model()}]")
            else:
                brain.history.add_tool_result(call.id, result.for_model())
        if self.outcome is None:
            return False
        if not self._segment.spoken.strip():
            if self.outcome.kind == "transfer" and self.outcome.target is not None:
                farewell = render(brain.company, "transfer", target=self.outcome.target.name)
            else:
                farewell = render(brain.company, "goodbye")
            await self._say_whole(text_send, farewell)
            self._commit(())
        return True

    async def _run_tool(self, call: ToolCall, text_send: trio.MemorySendChannel[str]) -> ToolResult:
        brain = self.brain
        try:
            actions = brain.workflow.authorize(call, brain.epoch())
        except InvalidToolCall as exc:
            return ToolResult(call.name, "refused", error=str(exc))
        result = ToolResult(call.name, "ok")
        for action in actions:
            if isinstance(action, CallTool):
                result = await self._execute(call, text_send)
                for follow in brain.workflow.handle(result, brain.epoch()):
                    if isinstance(follow, KeepPending):
                        brain.keep(follow)
            elif isinstance(action, Transfer):
                self.outcome = Outcome("transfer", action.reason, action.target)
            elif isinstance(action, EndCall):
                self.outcome = Outcome("end", action.reason)
            elif isinstance(action, KeepPending):  # request_callback: kept for the business
                brain.keep(action)
                result = callback_result(action)
        return result

    async def _execute(self, call: ToolCall, text_send: trio.MemorySendChannel[str]) -> ToolResult:
        brain = self.brain
        box: list[ToolResult] = []
        finished = trio.Event()

        async def run() -> None:
            try:
                box.append(await brain.tools.run(call, brain.epoch()))
            except ProviderError as exc:
                self._provider_error(exc, "tools")
                box.append(ToolResult(call.name, "failed", error=str(exc)))
            finished.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            with trio.move_on_after(brain.params.filler_after_s):
                await finished.wait()
            if not finished.is_set() and brain.params.filler:
                self.filler_said = True
                await self._say(text_send, brain.params.filler + " ")
        return box[0]

    def _provider_error(self, exc: BaseException, role: str) -> None:
        if self.observer is not None and isinstance(exc, ProviderError):
            self.observer.provider_error(exc, role)
