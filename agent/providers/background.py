"""CPU priority for heavy worker threads (offline speech recognition).

The Trio thread sends a 20 ms frame to every call on time; a decode that
keeps both cores busy must not delay it. On Linux a thread has its own nice
value, and threads it creates (CTranslate2's compute pool) inherit it, so the
worker thread that loads and runs the model lowers its own priority first.
Raising it back needs privileges, so this is done only in threads that do
background work anyway.
"""

from __future__ import annotations

import os
import threading

BACKGROUND_NICE = 10


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


def in_background(fn, /, *args):
    """``fn(*args)`` in a thread that first lowered its priority (for ``to_thread``)."""
    lower_thread_priority()
    return fn(*args)
