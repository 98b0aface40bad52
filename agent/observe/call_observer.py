"""The per-call observer: collects a call's timeline and writes records and metrics.

One ``CallObserver`` per call, made by ``Observability.observe``. Everything it
is told arrives through sync hooks on the call's hot path, so it never awaits:
rows are *posted* to the records store (queued for its writer thread, written
in order), metrics are in-memory counters. Its hooks:

- the call's reader: ``vad`` (caller speech onset and end);
- the conversation's STT pump: ``stt_event`` (when each final transcript came);
- each ``agent.conversation.turn.Turn``: ``tool_call``, ``provider_error``, ``turn_ended``
  (a turn keeps its own stage times in ``turn.times``);
- the conversation's ``on_transcript``: caller and agent lines;
- the call: ``provider_error`` (one that ended it) and ``call_ended``.

A turn's row is written when the turn ends, so a crash loses at most the turn
in flight. Each turn's stage times are stored as seconds since the call
started (the call's clock): the caller's speech end is the last VAD end before
the turn was confirmed, the STT final the last final transcript before it.

Personal data: what the caller says is searched for a name, phone number,
postcode and address as soon as a final transcript arrives, and whatever is
found is registered with ``agent.base.logs.redact_values`` before any line of the
call could print it. The records keep the text as said.
"""

from __future__ import annotations

import functools
import json
import logging
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import trio

from agent.base.events import Transcript
from agent.base.logs import PHONE, Public, redact_values
from agent.conversation import ConversationBrain
from agent.observe.cost import Prices, UsageMeter, call_cost
from agent.observe.metrics import Metrics
from agent.observe.records import RecordStore, ToolCallRecord, TurnRecord
from agent.observe.timeline import (
    barge_in_onset,
    classify_outcome,
    error_kind,
    expecting_from_question,
    latest_in,
    personal_arguments,
    personal_values,
    phone_values,
)
from dsp import VadTransition

if TYPE_CHECKING:
    from agent.base.errors import ProviderError
    from agent.base.events import SttEvent, ToolCall
    from agent.conversation.protocols import TranscriptLine, TurnView
    from agent.dialogue.tools import ToolResult
    from agent.media.call import Brain, Call

log = logging.getLogger(__name__)

_HISTORY = 256  # VAD and STT times kept for look-ups (minutes of talk)

F = TypeVar("F", bound=Callable[..., None])


class Sinks(Protocol):
    """Where a call's observations go (the process's ``Observability``)."""

    store: RecordStore
    metrics: Metrics
    prices: Prices
    count_active_calls: bool  # False when the service's call registry keeps active_calls

    def clock(self) -> float:
        """Wall-clock seconds for the records."""
        ...

    def provider_name(self, role: str) -> str:
        """The ``provider`` label of the cost of ``role`` (stt, llm, tts)."""
        ...


def _guarded(method: F) -> F:
    """A hook on the call's path: a bug in the observer is logged, never raised."""

    @functools.wraps(method)
    def hook(self: CallObserver, *args: Any) -> None:
        try:
            method(self, *args)
        except Exception:
            log.exception("observer: %s failed", method.__name__)

    return hook  # type: ignore[return-value]


class CallObserver:
    def __init__(
        self, observability: Sinks, call: Call, *, did: str | None, caller_id: str | None
    ) -> None:
        self.obs = observability
        # Weakly: the call holds its observer, and a cycle would outlive the call.
        self.call = weakref.proxy(call)
        self.uuid = str(call.uuid)
        self.did, self.caller_id = did, caller_id
        self.start = call.started_at if call.started_at is not None else trio.current_time()
        self.started_epoch = observability.clock()
        self.brain: Brain | None = None
        self.conversation: ConversationBrain | None = None  # when the brain is one
        self.recording: str | None = None
        self.company = ""  # the company's id once the call has started ("" without one)
        self.usage = UsageMeter()
        self.turns_recorded = 0
        self.tool_results: list[tuple[str, str, dict[str, Any]]] = []
        self._vad_starts: deque[float] = deque(maxlen=_HISTORY)
        self._vad_ends: deque[float] = deque(maxlen=_HISTORY)
        self._finals: deque[float] = deque(maxlen=_HISTORY)
        self._indexes: dict[int, int] = {}  # id(turn) -> its row index
        self._last_confirmed = float("-inf")
        self._last_agent_text = ""
        self._last_searched = ""
        self._keypad: str | None = None
        self._taker_seen = (0, 0)  # barge-ins, false interruptions already counted
        self._ended = False
        if caller_id:
            redact_values(self.uuid, phone_values(caller_id), marker=PHONE)

    # --- start ----------------------------------------------------------------------

    def attach(self, brain: Brain) -> None:
        """The call's brain is made: a conversation tells us its turns and transcript."""
        self.brain = brain
        if isinstance(brain, ConversationBrain):
            self.conversation = brain
            brain.observer = self
            brain.transcript_listeners.insert(0, self.transcript)  # redact before others print

    def started(self) -> None:
        company = self.conversation.company.id if self.conversation is not None else None
        self.company = company or ""
        self.obs.store.post_start_call(
            self.uuid,
            started_at=self.started_epoch,
            did=self.did,
            caller_id=self.caller_id,
            company=company,
            recording=self.recording,
        )
        if self.obs.count_active_calls:
            self.obs.metrics.active_calls.inc()
        log.info(
            "call started: did=%s caller=%s company=%s%s",
            Public(self.did or "-"),
            self.caller_id or "-",
            company or "-",
            ", recording" if self.recording else "",
        )

    # --- hooks ----------------------------------------------------------------------

    @_guarded
    def vad(self, transition: VadTransition, now: float) -> None:
        if transition == VadTransition.SPEECH_START:
            self._vad_starts.append(now)
        elif transition == VadTransition.SPEECH_END:
            self._vad_ends.append(now)

    @_guarded
    def stt_event(self, event: SttEvent, now: float) -> None:
        if not isinstance(event, Transcript) or not event.text.strip():
            return
        self._hide_personal(event.text)
        if event.is_final:
            self._finals.append(now)

    @_guarded
    def transcript(self, line: TranscriptLine) -> None:
        if line.role == "agent":
            self._last_agent_text = line.text
        else:
            self._hide_personal(line.text)
            if line.text.startswith("[keypad]"):
                self._keypad = line.text

    def _hide_personal(self, text: str) -> None:
        if text == self._last_searched:
            return  # the final transcript again, as the caller's line of the turn
        self._last_searched = text
        conversation = self.conversation
        expecting = (
            conversation.workflow.expecting if conversation is not None else None
        ) or expecting_from_question(self._last_agent_text)
        self._hide(personal_values(text, expecting=expecting))

    def _hide(self, found: dict[str, list[str]]) -> None:
        for marker, values in found.items():
            redact_values(self.uuid, values, marker=marker)

    @_guarded
    def tool_call(
        self, turn: TurnView, call: ToolCall, result: ToolResult, started: float, ended: float
    ) -> None:
        try:
            arguments: Any = json.loads(call.arguments or "{}")
        except ValueError:
            arguments = call.arguments
        if isinstance(arguments, dict):
            self._hide(personal_arguments(arguments))
        data = dict(result.data)
        self.tool_results.append((call.name, result.status, data))
        outcome = {"status": result.status, **data}
        if result.field:
            outcome["field"] = result.field
        self.obs.store.post_tool_call(
            ToolCallRecord(
                self.uuid,
                call.name,
                arguments,
                outcome,
                latency_s=ended - started,
                error=result.error or None,
                turn_index=self._index(turn),
                at=round(started - self.start, 6),
            ),
        )
        log.info(
            "tool %s(%s) -> %s in %.0f ms%s",
            call.name,
            call.arguments,
            result.status,
            (ended - started) * 1000,
            f": {result.error}" if result.error else "",
        )

    @_guarded
    def provider_error(self, exc: ProviderError, role: str) -> None:
        kind = error_kind(exc)
        self.obs.metrics.provider_errors.labels(provider=exc.provider, kind=kind).inc()

    @_guarded
    def turn_ended(self, turn: TurnView) -> None:
        self.usage.add_tts(turn.sent_text)
        self.usage.add_llm(turn.llm_input_tokens, turn.llm_output_tokens)
        if turn.discarded:
            return  # a speculative reply nobody heard: cost, but no turn
        record = self._turn_record(turn)
        self.obs.store.post_turn(record)
        self.obs.metrics.observe_turn(record)
        self._count_taker()
        log.info(
            "turn %d: caller %r -> agent %r%s",
            record.index,
            record.caller_text,
            record.agent_text,
            " (interrupted)" if record.interrupted else "",
        )

    def _index(self, turn: TurnView) -> int:
        key = id(turn)
        if key not in self._indexes:
            self._indexes[key] = self.turns_recorded
            self.turns_recorded += 1
        return self._indexes[key]

    def _turn_record(self, turn: TurnView) -> TurnRecord:
        times = turn.times
        u = turn.utterance
        first_frame = u.first_frame_at if u is not None else None
        caller_text = turn.user_text or ""
        speech_end = stt_final = None
        if turn.turn_id is not None and times.confirmed_at is not None:
            lo, hi = self._last_confirmed, times.confirmed_at
            speech_end = latest_in(self._vad_ends, lo, hi)
            stt_final = latest_in(self._finals, lo, hi)
            self._last_confirmed = hi
        elif turn.canned is None and self._keypad is not None:
            caller_text, self._keypad = self._keypad, None
        barge_in = last_frame = None
        if turn.interrupted and times.interrupted_at is not None:
            barge_in = barge_in_onset(self._vad_starts, times.interrupted_at, first_frame)
            sent = self.call.last_agent_frame_at
            if first_frame is not None and sent is not None and sent >= first_frame:
                last_frame = sent
        elif u is not None:
            last_frame = u.last_frame_at

        def rel(at: float | None) -> float | None:
            return None if at is None else round(at - self.start, 6)

        return TurnRecord(
            self.uuid,
            self._index(turn),
            caller_text=caller_text,
            agent_text=turn.heard_text().strip(),
            interrupted=turn.interrupted,
            caller_speech_end_at=rel(speech_end),
            stt_final_at=rel(stt_final),
            llm_request_at=rel(times.llm_request_at),
            llm_first_token_at=rel(times.llm_first_token_at),
            tts_request_at=rel(times.tts_request_at),
            tts_first_audio_at=rel(times.tts_first_audio_at),
            first_agent_frame_at=rel(first_frame),
            barge_in_at=rel(barge_in),
            last_agent_frame_at=rel(last_frame),
        )

    def _taker_counts(self) -> tuple[int, int]:
        if self.conversation is None:
            return self._taker_seen
        stats = self.conversation.taker.statistics()
        return stats.barge_ins, stats.false_interruptions

    def _count_taker(self) -> None:
        barge_ins, false = self._taker_counts()
        seen_barge_ins, seen_false = self._taker_seen
        metrics = self.obs.metrics
        if barge_ins > seen_barge_ins:
            metrics.barge_ins.inc(barge_ins - seen_barge_ins)
        if false > seen_false:
            metrics.false_interruptions.inc(false - seen_false)
        self._taker_seen = (barge_ins, false)

    # --- the end ----------------------------------------------------------------------

    def call_ended(self, call: Call) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            self._call_ended(call)
        finally:
            if self.obs.count_active_calls:
                self.obs.metrics.active_calls.dec()
            if call.recorder is not None:
                call.recorder.close()  # type: ignore[attr-defined]

    def _call_ended(self, call: Call) -> None:
        ended = call.ended_at if call.ended_at is not None else trio.current_time()
        duration = max(0.0, ended - self.start)
        conversation = self.conversation
        gate = conversation.gate_opened_at if conversation is not None else None
        if gate is not None:
            self.usage.add_stt_audio(max(0.0, ended - gate))
        cost = call_cost(self.usage, self.obs.prices)
        outcome = conversation.outcome if conversation is not None else None
        kind = outcome.kind if outcome is not None else None
        why = outcome.reason if outcome is not None else ""
        end_reason = call.end_reason
        if end_reason is None and self.brain is None:
            end_reason = "crashed"  # the brain factory failed; the server logged why
        label = classify_outcome(
            end_reason,
            kind,
            why,
            self.tool_results,
            conversation=conversation is not None,
        )
        target = outcome.target.name if outcome is not None and outcome.target else None
        if end_reason == "agent" and why:
            end_reason = f"agent:{why}"
        self._count_taker()
        barge_ins, false = self._taker_counts()
        self.obs.store.post_end_call(
            self.uuid,
            ended_at=self.started_epoch + duration,
            end_reason=end_reason,
            outcome=label,
            transfer_target=target,
            cost=cost.total,
            cost_detail=cost.as_dict(),
            cost_per_minute=cost.per_minute(duration),
            currency=cost.currency,
            barge_ins=barge_ins,
            false_interruptions=false,
        )
        metrics = self.obs.metrics
        metrics.calls.labels(outcome=label, company=self.company).inc()
        metrics.call_seconds.inc(duration)
        metrics.call_cost.observe(cost.total)
        late = call.playout.statistics()["late_frames"]
        if late:
            metrics.late_frames.inc(late)
        for role, amount in cost.as_dict().items():
            if amount > 0:
                metrics.cost.labels(provider=self.obs.provider_name(role)).inc(amount)
        log.info(
            "call ended: outcome=%s reason=%s turns=%d %.1f s cost=%.4f %s (%.4f/min)",
            label,
            end_reason,
            self.turns_recorded,
            duration,
            cost.total,
            cost.currency,
            cost.per_minute(duration),
        )
