"""CPU priority for heavy worker threads (offline speech recognition), and an exit
that waits for them.

The Trio thread sends a 20 ms frame to every call on time; a decode that
keeps both cores busy must not delay it. On Linux a thread has its own nice
value, and threads it creates (CTranslate2's compute pool) inherit it, so the
worker thread that loads and runs the model lowers its own priority first.
Raising it back needs privileges, so this is done only in threads that do
background work anyway.

A call that hangs up abandons its decode (CTranslate2 cannot be interrupted),
which runs on in its worker thread. If the process exits meanwhile, the C
library's exit runs the native libraries' destructors (OpenMP, BLAS) under the
decode's feet and the process dies with SIGSEGV instead of its exit code (seen
at the end of ``voice-agent serve`` on SIGTERM and of ``make demo``). So work
started by ``in_background`` is counted, and the interpreter's exit waits for
it (``atexit`` runs before any module or library is torn down).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

BACKGROUND_NICE = 10
# A decode is bounded (Whisper's max_new_tokens); a minute covers a 29 s utterance
# on a loaded box. Past that the exit goes on, as before this wait.
EXIT_WAIT_S = 60.0

T = TypeVar("T")
logger = logging.getLogger(__name__)
_running = 0
_idle = threading.Condition()


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> bool:
    """Make the calling thread (and threads it starts later) yield the CPU to the
    Trio thread. Returns False where per-thread priority is not available."""
    setpriority = getattr(os, "setpriority", None)
    if setpriority is None or not hasattr(threading, "get_native_id"):
        return False
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError:
        return False
    return True


def in_background(fn: Callable[..., T], /, *args: object) -> T:
    """``fn(*args)`` in a thread that first lowered its priority (for ``to_thread``);
    the process's exit waits for it to return."""
    global _running
    lower_thread_priority()
    with _idle:
        _running += 1
    try:
        return fn(*args)
    finally:
        with _idle:
            _running -= 1
            _idle.notify_all()


def background_work() -> int:
    """How many ``in_background`` calls are running now."""
    with _idle:
        return _running


def wait_for_background_work(timeout_s: float) -> bool:
    """Block until no ``in_background`` call runs (True), or ``timeout_s`` passed."""
    with _idle:
        return _idle.wait_for(lambda: _running == 0, timeout_s)


def _wait_at_exit() -> None:
    if background_work() == 0:
        return
    started = time.monotonic()
    logger.warning("exit waits for a speech decode still running (at most %.0f s)", EXIT_WAIT_S)
    if wait_for_background_work(EXIT_WAIT_S):
        logger.info("exit waited %.1f s for background work", time.monotonic() - started)
    else:
        logger.error("a speech decode still runs after %.0f s; exiting anyway", EXIT_WAIT_S)


atexit.register(_wait_at_exit)
