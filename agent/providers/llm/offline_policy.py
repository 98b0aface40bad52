"""A deterministic booking dialogue behind the ``LanguageModel`` protocol.

With no LLM configured the call path stays the same: the conversation brain
sends the message history and the tools to ``OfflinePolicy.run`` and gets
``TextDelta`` words, ``ToolCall``s and a ``Finish`` back, just as from an
OpenAI-compatible model. Behind it one ``BookingWorkflow`` per call (regexes of
``agent.dialogue.slots``, replies of ``agent.dialogue.replies``) decides what to say and which
tool to call; the brain executes the tool calls and sends the results back as
``tool`` messages in the next run.

What one run reads: the messages after the last assistant message (the
caller's new words and the results of the tool calls this policy made). So
a history trimmed from the front is fine. Two special cases:

- the same request again (same length, same last assistant message, same new
  messages; e.g. a retried turn) replays the previous answer without feeding
  the workflow twice;
- a user message that continues the previous one (the brain merges the
  caller's words when our reply was never heard: "my postcode is" then
  "my postcode is SW1A 1AA") feeds only the new words.

DTMF: the brain appends the digits as a user message
``[typed on the keypad: 07700900123]`` (``[DTMF] 07700900123#`` is read too)
(one message per entry; ``#`` optional, a message is a whole entry). While
the phone number is being asked for the digits go to the workflow's digit
entry; otherwise one digit is a key press (``0`` asks for a person) and a
longer run is read as a spoken number.

Tool results: the content is ``ToolResult.for_model()`` JSON; anything that is
not (an error text, "[not run: ...]") counts as ``failed``, so the workflow
moves on (a booking is then kept pending with its idempotency key) instead of
waiting for ever. ``KeepPending`` actions have no tool: they are collected in
``OfflinePolicy.kept`` for the brain (whose own gate workflow makes the same
ones in LLM mode).

A bare price question ("how much is it?") once the service is known is
answered here (the price again, then the open question), since the workflow
has no intent for it. The respond step (``respond``) is pure and sync; ``run``
only streams it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, get_args

import trio

from agent.base.events import Finish, LlmEvent, Message, TextDelta, ToolCall, ToolSpec
from agent.business.company import CompanyProfile, Service
from agent.dialogue.doubt import split_unsure
from agent.dialogue.replies import render
from agent.dialogue.saytext import say_price
from agent.dialogue.slots import extract
from agent.dialogue.tools import (
    END_CALL,
    TRANSFER_TO_HUMAN,
    AmendRequest,
    AvailabilityRequest,
    BookingRequest,
    QuoteRequest,
    ResultStatus,
    ToolRequest,
    ToolResult,
    iso,
)
from agent.dialogue.workflow import (
    Action,
    BookingWorkflow,
    CallTool,
    Dtmf,
    EndCall,
    KeepPending,
    Say,
    State,
    Transfer,
    WorkflowConfig,
)

__all__ = [
    "DTMF_PREFIX",
    "OfflinePolicy",
    "dtmf_message",
    "parse_tool_result",
    "price_sentence",
    "tool_arguments",
    "words",
]

DTMF_PREFIX = "[DTMF]"
# "[DTMF] 0770..." or the brain's "[typed on the keypad: 0770...]".
_DTMF = re.compile(
    r"\[(?:DTMF\]|typed on the keypad:)\s*([0-9*#A-D][0-9*#A-D\s]*)\]?", re.IGNORECASE
)
_STATUSES: tuple[str, ...] = get_args(ResultStatus)
_WORD = re.compile(r"\S+\s*")
_PRICE_QUESTION = re.compile(
    r"\b(?:how much|what(?:'s| is| does| will) (?:it|that|the price|the cost)|price|cost|charge)",
    re.IGNORECASE,
)
# States where a known service's price can be repeated without losing the thread.
_PRICE_STATES = frozenset({State.QUOTE, State.COLLECT, State.CLOSE, State.CONFIRM})


def dtmf_message(digits: str) -> str:
    """The user message text the brain appends for a keypad entry."""
    if not digits or any(d not in "0123456789*#ABCD" for d in digits):
        raise ValueError(f"not a DTMF entry: {digits!r}")
    return f"{DTMF_PREFIX} {digits}"


def tool_arguments(request: ToolRequest, profile: CompanyProfile) -> dict[str, Any]:
    """A workflow request as the JSON arguments of its tool (see ``tools.tool_specs``)."""
    if isinstance(request, QuoteRequest):
        return {"service_id": request.service_id, "problem": request.problem}
    if isinstance(request, AvailabilityRequest):
        return {
            "service_id": request.service_id,
            "postcode": request.postcode,
            "earliest": iso(request.earliest, profile),
            "latest": iso(request.latest, profile),
        }
    if isinstance(request, BookingRequest):
        return {
            "service_id": request.service_id,
            "slot_start": iso(request.slot_start, profile),
            "slot_end": iso(request.slot_end, profile),
            "name": request.name,
            "phone": request.phone,
            "address": request.address,
            "postcode": request.postcode,
            "problem": request.problem,
        }
    if isinstance(request, AmendRequest):
        return request.arguments(profile)
    raise TypeError(f"no tool arguments for {type(request).__name__}")


def price_sentence(service: Service) -> str:
    """ "For leak repair, there's a call-out charge of 85 pounds, then 65 pounds an hour." """
    price, currency = service.price, service.currency
    if price.fixed is not None:
        parts = [f"it's a fixed price of {say_price(price.fixed, currency)}"]
    else:
        parts = []
        if price.call_out is not None:
            parts.append(f"there's a call-out charge of {say_price(price.call_out, currency)}")
        if price.hourly is not None:
            parts.append(f"then {say_price(price.hourly, currency)} an hour")
    if not parts:
        return f"For {service.name.lower()}, the engineer confirms the price before starting."
    return f"For {service.name.lower()}, {', '.join(parts)}."


def words(text: str) -> list[str]:
    """Text split into word tokens that keep their trailing space (they join back exactly)."""
    return _WORD.findall(text)


class OfflinePolicy:
    """One call's rule-based "model". Make one per call; ``run`` once per turn."""

    name = "offline"

    def __init__(
        self,
        company: CompanyProfile,
        *,
        call_uuid: str,
        clock: Callable[[], float] = time.time,
        token_gap_s: float = 0.0,
        config: WorkflowConfig | None = None,
        caller_id: str | None = None,
    ) -> None:
        if token_gap_s < 0:
            raise ValueError(f"token_gap_s must be >= 0, got {token_gap_s}")
        self.company = company
        self.workflow = BookingWorkflow(
            company, call_uuid, clock(), config=config, caller_id=caller_id
        )
        self.kept: list[KeepPending] = []  # outbox items for the brain
        self._clock = clock
        self._token_gap_s = token_gap_s
        self._issued: dict[str, str] = {}  # tool call id -> tool name
        self._answered: set[str] = set()
        self._calls_made = 0
        self._last_key: tuple[int, Message | None, tuple[Message, ...]] | None = None
        self._last_user_text = ""
        self._last_events: tuple[LlmEvent, ...] = ()

    # --- LanguageModel ---------------------------------------------------------

    async def run(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        out: trio.MemorySendChannel[LlmEvent],
    ) -> None:
        async with out:
            for event in self.respond(messages, tools):
                if isinstance(event, TextDelta) and self._token_gap_s > 0:
                    await trio.sleep(self._token_gap_s)
                await out.send(event)

    # --- the pure step -----------------------------------------------------------

    def respond(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()
    ) -> tuple[LlmEvent, ...]:
        """The events answering ``messages`` (``tools`` is accepted for the protocol:
        the policy calls only the five standard tools of ``agent.dialogue.tools``)."""
        for message in messages:
            if not isinstance(message, Message):
                raise TypeError(f"messages must be Message values, got {type(message).__name__}")
        now = self._clock()
        anchor_at = _last_assistant(messages)
        anchor = messages[anchor_at] if anchor_at is not None else None
        start = anchor_at + 1 if anchor_at is not None else 0
        block = tuple(m for m in messages[start:] if m.role in ("user", "tool"))
        key = (len(messages), anchor, block)
        if key == self._last_key:
            return self._last_events  # the same request again: same answer, fed once
        continuing = (
            self._last_key is not None
            and self._last_key[:2] == key[:2]
            and bool(self._last_user_text)
        )
        actions: list[Action] = []
        if self.workflow.state is State.GREET:
            greeting = self.workflow.start(now)
            if not block and anchor is None:
                actions.extend(greeting)  # else the brain greeted by itself
        user_text = ""
        for message in block:
            if message.role == "tool":
                actions.extend(self._tool_result(message, now))
                continue
            text = message.content or ""
            user_text = f"{user_text} {text}".strip()
            if continuing and text.startswith(self._last_user_text):
                text = text[len(self._last_user_text) :]
            continuing = False
            actions.extend(self._caller(text, now))
        events = self._events(actions)
        self._last_key, self._last_user_text, self._last_events = key, user_text, events
        return events

    def use_caller_id(self, caller_id: str | None) -> None:
        """The caller's own number ("the one I'm calling from", a callback's number)."""
        self.workflow.data.caller_id = caller_id

    def take_kept(self) -> list[KeepPending]:
        """The callbacks, corrections and cancellations its workflow kept since the last
        call, for the outbox. A booking to retry is not among them: the brain's own gate
        keeps it from the tool result, under the same idempotency key."""
        kept = [action for action in self.kept if action.kind != "booking"]
        self.kept.clear()
        return kept

    # --- inputs --------------------------------------------------------------------

    def _tool_result(self, message: Message, now: float) -> tuple[Action, ...]:
        call_id = message.tool_call_id or ""
        tool = self._issued.get(call_id)
        if tool is None or call_id in self._answered:
            return ()  # not ours, or already fed
        self._answered.add(call_id)
        result = parse_tool_result(tool, message.content or "")
        if tool == TRANSFER_TO_HUMAN and result.status != "ok":
            # The transfer did not happen: the call must go on rather than sit in TRANSFER.
            self.workflow.state = State.CLOSE
            self.kept.append(KeepPending("callback", self.workflow.data.details()))
            return (Say(render(self.company, "no_human"), "no_human"),)
        return self.workflow.handle(result, now)

    def _caller(self, text: str, now: float) -> tuple[Action, ...]:
        actions: list[Action] = []
        pos = 0
        for m in _DTMF.finditer(text):
            actions.extend(self._hear(text[pos : m.start()], now))
            actions.extend(self._keys(re.sub(r"\s", "", m.group(1)).upper(), now))
            pos = m.end()
        actions.extend(self._hear(text[pos:], now))
        return tuple(actions)

    def _hear(self, text: str, now: float) -> tuple[Action, ...]:
        text, unsure = split_unsure(text)
        if not text:
            return ()
        if unsure:  # heard with low confidence (``doubt``): the workflow decides what to ask
            return self.workflow.hear(text, now, confidence=0.0)
        return self._price_answer(text, now) or self.workflow.hear(text, now)

    def _price_answer(self, text: str, now: float) -> tuple[Action, ...]:
        """ "How much is it?" mid-booking: the price again, then the open question.

        The workflow has no price intent, so it would only say it didn't follow.
        Only a bare question qualifies: anything with a yes/no, a detail or an
        emergency in it goes to the workflow."""
        wf = self.workflow
        service = self.company.service(wf.data.service_id or "")
        if service is None or wf.state not in _PRICE_STATES or not _PRICE_QUESTION.search(text):
            return ()
        if wf.data.pending_tool is not None or self.company.find_emergency(text):
            return ()
        intent, slots = extract(
            text, services=self.company.services, tz=self.company.timezone, now=now
        )
        if intent is not None or not slots.is_empty():
            return ()
        return (Say(f"{price_sentence(service)} {wf.question()}", "price"),)

    def _keys(self, digits: str, now: float) -> tuple[Action, ...]:
        wf = self.workflow
        if not wf.digits_open and len(digits.strip("#")) > 1:
            return wf.hear(digits.strip("#*"), now)  # a number typed out of turn
        actions: list[Action] = []
        for digit in digits:
            actions.extend(wf.handle(Dtmf(digit), now))
        if wf.digits_open and wf.data.digits:
            actions.extend(wf.handle(Dtmf("#"), now))  # one message is one whole entry
        return tuple(actions)

    # --- outputs ---------------------------------------------------------------------

    def _events(self, actions: Sequence[Action]) -> tuple[LlmEvent, ...]:
        spoken: list[str] = []
        calls: list[ToolCall] = []
        for action in actions:
            if isinstance(action, Say):
                spoken.append(action.text)
            elif isinstance(action, CallTool):
                args = tool_arguments(action.request, self.company)
                calls.append(self._call(action.name, args))
            elif isinstance(action, Transfer):
                args = {"target": action.target.name, "reason": action.reason}
                calls.append(self._call(TRANSFER_TO_HUMAN, args))
            elif isinstance(action, EndCall):
                calls.append(self._call(END_CALL, {"reason": action.reason}))
            else:
                self.kept.append(action)
        text = " ".join(s.strip() for s in spoken if s.strip())
        events: list[LlmEvent] = [TextDelta(w) for w in words(text)]
        events.extend(calls)
        events.append(Finish("tool_calls" if calls else "stop"))
        return tuple(events)

    def _call(self, name: str, args: dict[str, Any]) -> ToolCall:
        self._calls_made += 1
        call_id = f"offline_{self._calls_made}"
        self._issued[call_id] = name
        return ToolCall(call_id, name, json.dumps(args, separators=(",", ":")))


def _last_assistant(messages: Sequence[Message]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "assistant":
            return index
    return None


def parse_tool_result(tool: str, content: str) -> ToolResult:
    """The inverse of ``ToolResult.for_model()``; any other text is a ``failed`` result."""
    try:
        value = json.loads(content)
    except ValueError:
        value = None
    if not isinstance(value, dict) or value.get("status") not in _STATUSES:
        return ToolResult(tool, "failed", error=content.strip() or "no result")
    data = dict(value)
    status = data.pop("status")
    error = data.pop("error", "")
    field = data.pop("field", None)
    return ToolResult(
        tool,
        status,
        data,
        error=error if isinstance(error, str) else str(error),
        field=field if isinstance(field, str) else None,
    )
