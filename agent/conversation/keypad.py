"""Keys pressed on the phone, gathered into entries."""

from __future__ import annotations

from collections.abc import Callable

import trio


class KeypadEntry:
    """Keys make an entry ended by # or by a pause of ``timeout_s``; each finished,
    non-empty entry goes to ``submit``. A pause is timed by a task in ``nursery``.

    ``submit`` is passed with each key, not kept: the owner's bound method stored
    here would make a reference cycle that outlives the call without the collector.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._digits = ""
        self._pause: trio.CancelScope | None = None

    def press(self, digit: str, nursery: trio.Nursery, submit: Callable[[str], None]) -> None:
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
        if digit == "#":
            self._finish(submit)
            return
        self._digits += digit
        nursery.start_soon(self._wait_for_pause, submit)

    async def _wait_for_pause(self, submit: Callable[[str], None]) -> None:
        with trio.CancelScope() as scope:
            self._pause = scope
            await trio.sleep(self.timeout_s)
            self._pause = None
            self._finish(submit)

    def _finish(self, submit: Callable[[str], None]) -> None:
        digits, self._digits = self._digits, ""
        if digits:
            submit(digits)
