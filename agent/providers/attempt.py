"""The send side a fallback chain hands one attempt's provider (LLM or TTS).

The provider runs in the chain's own task and sends here; the subclass's ``send``
passes each value on at once (no forwarding task, no trip round the run loop).
Closing it closes only the attempt: the chain closes the turn's channel when every
attempt is done. What is shared is the closing; ``send`` is each chain's own.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import trio

__all__ = ["AttemptChannel"]

T = TypeVar("T")


class AttemptChannel(trio.abc.SendChannel[T], Generic[T]):
    def __init__(self, what: str) -> None:
        self._what = what  # named in the error of a send after closing
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError(f"{self._what} is closed")

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> AttemptChannel[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()
