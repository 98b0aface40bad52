"""The turn-taking brain: who speaks when. Pure: no Trio, time passed in as ``now``.

Inputs are method calls with ``now`` (monotonic seconds); each returns the actions
to carry out, in order. Timers fire from ``tick(now)``; ``next_deadline()`` says when
(re-arm after each call). Every input first fires the timers already due.

Policy, in short:

* End of the caller's turn = an STT end-of-turn signal *and* VAD silence, in
  either order, with fallbacks for noise and for an STT that never signals; a
  turn that stops mid-phrase waits longer (``turntaking_endofturn``).
* Preemptive generation: a final segment heard while the VAD is silent starts a
  *speculative* response; new words cancel it; the end of turn confirms it (tools
  may run, audio may be heard only from then on).
* Barge-in in two steps: caller speech over the agent pauses playout; words or
  longer speech confirm it (``BargeIn``), silence resumes playout. Speech right
  after the agent went quiet or the greeting began counts only from the end of
  that echo window; backchannels ("mm-hmm") never interrupt (``turntaking_bargein``).
* Speech shorter than ``blip_max_s`` with no words is not a turn (a cough); a
  short "yes" with words is.
* Silence: ``Reprompt(n)`` after ``reprompt_after_s`` of nobody talking, not while the
  STT owes a turn's words (``words_owed_until``); ``SilenceTimeout`` after ``max_reprompts``.
* A turn heard below ``min_confidence`` goes on marked unsure, its words heard below
  ``fair_word_confidence`` named (``doubt``), for the policy to confirm; with
  ``confirm_unsure`` off it gives ``AskRepeat`` (``max_ask_repeat`` times at most).
* DTMF digits pass through as ``DtmfInput`` (and interrupt the agent).

The caller's VAD (the C core) applies the echo guard: its speech starts are taken at
face value. Timings: ``TurnTakingParams``; outputs: ``turntaking_actions``.
"""

from __future__ import annotations

import attrs

from agent.base.events import SpeechStarted, SttEvent, Transcript, UtteranceEnd
from agent.dialogue import turntaking_actions
from agent.dialogue.doubt import mark_unsure
from agent.dialogue.turntaking_actions import (
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
    TurnTakingStatistics,
)
from agent.dialogue.turntaking_bargein import (
    AgentAudio,
    confirm_due,
    is_backchannel,
    pause_due,
    resume_due,
)
from agent.dialogue.turntaking_continue import Continuation, continued_due
from agent.dialogue.turntaking_endofturn import (
    CallerSpeech,
    HeardTurn,
    end_of_turn_due,
    finalize_due,
    looks_incomplete,
    words_owed_until,
)
from agent.dialogue.turntaking_params import TurnTakingParams

__all__ = ["TurnTaker", "TurnTakingParams", "looks_incomplete", *turntaking_actions.__all__]

_EPSILON = 1e-9  # float slack so a deadline computed as start + 0.2 fires at start + 0.2
_DTMF_DIGITS = frozenset("0123456789*#ABCD")


class TurnTaker:
    """Feed it what happens on the call; carry out the actions it returns."""

    def __init__(self, params: TurnTakingParams | None = None) -> None:
        self.params = params or TurnTakingParams()
        self._now = float("-inf")
        self._speech = CallerSpeech()  # the caller's voice (our VAD)
        self._heard = HeardTurn()  # the caller's turn being collected (the STT)
        self._agent = AgentAudio()  # the agent's voice (playout)
        # Our response: at most one of ours runs at a time.
        self._next_turn_id = 1
        self._turn_id: int | None = None
        self._speculative_text: str | None = None  # set while the response is speculative
        self._speculations = 0
        self._response_heard = False
        self._cont = Continuation()  # the reply just committed, if the caller goes on
        self._last_activity: float | None = None
        self._reprompts = 0
        self._stt_owes_since: float | None = None  # SpeechStarted, no transcript yet
        self._silence_ended = False
        self._ask_repeats = 0
        self._stats = dict.fromkeys(attrs.fields_dict(TurnTakingStatistics), 0)

    # --- inputs ---------------------------------------------------------------

    def vad_speech_start(self, now: float) -> list[Action]:
        out = self._advance(now)
        speech = self._speech
        speech.quiet_from = None
        if not speech.speaking:  # a repeated start is ignored
            speech.speaking = True
            speech.counts_from = self._agent.echo_free_from(now, self.params.echo_cooldown_s)
            self._cont.caller_onset(speech.counts_from)
        return self._evaluate(now, out)

    def vad_pause(self, now: float) -> list[Action]:
        """The caller went quiet (the VAD's stop hangover began); speech may resume."""
        out = self._advance(now)
        if self._speech.speaking and self._speech.quiet_from is None:
            self._speech.quiet_from = now
        self._cont.caller_quiet()
        return self._evaluate(now, out)

    def vad_resume(self, now: float) -> list[Action]:
        """The caller spoke again within the VAD's stop hangover."""
        out = self._advance(now)
        self._speech.quiet_from = None
        if self._speech.speaking:
            self._cont.caller_onset(now)
        return self._evaluate(now, out)

    def vad_speech_end(self, now: float) -> list[Action]:
        out = self._advance(now)
        speech = self._speech
        speech.quiet_from = None
        self._cont.caller_quiet()
        if speech.speaking:
            speech.speaking = False
            speech.ended_at = now
            if now - speech.counts_from >= self.params.blip_max_s - _EPSILON:
                self._last_activity = now  # someone is there, even without words
        return self._evaluate(now, out)

    def stt_event(self, event: SttEvent, now: float) -> list[Action]:
        out = self._advance(now)
        # Speech (or echo: our VAD is the onset source) owes words: no reprompt meanwhile.
        owed = isinstance(event, SpeechStarted) or getattr(event, "is_final", True) is False
        self._stt_owes_since = (self._stt_owes_since or now) if owed else None
        if isinstance(event, Transcript):
            self._on_transcript(event, now, out)
        elif isinstance(event, UtteranceEnd):
            if self._heard.text() and self._heard.eot_at is None:
                self._heard.eot_at = now
        elif not isinstance(event, SpeechStarted):
            raise TypeError(f"stt_event: not an STT event: {event!r}")
        return self._evaluate(now, out)

    def dtmf(self, digit: str, now: float) -> list[Action]:
        if digit not in _DTMF_DIGITS:
            raise ValueError(f"dtmf: {digit!r} is not a DTMF digit (0-9, *, #, A-D)")
        out = self._advance(now)
        if self._agent.playing and self.params.dtmf_barge_in:
            self._barge_in(now, "dtmf", out)
        out.append(DtmfInput(digit))
        self._reprompts = 0
        self._last_activity = now
        return self._evaluate(now, out)

    def agent_speaking(self, now: float, *, greeting: bool = False) -> list[Action]:
        """Playout started sending agent speech (a new utterance or after a gap)."""
        out = self._advance(now)
        if self._committed():
            self._response_heard = True
            self._cont.reply_audible(now)
        agent = self._agent
        if not agent.playing:
            agent.playing = True
            agent.started_at = now
            agent.settle_until = now + self.params.greeting_settle_s if greeting else now
        return self._evaluate(now, out)

    def agent_silent(self, now: float) -> list[Action]:
        """Playout has no more agent speech to send (drained or cleared)."""
        out = self._advance(now)
        agent = self._agent
        if agent.playing:
            agent.playing = False
            agent.paused_at = None
            agent.silent_at = now
            self._last_activity = now
        return self._evaluate(now, out)

    def response_done(self, turn_id: int, now: float) -> list[Action]:
        """The response ``turn_id`` ended (finished, cancelled or failed). Stale ids
        (already cancelled responses) are ignored."""
        out = self._advance(now)
        if turn_id == self._turn_id:
            self._cont.clear()
            self._turn_id = None
            self._speculative_text = None
            if not self._agent.playing:
                self._last_activity = now
        return self._evaluate(now, out)

    def tick(self, now: float) -> list[Action]:
        return self._evaluate(now, self._advance(now))

    def next_deadline(self) -> float | None:
        """When ``tick`` has something to do, or ``None`` if nothing is pending."""
        due = [t for _, t in self._deadlines() if t is not None]
        return min(due) if due else None

    def statistics(self) -> TurnTakingStatistics:
        return TurnTakingStatistics(**self._stats)

    @property
    def agent_paused(self) -> bool:
        return self._agent.paused_at is not None

    # --- transcripts --------------------------------------------------------------

    def _on_transcript(self, event: Transcript, now: float, out: list[Action]) -> None:
        heard = self._heard
        text = event.text.strip()
        if not text:
            if event.is_final:
                heard.interim = None  # an interim guess turned out to be noise
            if event.end_of_turn and heard.text():
                heard.eot_at = now
            return
        if self._agent_has_floor() and is_backchannel(text, self.params.backchannels):
            return  # "mm-hmm" while the agent talks or thinks: listening, not a turn
        if self._agent.playing:
            self._barge_in(now, "words", out)
        elif self._committed():
            # Went on after we committed ("my postcode is... SW1A 1AA"), or over its tail.
            self._barge_in(now, "caller-continued", out)
        heard.hear(event, now)
        self._last_activity = now
        if self._speculative_text not in (None, heard.said(self.params.fair_word_confidence)):
            self._cancel_speculative(out)

    def _committed(self) -> bool:
        return self._turn_id is not None and self._speculative_text is None

    def _agent_has_floor(self) -> bool:
        """The agent is audible, or about to be (committed, nothing heard yet)."""
        return self._agent.playing or (self._committed() and not self._response_heard)

    def _advance(self, now: float) -> list[Action]:
        if now < self._now:
            raise ValueError(f"time went backwards: now={now} after {self._now}")
        self._now = now
        return self._evaluate(now, [])

    def _deadlines(self) -> tuple[tuple[str, float | None], ...]:
        """Each timed rule and when it is due (``None``: not pending)."""
        speech, agent, params = self._speech, self._agent, self.params
        commit = None  # a turn is committed only while the agent is quiet and free
        if not (agent.playing or self._committed()):
            commit = end_of_turn_due(self._heard, speech, params)
        return (
            ("pause", pause_due(speech, agent, params)),
            ("confirm-barge-in", confirm_due(speech, agent, params)),
            ("resume", resume_due(speech, agent, params)),
            ("commit", commit),
            ("finalize", finalize_due(self._heard, speech, params)),
            ("continued", continued_due(self._cont, speech, params)),
            ("reprompt", self._reprompt_due()),
        )

    def _evaluate(self, now: float, out: list[Action]) -> list[Action]:
        # Fire every due rule, earliest first (each firing makes its own rule not due).
        while True:
            due = [(t, name) for name, t in self._deadlines() if t is not None]
            due = [(t, name) for t, name in due if t <= now + _EPSILON]
            if not due:
                break
            self._fire(min(due)[1], now, out)
        self._maybe_speculate(out)
        return out

    def _fire(self, rule: str, now: float, out: list[Action]) -> None:
        if rule == "pause":
            self._agent.paused_at = now
            out.append(PausePlayout())
        elif rule == "confirm-barge-in":
            self._barge_in(now, "speech", out)
        elif rule == "resume":
            self._agent.paused_at = None
            self._stats["false_interruptions"] += 1
            self._heard.interim = None  # backchannel words or nothing at all
            out.append(ResumePlayout())
        elif rule == "continued":
            self._barge_in(now, "caller-continued", out)
        elif rule == "commit":
            self._commit(now, out)
        elif rule == "finalize":
            self._heard.finalized_pause = self._speech.ended_at
            out.append(FinalizeTranscript())
        else:
            self._reprompt(now, out)

    def _reprompt_due(self) -> float | None:
        idle = not (
            self._silence_ended
            or self._last_activity is None
            or self._speech.speaking
            or self._agent.playing
            or self._turn_id is not None
            or self._heard.text()
        )
        owed = words_owed_until(self._stt_owes_since, self._speech, self.params)
        return max(self._last_activity + self.params.reprompt_after_s, owed) if idle else None

    # --- decisions ----------------------------------------------------------------

    def _maybe_speculate(self, out: list[Action]) -> None:
        p = self.params
        heard = self._heard
        if not (p.preemptive and heard.finals and heard.interim is None):
            return
        if self._speech.audible:
            return  # the caller is audibly talking: more words are coming
        if self._agent.playing or self._turn_id is not None:
            return
        if self._speculations >= p.max_speculative_per_turn:
            return
        if heard.confidence() < p.min_confidence:
            return
        text = heard.said(p.fair_word_confidence)
        self._turn_id = self._new_turn_id()
        self._speculative_text = text
        self._speculations += 1
        self._stats["speculative_starts"] += 1
        out.append(StartResponse(self._turn_id, text, True, heard.confidence()))

    def _commit(self, now: float, out: list[Action]) -> None:
        heard = self._heard
        text, confidence = heard.said(self.params.fair_word_confidence), heard.confidence()
        heard.clear()
        self._speculations = 0
        self._last_activity = now
        if confidence < self.params.min_confidence and self.params.confirm_unsure:
            text = mark_unsure(text)  # kept, in doubt: the policy confirms it (``doubt``)
        elif confidence < self.params.min_confidence and self._ask_repeats < (
            self.params.max_ask_repeat
        ):
            if self._speculative_text is not None:
                self._cancel_speculative(out)
            self._ask_repeats += 1
            self._stats["ask_repeats"] += 1
            out.append(AskRepeat(text, confidence, self._ask_repeats))
            return
        self._ask_repeats = 0
        self._reprompts = 0
        self._stats["turns"] += 1
        if self._speculative_text == text and self._turn_id is not None:
            self._speculative_text = None
            self._response_heard = False
            self._cont.committed(self._turn_id)
            out.append(ConfirmResponse(self._turn_id, text))
            return
        if self._speculative_text is not None:
            self._cancel_speculative(out)
        self._turn_id = self._new_turn_id()
        self._response_heard = False
        self._cont.committed(self._turn_id)
        out.append(StartResponse(self._turn_id, text, False, confidence))

    def _cancel_speculative(self, out: list[Action]) -> None:
        assert self._turn_id is not None
        out.append(CancelSpeculative(self._turn_id))
        self._stats["speculative_cancels"] += 1
        self._turn_id = None
        self._speculative_text = None

    def _barge_in(self, now: float, reason: str, out: list[Action]) -> None:
        onset = self._cont.onset if self._cont.onset is not None else now
        take_back = self._cont.takes_back(self._turn_id, onset, self.params)
        self._cont.clear()
        out.append(BargeIn(self._turn_id, reason, take_back))
        self._stats["barge_ins"] += 1
        self._turn_id = None
        self._speculative_text = None
        self._agent.playing = False
        self._agent.paused_at = None
        self._last_activity = now

    def _reprompt(self, now: float, out: list[Action]) -> None:
        self._last_activity = now
        if self._reprompts < self.params.max_reprompts:
            self._reprompts += 1
            self._stats["reprompts"] += 1
            out.append(Reprompt(self._reprompts))
        else:
            self._silence_ended = True
            out.append(SilenceTimeout(self._reprompts))

    def _new_turn_id(self) -> int:
        turn_id = self._next_turn_id
        self._next_turn_id += 1
        return turn_id
