"""The outbox's delivery worker: claims due rows and tries them until a final answer.

Split from ``agent.business.outbox`` (the table and its claims), which explains the
leases that let many workers on many hosts share one store.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import trio

from agent.base.errors import ProviderError
from agent.business.amendments import deliver_amendment
from agent.business.booking import BookingBackend, Notifier, notification
from agent.business.outbox import Backoff, Outbox, OutboxItem, Status

log = logging.getLogger(__name__)

DEFAULT_BACKOFF = Backoff()  # frozen: one instance serves every worker

BackendFor = Callable[[str], BookingBackend | None]  # company id -> its booking backend


def worker_name() -> str:
    """This process's name as an outbox lease owner: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_outbox(
    outbox: Outbox,
    backend_for: BackendFor,
    notifier: Notifier | None,
    *,
    backoff: Backoff = DEFAULT_BACKOFF,
    on_final: Callable[[OutboxItem], None] | None = None,
    rng: random.Random | None = None,
    owner: str = "",
    lease_s: float = 20.0,
    batch: int = 5,
    poll_s: float = 2.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Deliver pending rows until cancelled; every pending row is due at start.

    ``owner`` names this worker in the leases (default: host and pid; give each
    worker of one process its own). Rows put by other hosts are seen every
    ``poll_s``. A try must end within ``lease_s`` (the HTTP clients' timeouts are
    far shorter), or another worker may try the same row again."""
    rng = rng or random.Random()
    owner = owner or worker_name()
    due: dict[str, float] = {}  # key -> Trio time of this worker's next try
    task_status.started()
    while True:
        now = trio.current_time()
        pending = await outbox.items("pending")
        keys = {item.key for item in pending}
        for key in [k for k in due if k not in keys]:  # finished elsewhere: forget it
            del due[key]
        ready = [item.key for item in pending if due.setdefault(item.key, now) <= now]
        for start in range(0, len(ready), batch):
            wanted = ready[start : start + batch]
            claimed = await outbox.claim(owner, wanted, lease_s)
            for key in set(wanted) - {item.key for item in claimed}:
                due[key] = now + poll_s  # another worker holds it: look again later
            for item in claimed:
                final = await _deliver(outbox, item, backend_for, notifier, owner, backoff, rng)
                if final is None:
                    attempts = (await outbox.get(item.key) or item).attempts
                    due[item.key] = trio.current_time() + backoff.delay(attempts, rng.random())
                    continue
                due.pop(item.key, None)
                if on_final is not None:
                    on_final(final)
        wake = min(min(due.values(), default=float("inf")), trio.current_time() + poll_s)
        with trio.move_on_at(wake):
            await outbox.wait_changed()


async def _deliver(
    outbox: Outbox,
    item: OutboxItem,
    backend_for: BackendFor,
    notifier: Notifier | None,
    owner: str,
    backoff: Backoff,
    rng: random.Random,
) -> OutboxItem | None:
    """One try; the row's final state, or ``None`` to try again later."""
    try:
        if item.kind == "booking":
            return await _deliver_booking(outbox, item, backend_for)
        if item.kind == "amend":
            return await deliver_amendment(outbox, item, backend_for(item.company_id))
        if notifier is None:
            raise ProviderError("notify", "no notifier configured", retryable=True)
        await notifier.send(item.target or "", item.payload, item.key)
        return await outbox.finish(item.key, "confirmed", {"delivered": True})
    except ProviderError as exc:
        if item.kind == "notify" and not exc.retryable:
            log.warning("outbox: notification %s refused for good: %s", item.key, exc)
            return await outbox.finish(item.key, "failed", {}, error=str(exc))
        # The lease is held until the next try, so no other host retries sooner.
        retry_in = backoff.delay(item.attempts + 1, rng.random())
        attempts = await outbox.record_failure(item.key, str(exc), owner=owner, retry_in=retry_in)
        log.info("outbox: %s %s failed (try %d): %s", item.kind, item.key, attempts, exc)
        return None


async def _deliver_booking(outbox: Outbox, item: OutboxItem, backend_for: BackendFor) -> OutboxItem:
    backend = backend_for(item.company_id)
    if backend is None:
        raise ProviderError("outbox", f"no booking backend for company {item.company_id!r}")
    outcome = await backend.book(item.payload, item.key)
    if outcome.confirmed:
        status: Status = "confirmed"
        result: dict[str, Any] = {"booking_id": outcome.booking_id}
        reason = ""
        event, data = "booking", {**item.payload, "booking_id": outcome.booking_id}
    else:
        status, result = "failed", {"status": outcome.status, "field": outcome.field}
        reason = outcome.error or outcome.status
        if outcome.field:
            reason += f" (field {outcome.field})"
        # The caller was told it would be confirmed: a person has to call them back.
        event, data = "callback_requested", {"reason": f"booking failed: {reason}", **item.payload}
    then_notify = None
    if item.target:
        payload = notification(
            event,
            call_uuid=item.call_uuid,
            company_id=item.company_id,
            at=datetime.fromtimestamp(outbox.clock(), UTC).isoformat(timespec="seconds"),
            data=data,
        )
        then_notify = (item.target, payload)
    return await outbox.finish(item.key, status, result, error=reason, then_notify=then_notify)
