"""The hard deadline of a shutdown: exit 1 when the graceful one overruns.

The graceful shutdown (``agent.service.serve``) runs in the event loop; if the
loop is wedged (a MemoryError left a task half-done, a thread died holding
something, a cleanup that never returns), SIGTERM would leave the process up
until systemd's SIGKILL. So the first signal also arms this thread, made at
start-up so arming it allocates nothing: after ``budget_s`` (drain + goodbye +
a margin) it writes one line to stderr and ends the process with exit code 1,
whatever the loop is doing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

# Added to drain + goodbye + hang-up + next grace: the last steps of a shutdown
# (closing the records, the providers) take well under this.
MARGIN_S = 5.0


class HardDeadline:
    def __init__(self, budget_s: float, *, exit: Callable[[int], object] = os._exit) -> None:
        self.budget_s = budget_s
        self._exit = exit
        self._armed = threading.Event()
        self._done = threading.Event()
        self._message = (
            f"voice-agent: shutdown not over after {budget_s:.1f} s"
            " (drain + goodbye + margin); exiting now\n"
        ).encode()
        self._thread = threading.Thread(target=self._run, name="shutdown-deadline", daemon=True)
        self._thread.start()

    @property
    def armed(self) -> bool:
        return self._armed.is_set()

    def arm(self) -> None:
        """Start counting (safe from a signal handler; a second call changes nothing)."""
        self._armed.set()

    def cancel(self) -> None:
        """The shutdown finished in time (or the process is ending anyway)."""
        self._done.set()
        self._armed.set()

    def _run(self) -> None:
        self._armed.wait()
        if self._done.wait(self.budget_s):
            return
        try:
            os.write(2, self._message)
        finally:
            self._exit(1)
