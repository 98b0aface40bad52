"""A ``LanguageModel`` that falls back to the next provider when one fails.

Policy, for a live phone call: retrying is only safe before the caller has
heard anything. Until the first content event (``TextDelta`` or ``ToolCall``)
has been forwarded, a retryable error retries the same provider once after a
short wait (the server's ``retry_after``, capped), and a non-retryable error
moves to the next provider at once. After the first content event an error
propagates, so the conversation can apologise instead of repeating itself.

Each attempt writes into its own memory channel and the chain forwards; the
non-content events an attempt sends before its first content (``Usage``,
``Finish`` of an empty reply) are held back until the attempt either produces
content or finishes, so nothing from a failed attempt reaches ``out``.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import trio

from agent.base.errors import ProviderError
from agent.base.events import LlmEvent, Message, TextDelta, ToolCall, ToolSpec
from agent.providers.protocols import LanguageModel

_ATTEMPT_BUFFER = 16  # lets the provider run a few tokens ahead of the forwarder


@attrs.define
class _Attempt:
    error: ProviderError | None = None
    forwarded_content: bool = False


class FallbackChain:
    """Try ``models`` in order; see the module docstring for the retry policy."""

    def __init__(
        self,
        models: Sequence[LanguageModel],
        *,
        retry_wait_max: float = 1.0,
        retry_wait_default: float = 0.25,
    ) -> None:
        if not models:
            raise ValueError("FallbackChain needs at least one model")
        if retry_wait_max < 0 or retry_wait_default < 0:
            raise ValueError("FallbackChain retry waits must not be negative")
        self.models = tuple(models)
        self.retry_wait_max = retry_wait_max
        self.retry_wait_default = retry_wait_default
        self.name = ">".join(model.name for model in self.models)

    async def run(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        out: trio.MemorySendChannel[LlmEvent],
    ) -> None:
        async with out:
            failures: list[ProviderError] = []
            for model in self.models:
                for retry in (False, True):
                    attempt = await self._attempt(model, messages, tools, out)
                    if attempt.error is None:
                        return
                    if attempt.forwarded_content:
                        raise attempt.error
                    failures.append(attempt.error)
                    if retry or not attempt.error.retryable:
                        break
                    await trio.sleep(self.retry_wait(attempt.error))
            last = failures[-1]
            for earlier in failures[:-1]:
                last.add_note(f"earlier failure in {self.name}: {earlier}")
            raise last

    def retry_wait(self, error: ProviderError) -> float:
        wait = self.retry_wait_default if error.retry_after is None else error.retry_after
        return max(0.0, min(wait, self.retry_wait_max))

    async def _attempt(
        self,
        model: LanguageModel,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        out: trio.MemorySendChannel[LlmEvent],
    ) -> _Attempt:
        attempt = _Attempt()
        send, receive = trio.open_memory_channel[LlmEvent](_ATTEMPT_BUFFER)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._run_model, model, messages, tools, send, attempt)
            held: list[LlmEvent] = []
            async with receive:
                async for event in receive:
                    if attempt.forwarded_content:
                        await out.send(event)
                    elif isinstance(event, (TextDelta, ToolCall)):
                        for earlier in held:
                            await out.send(earlier)
                        held.clear()
                        attempt.forwarded_content = True
                        await out.send(event)
                    else:
                        held.append(event)
        if attempt.error is None:
            for event in held:
                await out.send(event)
        return attempt

    @staticmethod
    async def _run_model(
        model: LanguageModel,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        send: trio.MemorySendChannel[LlmEvent],
        attempt: _Attempt,
    ) -> None:
        # The error is kept rather than raised so the chain sees a plain
        # ProviderError, not an ExceptionGroup from the attempt's nursery.
        with send:
            try:
                await model.run(messages, tools, send)
            except ProviderError as exc:
                attempt.error = exc
