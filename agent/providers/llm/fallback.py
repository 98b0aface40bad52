"""A ``LanguageModel`` that falls back to the next provider when one fails.

Policy, for a live phone call: retrying is only safe before the caller has
heard anything. Until the first content event (``TextDelta`` or ``ToolCall``)
has been forwarded, a retryable error retries the same provider once after a
short wait (the server's ``retry_after``, capped), and a non-retryable error
moves to the next provider at once. After the first content event an error
propagates, so the conversation can apologise instead of repeating itself.

A retry of the same provider happens only inside the turn's first-token budget
(``first_token_budget_s``, LLM_TIMEOUT_S in the service), and must bring its
first content within it: a sampling failure that one retry usually fixes (Groq's
``tool_use_failed``) is worth a second try, a caller waiting in silence is not.

Each attempt's model writes into an ``_AttemptOut``, which forwards to ``out`` in
the model's own task (no forwarding task and channel per attempt: a token reaches
``out`` without a trip round the run loop); the non-content events an attempt
sends before its first content (``Usage``, ``Finish`` of an empty reply) are held
back until the attempt either produces content or finishes, so nothing from a
failed attempt reaches ``out``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import trio

from agent.base.errors import ProviderError, ProviderTimeout
from agent.base.events import LlmEvent, Message, TextDelta, ToolCall, ToolSpec
from agent.providers.attempt import AttemptChannel
from agent.providers.channels import send_eagerly
from agent.providers.protocols import KeepsWarm, LanguageModel


@attrs.define
class _Attempt:
    error: ProviderError | None = None
    forwarded_content: bool = False


class _AttemptOut(AttemptChannel[LlmEvent]):
    """Where one attempt's model sends: content goes on to ``out`` at once, from the
    model's task; what comes before the first content is held. The first content
    lifts the first-token ``budget``. Closing it closes only the attempt (the chain
    closes ``out`` when it is done with every attempt)."""

    def __init__(self, out: trio.MemorySendChannel[LlmEvent], budget: trio.CancelScope) -> None:
        super().__init__("the attempt's channel")
        self._out = out
        self._budget = budget
        self.held: list[LlmEvent] = []
        self.forwarded_content = False

    async def send(self, value: LlmEvent) -> None:
        self._check_open()
        if self.forwarded_content:
            await send_eagerly(self._out, value)
        elif isinstance(value, (TextDelta, ToolCall)):
            self._budget.deadline = math.inf  # content came in time
            self.forwarded_content = True  # from here on an error is not retried
            held, self.held = self.held, []
            for earlier in held:
                await send_eagerly(self._out, earlier)
            await send_eagerly(self._out, value)
        else:
            self.held.append(value)  # (no yield: as send_eagerly into room)


class FallbackChain:
    """Try ``models`` in order; see the module docstring for the retry policy."""

    def __init__(
        self,
        models: Sequence[LanguageModel],
        *,
        retry_wait_max: float = 1.0,
        retry_wait_default: float = 0.25,
        first_token_budget_s: float = math.inf,
    ) -> None:
        if not models:
            raise ValueError("FallbackChain needs at least one model")
        if retry_wait_max < 0 or retry_wait_default < 0 or not first_token_budget_s > 0:
            raise ValueError("FallbackChain retry waits must not be negative, the budget > 0")
        self.models = tuple(models)
        self.first_token_budget_s = first_token_budget_s
        self.retry_wait_max = retry_wait_max
        self.retry_wait_default = retry_wait_default
        self.name = ">".join(model.name for model in self.models)
        first = self.models[0]  # (each reply tries it first: the one to keep warm)
        self._warm_first = first if isinstance(first, KeepsWarm) else None

    async def run(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        out: trio.MemorySendChannel[LlmEvent],
    ) -> None:
        with out:
            failures: list[ProviderError] = []
            budget_ends = trio.current_time() + self.first_token_budget_s
            for model in self.models:
                for retry in (False, True):
                    deadline = budget_ends if retry else math.inf
                    attempt = await self._attempt(model, messages, tools, out, deadline)
                    if attempt.error is None:
                        return
                    if attempt.forwarded_content:
                        raise attempt.error
                    failures.append(attempt.error)
                    if retry or not attempt.error.retryable:
                        break
                    wait = self.retry_wait(attempt.error)
                    if trio.current_time() + wait >= budget_ends:
                        break  # no time left for a second try here
                    await trio.sleep(wait)
            last = failures[-1]
            for earlier in failures[:-1]:
                last.add_note(f"earlier failure in {self.name}: {earlier}")
            raise last

    def wants_warming(self) -> bool:
        """The first model's (``KeepsWarm``): the one each reply tries first."""
        return self._warm_first is not None and self._warm_first.wants_warming()

    async def warm(self) -> None:
        if self._warm_first is not None:
            await self._warm_first.warm()

    def retry_wait(self, error: ProviderError) -> float:
        wait = self.retry_wait_default if error.retry_after is None else error.retry_after
        return max(0.0, min(wait, self.retry_wait_max))

    async def _attempt(
        self,
        model: LanguageModel,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        out: trio.MemorySendChannel[LlmEvent],
        first_content_by: float = math.inf,
    ) -> _Attempt:
        attempt = _Attempt()
        with trio.CancelScope(deadline=first_content_by) as budget:
            sink = _AttemptOut(out, budget)
            try:
                await model.run(messages, tools, sink)  # type: ignore[arg-type]
            except ProviderError as exc:
                attempt.error = exc
            finally:
                sink.close()
                attempt.forwarded_content = sink.forwarded_content
        if budget.cancelled_caught:
            attempt.error = ProviderTimeout(
                model.name,
                f"no reply within the first-token budget ({self.first_token_budget_s:g} s)",
            )
        if attempt.error is None:
            for event in sink.held:
                await out.send(event)
        return attempt
