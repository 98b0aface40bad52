"""The conversation brain: STT -> turn-taking -> LLM/tools -> TTS -> playout.

``ConversationBrain`` implements ``agent.media.call.Brain``. Its sync hooks run in the
call's reader task: they forward caller audio to the STT (``sttfeed``), feed VAD
transitions and DTMF to the pure ``TurnTaker`` and carry out its actions at once,
so a barge-in pauses playout within the frame that decided it. ``run`` owns the
brain's nursery: the call-scoped TTS session, the greeting, then (consent gate)
the STT session, a pump of STT events into the turn-taker and its timer; the
playout's hook reports when the agent is audible.

Consent gate (``consent``): no caller audio reaches an STT, nor is one connected,
before the greeting (with the recording disclosure) has played or the caller
talked over it; the start of a sentence begun over the greeting is kept in memory
and sent first (talk-over), or never sent and the sentence asked again (strict).

Each reply is an ``agent.conversation.turn.Turn`` with its own cancel scope. When the
conversation decides to end (the model's ``end_call`` or ``transfer_to_human``,
or the caller stayed silent), the goodbye is played, ``outcome`` is recorded
and ``run`` returns, so the call hangs up with a 0x00 and the dialplan goes on.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import trio

from agent.business.company import CompanyProfile
from agent.conversation.keypad import KeypadEntry
from agent.conversation.params import KEYPAD_PREFIX, STRUCTURED_INSTRUCTIONS, ConversationParams
from agent.conversation.protocols import (
    ConversationObserver,
    Outcome,
    ToolRunner,
    TranscriptLine,
    TranscriptListener,
)
from agent.conversation.sttfeed import SttFeed
from agent.conversation.turn import Turn
from agent.dialogue.history import History
from agent.dialogue.prompt import system_prompt
from agent.dialogue.replies import render, reprompt_text
from agent.dialogue.tools import tool_specs
from agent.dialogue.turntaking import (
    Action,
    AskRepeat,
    BargeIn,
    CancelSpeculative,
    ConfirmResponse,
    DtmfInput,
    FinalizeTranscript,
    PausePlayout,
    Reprompt,
    ResumePlayout,
    SilenceTimeout,
    StartResponse,
    TurnTaker,
    TurnTakingParams,
)
from agent.dialogue.workflow import (
    BookingWorkflow,
    Dtmf,
    KeepPending,
    Say,
    Transfer,
    WorkflowConfig,
)
from agent.media.playout import Utterance
from agent.providers.channels import received_eagerly
from agent.providers.protocols import KeepsWarm
from dsp import VadTransition

if TYPE_CHECKING:
    from agent.media.call import Call
    from agent.providers.protocols import LanguageModel, SpeechToText, TextToSpeech

log = logging.getLogger(__name__)


class ConversationBrain:
    def __init__(
        self,
        call: Call,
        *,
        stt: SpeechToText,
        llm: LanguageModel,
        tts: TextToSpeech,
        tools: ToolRunner,
        company: CompanyProfile,
        params: ConversationParams | None = None,
        turn_taking: TurnTakingParams | None = None,
        workflow_config: WorkflowConfig | None = None,
        caller_id: str | None = None,
        epoch: Callable[[], float] = time.time,
        on_transcript: TranscriptListener | None = None,
    ) -> None:
        # Weakly: the call holds its brain, and a cycle would outlive the call.
        self.call = weakref.proxy(call)
        # Who hears the call's lines as they happen (the demo's live transcript,
        # the call observer's redaction); records and metrics through ``observer``.
        self.transcript_listeners: list[TranscriptListener] = []
        if on_transcript is not None:
            self.transcript_listeners.append(on_transcript)
        self.observer: ConversationObserver | None = None
        self.playout = call.playout
        self._vad = call.vad  # read per frame: not through the weak proxy
        self.stt, self.llm, self.tts, self.tools = stt, llm, tts, tools
        # Its connection is opened as the caller starts talking, not as the reply starts.
        self._warm_llm = llm if isinstance(llm, KeepsWarm) else None
        self.company = company
        self.params = params or ConversationParams()
        self.epoch = epoch  # wall-clock seconds for the workflow and the prompt
        self.structured = self.params.output_mode == "structured"
        call_id = str(call.uuid) if call.uuid else f"call-{id(call):x}"
        self.workflow = BookingWorkflow(
            company, call_id, epoch(), config=workflow_config, caller_id=caller_id
        )
        prompt = system_prompt(
            company,
            tts_reads_brackets=self.params.tts_reads_brackets,
            now=epoch(),
            caller_id=caller_id,
        )
        self.history = History(prompt + (STRUCTURED_INSTRUCTIONS if self.structured else ""))
        self.tool_specs = tool_specs(company)
        self.taker = TurnTaker(turn_taking)
        self.outcome: Outcome | None = None
        self.pending: list[KeepPending] = []  # for the outbox
        self.turns: list[Turn] = []
        self.feed = SttFeed(stt, self.params.consent, self.params.stt_buffer)
        self.consent = self.feed.consent
        self._nursery: trio.Nursery | None = None
        self._turn: Turn | None = None
        self._greeting: Turn | None = None
        self._utterance: Utterance | None = None
        self._audible: int | None = None  # id of the utterance being heard
        self._timer_scope: trio.CancelScope | None = None
        self._done = trio.Event()
        self._keypad = KeypadEntry(self.params.digit_timeout_s)
        self._vad_pausing = False
        self._deadline: float | None = self.taker.next_deadline()

    # --- the brain's task -----------------------------------------------------------

    async def run(self, call: Call) -> None:
        call.playout.on_change = self._audibility_changed
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.tts.run)
                nursery.start_soon(self._timer)
                if not self.params.consent_gate:
                    await self._open_gate()
                greeting = " ".join(
                    a.text for a in self.workflow.start(self.epoch()) if isinstance(a, Say)
                )
                self._greeting = self._start_turn(Turn(self, None, canned=greeting))
                if self.params.consent_gate:
                    await self._greeting.done.wait()
                    await self._open_gate()
                await self._done.wait()
                nursery.cancel_scope.cancel()
        finally:
            # Hooks into the brain held by what it holds (the playout, the observer):
            call.playout.on_change = None
            self.observer = None
            self.transcript_listeners.clear()  # cycles only the collector would free
            self.feed.report_dropped(call.name)
        log.info("call %s: conversation ended: %s", call.name, self.outcome)

    @property
    def gate_opened_at(self) -> float | None:
        return self.consent.opened_at

    async def _open_gate(self) -> None:
        assert self._nursery is not None
        await self.feed.open(self._nursery, caller_speaking=self.call.vad.speaking)
        self._nursery.start_soon(self._stt_pump)

    async def _stt_pump(self) -> None:
        observer = self.observer
        async for event in received_eagerly(self.feed.events):
            now = trio.current_time()
            if observer is not None:
                observer.stt_event(event, now)
            self._execute(self.taker.stt_event(event, now), now)

    async def _timer(self) -> None:
        # Sleeps until the turn-taker's next deadline, which ``_execute`` moves on the
        # scope itself: the task wakes only when one is due, not at every input.
        while True:
            deadline = self._deadline
            with trio.CancelScope(deadline=math.inf if deadline is None else deadline) as scope:
                self._timer_scope = scope
                await trio.sleep_forever()
            self._timer_scope = None
            now = trio.current_time()
            deadline = self._deadline
            if deadline is not None and now >= deadline:
                self._execute(self.taker.tick(now), now)

    def _audibility_changed(self, now: float) -> None:
        """Tell the turn-taker when agent speech starts being heard and when it stops.

        Called by the playout when an utterance's first frame leaves or one ends,
        and when the brain switches utterances."""
        u = self._utterance
        now_audible = (
            u.id
            if u is not None and u.first_frame_at is not None and not u.finished.is_set()
            else None
        )
        if now_audible == self._audible:
            return
        self._audible = now_audible
        if now_audible is None:
            actions = self.taker.agent_silent(now)
        else:
            greeting = self._greeting is not None and self._greeting.utterance is u
            actions = self.taker.agent_speaking(now, greeting=greeting)
        self._execute(actions, now)

    # --- hooks (sync, in the reader task) ----------------------------------------------

    def on_audio(self, pcm: bytes, now: float) -> None:
        if self._nursery is None:
            return
        self.feed.audio(pcm, now)
        vad = self._vad
        pausing = vad.pausing
        if pausing != self._vad_pausing:
            self._vad_pausing = pausing
            if pausing:
                # A recogniser that batches audio sends frame by frame around a
                # pause, where its end-of-speech timing is decided.
                self.feed.caller_pausing(now)
                self._execute(self.taker.vad_pause(now), now)
            elif vad.speaking:  # loud again within the hangover (not the end of speech)
                self.feed.caller_speaking()
                self._execute(self.taker.vad_resume(now), now)
        deadline = self._deadline
        if deadline is not None and now >= deadline:
            # A barge-in pause is due: act in this frame, not at the timer's wake-up.
            self._execute(self.taker.tick(now), now)

    def on_vad(self, transition: VadTransition, level_dbfs: float, now: float) -> None:
        if self._nursery is None:
            return
        if transition == VadTransition.SPEECH_START:
            if self._warm_llm is not None and self._warm_llm.wants_warming():
                self._nursery.start_soon(self._warm_llm.warm)
            self.feed.caller_speaking()
            self.consent.speech_started(now)
            self._execute(self.taker.vad_speech_start(now), now)
        elif transition == VadTransition.SPEECH_END:
            self.consent.speech_ended(now)
            self._execute(self.taker.vad_speech_end(now), now)

    def on_dtmf(self, digit: str, now: float) -> None:
        if self._nursery is None:
            return
        self._execute(self.taker.dtmf(digit, now), now)

    # --- actions -----------------------------------------------------------------------

    def _execute(self, actions: list[Action], now: float) -> None:
        for action in actions:
            if isinstance(action, PausePlayout):
                self.playout.pause()
            elif isinstance(action, ResumePlayout):
                self.playout.resume()
            elif isinstance(action, BargeIn):
                self._barge_in()
                if action.take_back:  # the caller had not finished: one utterance
                    self.history.take_back()
            elif isinstance(action, StartResponse):
                self._start_response(action)
            elif isinstance(action, ConfirmResponse):
                turn = self._turn
                if self.consent.take_half_heard():
                    self._ask_again(action.turn_id, action.text)
                elif turn is not None and turn.turn_id == action.turn_id:
                    self.history.add_user(action.text)
                    self._transcribe("caller", action.text, now)
                    turn.confirm()
            elif isinstance(action, CancelSpeculative):
                turn = self._turn
                if turn is not None and turn.turn_id == action.turn_id:
                    turn.discard()
                    self._turn = None
            elif isinstance(action, Reprompt):  # the question heard last, not the gate's
                self._say(reprompt_text(self.company, self.history, self.workflow.question))
            elif isinstance(action, AskRepeat):
                self._say(render(self.company, "ask_repeat"))
            elif isinstance(action, SilenceTimeout):
                self._say(render(self.company, "silence_end"), Outcome("end", "silence"))
            elif isinstance(action, FinalizeTranscript):
                self.feed.finalize()  # the caller is done: no entity hold-back (Deepgram)
            elif isinstance(action, DtmfInput):
                assert self._nursery is not None  # hooks act only once the brain runs
                self._keypad.press(action.digit, self._nursery, self._submit_digits)
        # Every input of the turn-taker passes here, so this is its next deadline
        # until the next input (read per frame by on_audio without recomputing it).
        deadline = self.taker.next_deadline()
        if deadline != self._deadline:
            self._deadline = deadline
            if self._timer_scope is not None:
                self._timer_scope.deadline = math.inf if deadline is None else deadline

    def _barge_in(self) -> None:
        self.playout.clear()
        if self._turn is not None:
            self._turn.interrupt()
            self._turn = None

    def _start_turn(self, turn: Turn) -> Turn:
        assert self._nursery is not None
        if self._turn is not None:
            # One reply at a time: a newer one replaces whatever was still going.
            self._barge_in()
        self._turn = turn
        self.turns.append(turn)
        self._nursery.start_soon(turn.run)
        return turn

    def _start_response(self, action: StartResponse) -> None:
        if action.speculative and self.consent.half_heard:
            return  # it will be asked again, not answered (``ConfirmResponse``)
        if not action.speculative and self.consent.take_half_heard():
            self._ask_again(action.turn_id, action.text)
            return
        if not action.speculative:
            self.history.add_user(action.text)
            self._transcribe("caller", action.text, trio.current_time())
        self._start_turn(Turn(self, action.turn_id, action.text, speculative=action.speculative))

    def _ask_again(self, turn_id: int, heard: str) -> None:
        """Strict consent: the start of this sentence was kept from the STT, so what
        was heard is only its tail: ask again rather than act on it."""
        self._transcribe("caller", heard, trio.current_time())
        self._start_turn(Turn(self, turn_id, canned=render(self.company, "ask_repeat")))

    def _say(self, text: str, outcome: Outcome | None = None) -> None:
        self._start_turn(Turn(self, None, canned=text, canned_outcome=outcome))

    def _submit_digits(self, digits: str) -> None:
        """A finished key entry: a lone 0 (the human digit) asks for a person; any
        other entry goes to the model as the caller's words (0 can start a number)."""
        if len(digits) == 1 and not self.workflow.digits_open:
            actions = self.workflow.handle(Dtmf(digits), self.epoch())
            for action in actions:
                if isinstance(action, Transfer):  # the "talk to a person" key
                    text = render(self.company, "transfer", target=action.target.name)
                    self._say(text, Outcome("transfer", action.reason, action.target))
                    return
            kept = [a for a in actions if isinstance(a, KeepPending)]
            if kept:  # nobody to put through: a callback, kept and said so
                for action in kept:
                    self.keep(action)
                self._say(" ".join(a.text for a in actions if isinstance(a, Say)))
                return
        self.history.add_user(f"{KEYPAD_PREFIX} {digits}]")
        self._transcribe("caller", f"[keypad] {digits}", trio.current_time())
        self._start_turn(Turn(self, None, None))

    # --- the TurnHost side: called by turns -------------------------------------------

    def keep(self, action: KeepPending) -> None:
        """A booking, callback or correction the workflow wants kept for the business."""
        self.pending.append(action)
        if self._nursery is not None:
            self._nursery.start_soon(self.tools.keep_pending, action, self.epoch())

    def utterance_opened(self, turn: Turn, utterance: Utterance) -> None:
        self._utterance = utterance

    def _transcribe(self, role: Literal["caller", "agent"], text: str, now: float) -> None:
        if text.strip():
            self._tell(TranscriptLine(role, text.strip(), now))

    def _tell(self, line: TranscriptLine) -> None:
        for listener in self.transcript_listeners:
            listener(line)

    def turn_ended(self, turn: Turn) -> None:
        if not turn.discarded:
            heard = turn.heard_text().strip()
            if heard:
                self._tell(TranscriptLine("agent", heard, trio.current_time(), turn.interrupted))
        if self._turn is turn:
            self._turn = None
        if turn.outcome is not None and not self._done.is_set():
            self.outcome = turn.outcome
            self._done.set()
            return
        if turn.turn_id is not None and self._nursery is not None:
            now = trio.current_time()
            self._execute(self.taker.response_done(turn.turn_id, now), now)

    def statistics(self) -> dict[str, int]:
        stats = self.taker.statistics()
        return {
            "audio_to_stt": self.feed.to_stt,
            "audio_dropped": self.feed.dropped,
            "audio_before_gate": self.feed.before_gate,
            "turns": len(self.turns),
            "barge_ins": stats.barge_ins,
            "false_interruptions": stats.false_interruptions,
        }

    def end_politely(self, reason: str) -> None:
        """End the call from outside (a service shutdown): say goodbye, then hang up."""
        if self._nursery is None:  # not running yet: nothing to say goodbye with
            self.call.hangup(reason)
        elif not self._done.is_set():
            self._say(render(self.company, "goodbye"), Outcome("end", reason))
