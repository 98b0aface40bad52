"""Keys pressed on the phone, gathered into entries."""

from __future__ import annotations

from collections.abc import Callable

import trio


class KeypadEntry:
    """Keys make an entry ended by # or by a pause of ``timeout_s``; each finished,
    non-empty entry goes to ``submit``. A pause is timed by a task in ``nursery``."""

    def __init__(self, timeout_s: float, submit: Callable[[str], None]) -> None:
        self.timeout_s = timeout_s
        self._submit = submit
        self._digits = ""
        self._pause: trio.CancelScope | None = None

    def press(self, digit: str, nursery: trio.Nursery) -> None:
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
        if digit == "#":
            self._finish()
            return
        self._digits += digit
        nursery.start_soon(self._wait_for_pause)

    async def _wait_for_pause(self) -> None:
        with trio.CancelScope() as scope:
            self._pause = scope
            await trio.sleep(self.timeout_s)
            self._pause = None
            self._finish()

    def _finish(self) -> None:
        digits, self._digits = self._digits, ""
        if digits:
            self._submit(digits)
