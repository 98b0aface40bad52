"""The caller's side of turn-taking: what the VAD and the STT heard, and when the
caller's turn is over (the whole policy is in ``turntaking``).

End of the caller's turn = an STT end-of-turn signal (``speech_final`` or
``UtteranceEnd``) *and* VAD silence, in either order. VAD silence starts at the
first quiet frame (``vad_pause``), not at the end of the VAD's stop hangover:
once the STT has ended the turn, ``eot_min_quiet_s`` of quiet is enough, so
the hangover adds nothing to the answer time; if the caller speaks again
within the hangover (``vad_resume``) the turn goes on. If the text ends
mid-phrase ("my postcode is...") we wait ``incomplete_hold_s`` longer. If the
VAD keeps hearing sound (noise) but no new words come, the STT signal wins
after ``vad_confirm_timeout_s``; if the STT never signals, VAD silence with
text pending wins after ``stt_eot_timeout_s``.

``CallerSpeech`` and ``HeardTurn`` are ``TurnTaker``'s records of the caller's
voice and words (it alone changes them); ``end_of_turn_due`` says when the
turn they describe should be committed.
"""

from __future__ import annotations

import functools
import math
import re

import attrs

from agent.base.events import Transcript
from agent.dialogue.doubt import mark_also_heard, mark_check
from agent.dialogue.normalise import normalise
from agent.dialogue.readings import holds_other_detail
from agent.dialogue.turntaking_params import TurnTakingParams

_EPSILON = 1e-9  # float slack, as in ``turntaking``

__all__ = [
    "CallerSpeech",
    "HeardTurn",
    "end_of_turn_due",
    "finalize_due",
    "looks_incomplete",
    "spoken_words",
    "words_owed_until",
]


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# A turn ending in one of these is probably not finished ("my postcode is...").
_CONTINUATION_WORDS = _word_set(
    "a an the my our your his her their its is are was were and or but so because "
    "to of for in on at with from by um uh er erm like that which if then"
)
# Asked for on every input while a turn is collected: the same text, the same answer.
_normalised = functools.lru_cache(maxsize=64)(normalise)
_WORD = re.compile(r"[a-z']+(?:-[a-z']+)*")


def spoken_words(text: str) -> list[str]:
    """The lower-case words of ``text`` ("Mm-hmm, yeah." -> ["mm-hmm", "yeah"])."""
    return _WORD.findall(text.lower())


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
    words = spoken_words(stripped)
    return bool(words) and words[-1] in _CONTINUATION_WORDS


@attrs.define
class CallerSpeech:
    """The caller's voice as our VAD hears it."""

    speaking: bool = False
    # When the speech counts: its start, or later after the agent's echo window.
    counts_from: float = 0.0
    ended_at: float | None = None
    # The first quiet frame while speaking (the VAD's stop hangover began).
    quiet_from: float | None = None

    @property
    def audible(self) -> bool:
        """Speaking now, not merely within the VAD's stop hangover."""
        return self.speaking and self.quiet_from is None


@attrs.define
class HeardTurn:
    """The caller's turn being collected: the STT's final segments and latest guess."""

    finals: list[Transcript] = attrs.Factory(list)
    interim: Transcript | None = None
    last_words_at: float | None = None
    # When the STT said the turn ended (``speech_final`` or ``UtteranceEnd``).
    eot_at: float | None = None
    # The speech end (``CallerSpeech.ended_at``) we last asked the STT to finalize at.
    finalized_pause: float | None = None

    def hear(self, event: Transcript, now: float) -> None:
        """Take in a transcript with words in it."""
        self.last_words_at = now
        if event.is_final:
            self.finals.append(event)
            self.interim = None
        else:
            self.interim = event
        self.eot_at = now if event.end_of_turn else None

    def clear(self) -> None:
        """The turn was committed: start collecting the next one."""
        self.finals, self.interim, self.eot_at = [], None, None

    def text(self) -> str:
        """The words so far, spoken numbers and postcodes normalised (``normalise``)."""
        parts = [t.text.strip() for t in self.finals]
        if self.interim is not None:
            parts.append(self.interim.text.strip())
        return _normalised(" ".join(part for part in parts if part))

    def said(self, fair: float) -> str:
        """``text()`` with the words heard below ``fair`` confidence named in front
        (``doubt.mark_check``): the policy reads back a detail that holds one; and the
        recogniser's other readings that hold another postcode or phone number
        (``doubt.mark_also_heard``): the policy may read one back when the line holds
        none of the detail asked for."""
        pieces = [*self.finals, *([self.interim] if self.interim else [])]
        doubted = dict.fromkeys(
            word
            for piece in pieces
            for w in piece.words
            if w.confidence < fair
            for word in re.findall(r"[\w']+", _normalised(w.text).lower())
        )
        return mark_check(mark_also_heard(self.text(), self.other_readings()), list(doubted))

    def other_readings(self) -> list[str]:
        """The turn as the recogniser's alternatives for each of its pieces would have
        it, best first; only those holding a postcode, a phone number or a whole
        address the turn does not (``readings.holds_other_detail``)."""
        pieces = [*self.finals, *([self.interim] if self.interim else [])]
        if not any(piece.alternatives for piece in pieces):
            return []
        texts = [t.text.strip() for t in pieces]
        best = self.text()
        readings: list[str] = []
        for i, piece in enumerate(pieces):
            for other in piece.alternatives:
                reading = _normalised(
                    " ".join(t for t in [*texts[:i], other, *texts[i + 1 :]] if t)
                )
                new = reading not in readings and reading != best
                if new and holds_other_detail(reading, best):
                    readings.append(reading)
        return readings

    def confidence(self) -> float:
        """The segments' confidence, weighted by their duration."""
        pieces = self.finals or ([self.interim] if self.interim else [])
        if not pieces:
            return 1.0
        weights = [max(p.duration, 0.0) for p in pieces]
        if sum(weights) <= 0:
            return min(p.confidence for p in pieces)
        return sum(p.confidence * w for p, w in zip(pieces, weights, strict=True)) / sum(weights)


def end_of_turn_due(
    heard: HeardTurn, speech: CallerSpeech, params: TurnTakingParams
) -> float | None:
    """When the caller's turn is over, or ``None`` while that is not in sight.

    An STT end-of-turn signal and VAD silence, in either order (plus a hold when
    the words stop mid-phrase); the STT signal alone after ``vad_confirm_timeout_s``
    of noise; VAD silence alone after ``stt_eot_timeout_s`` with no STT signal.
    """
    text = heard.text()
    if not text:
        return None
    if heard.eot_at is not None:
        if speech.audible:
            return heard.eot_at + params.vad_confirm_timeout_s
        if speech.speaking:
            assert speech.quiet_from is not None
            quiet = speech.quiet_from + params.eot_min_quiet_s
        else:
            quiet = speech.ended_at or heard.eot_at
        both = max(heard.eot_at, quiet)
        hold = params.incomplete_hold_s if looks_incomplete(text) else 0.0
        return both + hold
    if speech.speaking or heard.last_words_at is None:
        return None
    return max(speech.ended_at or 0.0, heard.last_words_at) + params.stt_eot_timeout_s


def finalize_due(heard: HeardTurn, speech: CallerSpeech, params: TurnTakingParams) -> float | None:
    """When to ask the STT for its final (``FinalizeTranscript``), or ``None``.

    The VAD ended the caller's speech ``stt_finalize_after_s`` ago, words were heard
    and the STT has not ended the turn. Deepgram, with smart format, holds a final
    for up to 3 s while an entity may go on (a phone number, a date: what booking
    callers end with); its answer to ``Finalize`` ends the turn at once. Asked once
    per pause, a little after the STT's own endpointing would have spoken (Deepgram's
    ``speech_final`` after its 400 ms, from the end of speech; our VAD ends speech
    after 240 ms of quiet).
    """
    ended, last_words = speech.ended_at, heard.last_words_at
    if speech.speaking or ended is None or last_words is None or heard.eot_at is not None:
        return None
    due = ended + params.stt_finalize_after_s
    # Words that came later than that are from speech the VAD did not hear end.
    if heard.finalized_pause == ended or last_words > due or not heard.text():
        return None
    return due


def words_owed_until(
    owes_since: float | None, speech: CallerSpeech, params: TurnTakingParams
) -> float:
    """Until when words the STT owes (``SpeechStarted`` at ``owes_since``, no words
    yet) hold the reprompt; ``-inf`` when none are owed."""
    if owes_since is None:
        return -math.inf
    # Our VAD heard a turn (not a blip) that ended after the STT's onset: the words are
    # on their way (a batch STT decodes only now), however slow the box. An onset on
    # echo or noise instead: they come soon or never.
    soon = owes_since + params.stt_eot_timeout_s
    ended = speech.ended_at
    turn = ended is not None and ended - speech.counts_from >= params.blip_max_s - _EPSILON
    if turn and ended >= owes_since and not speech.speaking:
        return max(soon, ended + params.stt_owed_hold_s)
    return soon
