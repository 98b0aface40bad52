"""Amendments (a correction or a move made after the booking): the booking as it
stands after one, and delivering one the outbox kept.

An amendment is delivered after the booking it changes: while that booking still
waits in the outbox the amendment waits too (a retryable error, so the outbox
tries again later), and a booking that failed for good fails its amendment. The
caller was told the change would be confirmed, so the business hears how it ended
when the row has a notify URL: the booking as it now stands (event ``booking``) or
a call back (``callback_requested``: a moved slot taken meanwhile, say). Kept apart
from ``outbox`` so that module stays small; it needs only an outbox's ``get``,
``finish`` and ``clock``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from agent.base.errors import ProviderError
from agent.business.booking import BookingBackend, notification

__all__ = ["amended_body", "deliver_amendment"]


def amended_body(body: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The booking body after the ``PATCH`` body ``changes``: customer fields merged,
    the slot (and the problem) replaced."""
    out = copy.deepcopy(dict(body))
    if isinstance(changes.get("customer"), Mapping):
        out["customer"] = {**out.get("customer", {}), **changes["customer"]}
    for key in ("slot", "problem"):
        if key in changes:
            out[key] = copy.deepcopy(changes[key])
    return out


class _Rows(Protocol):
    clock: Callable[[], float]

    async def get(self, key: str) -> Any: ...

    async def finish(
        self,
        key: str,
        status: Any,
        result: Mapping[str, Any],
        *,
        error: str = "",
        then_notify: tuple[str, Mapping[str, Any]] | None = None,
    ) -> Any: ...


async def deliver_amendment(outbox: _Rows, item: Any, backend: BookingBackend | None) -> Any:
    """One try at a kept amendment (``item``: an ``OutboxItem`` of kind "amend"); its
    final row, or ``ProviderError`` (retryable) to try again later."""
    booking_id = item.payload.get("booking_id")
    if not booking_id:
        booking = await outbox.get(str(item.payload.get("booking_key")))
        if booking is None or booking.status == "failed":
            return await _finish(outbox, item, None, "failed", "the booking was not made", {})
        if booking.status == "pending":
            raise ProviderError(
                "outbox", "the booking it amends is not confirmed yet", retryable=True
            )
        booking_id = booking.result.get("booking_id")
    if backend is None:
        raise ProviderError("outbox", f"no booking backend for company {item.company_id!r}")
    outcome = await backend.amend(str(booking_id), item.payload["changes"], item.key)
    if outcome.confirmed:
        result = {"booking_id": booking_id}
        return await _finish(outbox, item, str(booking_id), "confirmed", "", result)
    reason, result = outcome.error or outcome.status, {"status": outcome.status}
    return await _finish(outbox, item, str(booking_id), "failed", reason, result)


async def _finish(
    outbox: _Rows, item: Any, booking_id: str | None, status: str, reason: str, result: dict
) -> Any:
    changes = item.payload["changes"]
    then_notify = None
    if item.target:
        if status == "confirmed":
            stands = amended_body(item.payload.get("booking") or {}, changes)
            event, data = "booking", {**stands, "booking_id": booking_id, "amendment": changes}
        else:
            why = f"amendment failed: {reason}"
            event, data = (
                "callback_requested",
                {
                    "reason": why,
                    "booking_id": booking_id,
                    "amendment": changes,
                },
            )
        at = datetime.fromtimestamp(outbox.clock(), UTC).isoformat(timespec="seconds")
        payload = notification(
            event, call_uuid=item.call_uuid, company_id=item.company_id, at=at, data=data
        )
        then_notify = (item.target, payload)
    return await outbox.finish(item.key, status, result, error=reason, then_notify=then_notify)
