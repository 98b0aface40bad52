"""The turn-taking brain: who speaks when. Pure: no Trio, time passed in as ``now``.

Inputs are method calls, each with ``now`` (seconds, monotonic, e.g.
``trio.current_time()``); each returns a list of actions for the caller to carry
out, in order. Timers fire from ``tick(now)``; ``next_deadline()`` says when the
next one is due (it can change after any input, so re-arm after each call).
Every input first fires the timers already due, so a late tick never reorders
events.

Policy, in short:

* End of the caller's turn = an STT end-of-turn signal (``speech_final`` or
  ``UtteranceEnd``) *and* VAD silence, in either order. VAD silence starts at the
  first quiet frame (``vad_pause``), not at the end of the VAD's stop hangover:
  once the STT has ended the turn, ``eot_min_quiet_s`` of quiet is enough, so
  the hangover adds nothing to the answer time; if the caller speaks again
  within the hangover (``vad_resume``) the turn goes on. If the text ends
  mid-phrase ("my postcode is...") we wait ``incomplete_hold_s`` longer. If the
  VAD keeps hearing sound (noise) but no new words come, the STT signal wins
  after ``vad_confirm_timeout_s``; if the STT never signals, VAD silence with
  text pending wins after ``stt_eot_timeout_s``.
* Preemptive generation: a final segment heard while the VAD is silent starts a
  *speculative* response; new words cancel it; the end of turn confirms it (tools
  may run, audio may be heard only from then on).
* Barge-in in two steps: caller speech lasting ``barge_in_min_speech_s`` while
  the agent is audible pauses playout; words from the STT (or speech lasting
  ``barge_in_confirm_speech_s``) confirm it (``BargeIn``); no words within
  ``false_interruption_s`` of the pause resumes playout. Speech starting within
  ``echo_cooldown_s`` after the agent went quiet, or within ``greeting_settle_s``
  of the greeting start, is counted only from the end of that window. Words made
  only of backchannels ("mm-hmm", "yeah") do not interrupt the agent.
* Speech shorter than ``blip_max_s`` with no words is not a turn (a cough); a
  short "yes" with words is.
* Silence: ``Reprompt(n)`` after ``reprompt_after_s`` of nobody talking, then
  ``SilenceTimeout`` after ``max_reprompts`` reprompts went unanswered.
* A turn heard with confidence below ``min_confidence`` gives ``AskRepeat``
  (at most ``max_ask_repeat`` times in a row, then the best guess is used).
* DTMF digits pass through as ``DtmfInput`` (and interrupt the agent).

The caller's VAD (the C core) already applies its echo guard, so its speech-start
transitions are taken at face value here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import attrs

from agent.base.errors import ConfigError
from agent.base.events import SpeechStarted, SttEvent, Transcript, UtteranceEnd

__all__ = [
    "Action",
    "AskRepeat",
    "BargeIn",
    "CancelSpeculative",
    "ConfirmResponse",
    "DtmfInput",
    "PausePlayout",
    "Reprompt",
    "ResumePlayout",
    "SilenceTimeout",
    "StartResponse",
    "TurnTaker",
    "TurnTakingParams",
    "TurnTakingStatistics",
]

_EPSILON = 1e-9  # float slack so a deadline computed as start + 0.2 fires at start + 0.2
_DTMF_DIGITS = frozenset("0123456789*#ABCD")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# A turn ending in one of these is probably not finished ("my postcode is...").
_CONTINUATION_WORDS = _word_set(
    "a an the my our your his her their its is are was were and or but so because "
    "to of for in on at with from by um uh er erm like that which if then"
)
_DEFAULT_BACKCHANNELS = _word_set(
    "mm mhm mm-hmm uh-huh uh-hum hmm aha yeah yep yes ok okay right sure"
)
_WORD = re.compile(r"[a-z']+(?:-[a-z']+)*")


def _to_word_set(value: str | Iterable[str]) -> frozenset[str]:
    words = value.split() if isinstance(value, str) else value
    return frozenset(word.strip().lower() for word in words)


def _non_negative(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value >= 0:
        raise ConfigError(f"{attribute.name}={value!r}: must be 0 or more")


def _fraction(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{attribute.name}={value!r}: must be between 0 and 1")


@attrs.frozen
class TurnTakingParams:
    """Every timing of the policy, in seconds (``_s``) or counts."""

    # End of turn.
    vad_confirm_timeout_s: float = attrs.field(default=1.0, validator=_non_negative)
    stt_eot_timeout_s: float = attrs.field(default=2.0, validator=_non_negative)
    incomplete_hold_s: float = attrs.field(default=1.0, validator=_non_negative)
    # Quiet the VAD must hear (from its first quiet frame) to confirm an STT end of turn.
    eot_min_quiet_s: float = attrs.field(default=0.06, validator=_non_negative)
    # Preemptive (speculative) generation.
    preemptive: bool = True
    max_speculative_per_turn: int = attrs.field(default=3, validator=_non_negative)
    # Barge-in.
    barge_in_min_speech_s: float = attrs.field(default=0.2, validator=_non_negative)
    barge_in_confirm_speech_s: float = attrs.field(default=0.8, validator=_non_negative)
    false_interruption_s: float = attrs.field(default=0.6, validator=_non_negative)
    greeting_settle_s: float = attrs.field(default=0.15, validator=_non_negative)
    echo_cooldown_s: float = attrs.field(default=0.3, validator=_non_negative)
    blip_max_s: float = attrs.field(default=0.4, validator=_non_negative)
    backchannels: frozenset[str] = attrs.field(
        default=_DEFAULT_BACKCHANNELS, converter=_to_word_set
    )
    dtmf_barge_in: bool = True
    # Silence and recognition quality.
    reprompt_after_s: float = attrs.field(default=6.0, validator=_non_negative)
    max_reprompts: int = attrs.field(default=3, validator=_non_negative)
    min_confidence: float = attrs.field(default=0.5, validator=_fraction)
    max_ask_repeat: int = attrs.field(default=2, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.barge_in_confirm_speech_s < self.barge_in_min_speech_s:
            raise ConfigError(
                f"barge_in_confirm_speech_s={self.barge_in_confirm_speech_s} must be at least "
                f"barge_in_min_speech_s={self.barge_in_min_speech_s}"
            )


# --- actions ------------------------------------------------------------------


@attrs.frozen
class StartResponse:
    """Generate the agent's reply to ``text``. Speculative: no tool may run and no
    audio may be heard until ``ConfirmResponse`` with the same ``turn_id``."""

    turn_id: int
    text: str
    speculative: bool
    confidence: float = 1.0


@attrs.frozen
class ConfirmResponse:
    """The speculative response ``turn_id`` is now the real reply."""

    turn_id: int
    text: str


@attrs.frozen
class CancelSpeculative:
    """Throw the speculative response away (nothing of it was heard; no history)."""

    turn_id: int


@attrs.frozen
class PausePlayout:
    """Stop sending agent speech at once (send silence), keep the buffer."""


@attrs.frozen
class ResumePlayout:
    """It was a false interruption: go on where playout paused."""


@attrs.frozen
class BargeIn:
    """Cancel what the agent is saying: clear playout, cancel response ``turn_id``
    (``None`` when no response of ours was running, e.g. a greeting), cut history to
    what was heard. ``reason``: ``words``, ``speech``, ``dtmf`` or ``caller-continued``."""

    turn_id: int | None
    reason: str


@attrs.frozen
class Reprompt:
    """The caller has been silent: prompt them again (``count`` = 1, 2, ...)."""

    count: int


@attrs.frozen
class SilenceTimeout:
    """Still silent after ``reprompts`` reprompts: end the call politely."""

    reprompts: int


@attrs.frozen
class AskRepeat:
    """The turn was heard with low confidence: ask the caller to say it again."""

    text: str
    confidence: float
    count: int


@attrs.frozen
class DtmfInput:
    digit: str


Action = (
    StartResponse
    | ConfirmResponse
    | CancelSpeculative
    | PausePlayout
    | ResumePlayout
    | BargeIn
    | Reprompt
    | SilenceTimeout
    | AskRepeat
    | DtmfInput
)


@attrs.frozen
class TurnTakingStatistics:
    turns: int
    speculative_starts: int
    speculative_cancels: int
    barge_ins: int
    false_interruptions: int
    reprompts: int
    ask_repeats: int


def looks_incomplete(text: str) -> bool:
    """True when ``text`` stops mid-phrase: a trailing comma, dash, ellipsis or a word
    that needs a continuation ("my postcode is", "at the")."""
    stripped = text.rstrip()
    if not stripped:
        return False
    if stripped.endswith((",", "...", "…", "-", "—")):
        return True
    if stripped[-1] in ".?!":
        return False
    words = _WORD.findall(stripped.lower())
    return bool(words) and words[-1] in _CONTINUATION_WORDS


# --- the state machine ----------------------------------------------------------


class TurnTaker:
    """Feed it what happens on the call; carry out the actions it returns."""

    def __init__(self, params: TurnTakingParams | None = None) -> None:
        self.params = params or TurnTakingParams()
        self._now = float("-inf")
        # Caller speech (our VAD). _speech_from is when it counts (after guard windows).
        self._vad_speaking = False
        self._speech_from = 0.0
        self._vad_end: float | None = None
        self._quiet_from: float | None = None  # first quiet frame while speaking
        # The caller's turn being collected.
        self._finals: list[Transcript] = []
        self._interim: Transcript | None = None
        self._last_words_at: float | None = None
        self._eot_at: float | None = None
        # Our response: at most one of ours runs at a time.
        self._next_turn_id = 1
        self._turn_id: int | None = None
        self._speculative_text: str | None = None  # set while the response is speculative
        self._speculations = 0
        self._response_heard = False
        # Agent audio.
        self._playing = False
        self._play_start = 0.0
        self._settle_until = float("-inf")
        self._silent_at: float | None = None
        self._paused_at: float | None = None
        # Silence and quality.
        self._last_activity: float | None = None
        self._reprompts = 0
        self._silence_ended = False
        self._ask_repeats = 0
        self._stats = dict.fromkeys(attrs.fields_dict(TurnTakingStatistics), 0)

    # --- inputs ---------------------------------------------------------------

    def vad_speech_start(self, now: float) -> list[Action]:
        out = self._advance(now)
        self._quiet_from = None
        if not self._vad_speaking:  # a repeated start is ignored
            self._vad_speaking = True
            cooldown_end = (
                self._silent_at + self.params.echo_cooldown_s
                if self._silent_at is not None
                else now
            )
            self._speech_from = max(now, cooldown_end)
        return self._evaluate(now, out)

    def vad_pause(self, now: float) -> list[Action]:
        """The caller went quiet (the VAD's stop hangover began); speech may resume."""
        out = self._advance(now)
        if self._vad_speaking and self._quiet_from is None:
            self._quiet_from = now
        return self._evaluate(now, out)

    def vad_resume(self, now: float) -> list[Action]:
        """The caller spoke again within the VAD's stop hangover."""
        out = self._advance(now)
        self._quiet_from = None
        return self._evaluate(now, out)

    def vad_speech_end(self, now: float) -> list[Action]:
        out = self._advance(now)
        self._quiet_from = None
        if self._vad_speaking:
            self._vad_speaking = False
            self._vad_end = now
            if now - self._speech_from >= self.params.blip_max_s - _EPSILON:
                self._last_activity = now  # someone is there, even without words
        return self._evaluate(now, out)

    def stt_event(self, event: SttEvent, now: float) -> list[Action]:
        out = self._advance(now)
        if isinstance(event, Transcript):
            self._on_transcript(event, now, out)
        elif isinstance(event, UtteranceEnd):
            if self._turn_text() and self._eot_at is None:
                self._eot_at = now
        elif not isinstance(event, SpeechStarted):
            # SpeechStarted fires on noise and echo; our VAD is the onset source.
            raise TypeError(f"stt_event: not an STT event: {event!r}")
        return self._evaluate(now, out)

    def dtmf(self, digit: str, now: float) -> list[Action]:
        if digit not in _DTMF_DIGITS:
            raise ValueError(f"dtmf: {digit!r} is not a DTMF digit (0-9, *, #, A-D)")
        out = self._advance(now)
        if self._playing and self.params.dtmf_barge_in:
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
        if not self._playing:
            self._playing = True
            self._play_start = now
            self._settle_until = now + self.params.greeting_settle_s if greeting else now
        return self._evaluate(now, out)

    def agent_silent(self, now: float) -> list[Action]:
        """Playout has no more agent speech to send (drained or cleared)."""
        out = self._advance(now)
        if self._playing:
            self._playing = False
            self._paused_at = None
            self._silent_at = now
            self._last_activity = now
        return self._evaluate(now, out)

    def response_done(self, turn_id: int, now: float) -> list[Action]:
        """The response ``turn_id`` ended (finished, cancelled or failed). Stale ids
        (already cancelled responses) are ignored."""
        out = self._advance(now)
        if turn_id == self._turn_id:
            self._turn_id = None
            self._speculative_text = None
            if not self._playing:
                self._last_activity = now
        return self._evaluate(now, out)

    def tick(self, now: float) -> list[Action]:
        return self._evaluate(now, self._advance(now))

    def next_deadline(self) -> float | None:
        """When ``tick`` has something to do, or ``None`` if nothing is pending."""
        due = [t for _, rule in self._timed_rules() if (t := rule()) is not None]
        return min(due) if due else None

    def statistics(self) -> TurnTakingStatistics:
        return TurnTakingStatistics(**self._stats)

    @property
    def agent_paused(self) -> bool:
        return self._paused_at is not None

    # --- transcripts --------------------------------------------------------------

    def _on_transcript(self, event: Transcript, now: float, out: list[Action]) -> None:
        text = event.text.strip()
        if not text:
            if event.is_final:
                self._interim = None  # an interim guess turned out to be noise
            if event.end_of_turn and self._turn_text():
                self._eot_at = now
            return
        if self._agent_has_floor() and self._is_backchannel(text):
            return  # "mm-hmm" while the agent talks or thinks: listening, not a turn
        if self._playing:
            self._barge_in(now, "words", out)
        elif self._committed():
            # The caller went on after we committed to a reply ("my postcode is...
            # SW1A 1AA"), or answered while the reply's tail was still running.
            self._barge_in(now, "caller-continued", out)
        self._last_words_at = now
        self._last_activity = now
        if event.is_final:
            self._finals.append(event)
            self._interim = None
        else:
            self._interim = event
        self._eot_at = now if event.end_of_turn else None
        if self._speculative_text is not None and self._speculative_text != self._turn_text():
            self._cancel_speculative(out)

    def _committed(self) -> bool:
        return self._turn_id is not None and self._speculative_text is None

    def _agent_has_floor(self) -> bool:
        """The agent is audible, or about to be (committed, nothing heard yet)."""
        return self._playing or (self._committed() and not self._response_heard)

    def _is_backchannel(self, text: str) -> bool:
        words = _WORD.findall(text.lower())
        return bool(words) and all(word in self.params.backchannels for word in words)

    def _turn_text(self) -> str:
        parts = [t.text.strip() for t in self._finals]
        if self._interim is not None:
            parts.append(self._interim.text.strip())
        return " ".join(part for part in parts if part)

    def _turn_confidence(self) -> float:
        pieces = self._finals or ([self._interim] if self._interim else [])
        if not pieces:
            return 1.0
        weights = [max(p.duration, 0.0) for p in pieces]
        if sum(weights) <= 0:
            return min(p.confidence for p in pieces)
        return sum(p.confidence * w for p, w in zip(pieces, weights, strict=True)) / sum(weights)

    # --- timers -----------------------------------------------------------------

    def _advance(self, now: float) -> list[Action]:
        if now < self._now:
            raise ValueError(f"time went backwards: now={now} after {self._now}")
        self._now = now
        return self._evaluate(now, [])

    def _timed_rules(self) -> tuple[tuple[str, Callable[[], float | None]], ...]:
        return (
            ("pause", self._pause_due),
            ("confirm-barge-in", self._confirm_barge_in_due),
            ("resume", self._resume_due),
            ("commit", self._commit_due),
            ("reprompt", self._reprompt_due),
        )

    def _evaluate(self, now: float, out: list[Action]) -> list[Action]:
        # Fire every due rule, earliest first, until nothing is due; each firing
        # changes the state so that its own rule is no longer due.
        while True:
            due = [(t, name) for name, rule in self._timed_rules() if (t := rule()) is not None]
            due = [(t, name) for t, name in due if t <= now + _EPSILON]
            if not due:
                break
            self._fire(min(due)[1], now, out)
        self._maybe_speculate(out)
        return out

    def _fire(self, rule: str, now: float, out: list[Action]) -> None:
        if rule == "pause":
            self._paused_at = now
            out.append(PausePlayout())
        elif rule == "confirm-barge-in":
            self._barge_in(now, "speech", out)
        elif rule == "resume":
            self._paused_at = None
            self._stats["false_interruptions"] += 1
            self._interim = None  # backchannel words or nothing at all
            out.append(ResumePlayout())
        elif rule == "commit":
            self._commit(now, out)
        else:
            self._reprompt(now, out)

    def _barge_onset(self) -> float:
        return max(self._speech_from, self._play_start, self._settle_until)

    def _pause_due(self) -> float | None:
        if self._playing and self._paused_at is None and self._vad_speaking:
            return self._barge_onset() + self.params.barge_in_min_speech_s
        return None

    def _confirm_barge_in_due(self) -> float | None:
        if self._paused_at is not None and self._vad_speaking:
            return self._barge_onset() + self.params.barge_in_confirm_speech_s
        return None

    def _resume_due(self) -> float | None:
        if self._paused_at is not None and not self._vad_speaking:
            return self._paused_at + self.params.false_interruption_s
        return None

    def _commit_due(self) -> float | None:
        text = self._turn_text()
        if not text or self._playing or self._committed():
            return None
        if self._eot_at is not None:
            if self._vad_speaking and self._quiet_from is None:
                return self._eot_at + self.params.vad_confirm_timeout_s
            if self._vad_speaking:
                quiet = self._quiet_from + self.params.eot_min_quiet_s
            else:
                quiet = self._vad_end or self._eot_at
            both = max(self._eot_at, quiet)
            hold = self.params.incomplete_hold_s if looks_incomplete(text) else 0.0
            return both + hold
        if self._vad_speaking or self._last_words_at is None:
            return None
        return max(self._vad_end or 0.0, self._last_words_at) + self.params.stt_eot_timeout_s

    def _reprompt_due(self) -> float | None:
        idle = not (
            self._silence_ended
            or self._last_activity is None
            or self._vad_speaking
            or self._playing
            or self._turn_id is not None
            or self._turn_text()
        )
        return self._last_activity + self.params.reprompt_after_s if idle else None

    # --- decisions ----------------------------------------------------------------

    def _maybe_speculate(self, out: list[Action]) -> None:
        p = self.params
        if not (p.preemptive and self._finals and self._interim is None):
            return
        if self._vad_speaking and self._quiet_from is None:
            return  # the caller is audibly talking: more words are coming
        if self._playing or self._turn_id is not None:
            return
        if self._speculations >= p.max_speculative_per_turn:
            return
        if self._turn_confidence() < p.min_confidence:
            return
        text = self._turn_text()
        self._turn_id = self._new_turn_id()
        self._speculative_text = text
        self._speculations += 1
        self._stats["speculative_starts"] += 1
        out.append(StartResponse(self._turn_id, text, True, self._turn_confidence()))

    def _commit(self, now: float, out: list[Action]) -> None:
        text, confidence = self._turn_text(), self._turn_confidence()
        self._finals, self._interim, self._eot_at = [], None, None
        self._speculations = 0
        self._last_activity = now
        if confidence < self.params.min_confidence and self._ask_repeats < (
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
            out.append(ConfirmResponse(self._turn_id, text))
            return
        if self._speculative_text is not None:
            self._cancel_speculative(out)
        self._turn_id = self._new_turn_id()
        self._response_heard = False
        out.append(StartResponse(self._turn_id, text, False, confidence))

    def _cancel_speculative(self, out: list[Action]) -> None:
        assert self._turn_id is not None
        out.append(CancelSpeculative(self._turn_id))
        self._stats["speculative_cancels"] += 1
        self._turn_id = None
        self._speculative_text = None

    def _barge_in(self, now: float, reason: str, out: list[Action]) -> None:
        out.append(BargeIn(self._turn_id, reason))
        self._stats["barge_ins"] += 1
        self._turn_id = None
        self._speculative_text = None
        self._playing = False
        self._paused_at = None
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
