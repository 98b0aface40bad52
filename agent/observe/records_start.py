"""At a service's start: the calls its last run left open are closed ``interrupted``."""

from __future__ import annotations

import logging

from agent.observe.records import RecordSettings, open_record_store

log = logging.getLogger(__name__)


def close_interrupted_calls(settings: RecordSettings, now: float) -> int:
    """Before any call: this host's calls still without an outcome were cut off when
    its last run was killed (SIGKILL, a power cut), so they are closed as
    ``interrupted``. A SQLite file is this host's own: all of them. A PostgreSQL
    store is shared and other hosts' live calls look the same: only the calls of
    this host's name (``VOICE_AGENT_HOST_NAME``, unique per host)."""
    if settings.url and not settings.host:
        return 0
    host = settings.host if settings.url else None
    with open_record_store(settings) as store:
        closed = store.close_unfinished_sync(now, host=host)
    if closed:
        log.warning(
            "records: %d calls left unfinished by the last run closed as interrupted", closed
        )
    return closed
