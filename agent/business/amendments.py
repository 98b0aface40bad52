"""Delivering an amendment the outbox kept (a correction made after the booking).

An amendment is delivered after the booking it changes: while that booking still
waits in the outbox the amendment waits too (a retryable error, so the outbox
tries again later), and a booking that failed for good fails its amendment.
Kept apart from ``outbox`` so that module stays small; it needs only an outbox's
``get`` and ``finish``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from agent.base.errors import ProviderError
from agent.business.booking import BookingBackend

__all__ = ["deliver_amendment"]


class _Rows(Protocol):
    async def get(self, key: str) -> Any: ...

    async def finish(
        self, key: str, status: Any, result: Mapping[str, Any], *, error: str = ""
    ) -> Any: ...


async def deliver_amendment(outbox: _Rows, item: Any, backend: BookingBackend | None) -> Any:
    """One try at a kept amendment (``item``: an ``OutboxItem`` of kind "amend"); its
    final row, or ``ProviderError`` (retryable) to try again later."""
    booking_id = item.payload.get("booking_id")
    if not booking_id:
        booking = await outbox.get(str(item.payload.get("booking_key")))
        if booking is None or booking.status == "failed":
            return await outbox.finish(item.key, "failed", {}, error="the booking was not made")
        if booking.status == "pending":
            raise ProviderError(
                "outbox", "the booking it amends is not confirmed yet", retryable=True
            )
        booking_id = booking.result.get("booking_id")
    if backend is None:
        raise ProviderError("outbox", f"no booking backend for company {item.company_id!r}")
    outcome = await backend.amend(str(booking_id), item.payload["changes"], item.key)
    if outcome.confirmed:
        return await outbox.finish(item.key, "confirmed", {"booking_id": booking_id})
    reason = outcome.error or outcome.status
    return await outbox.finish(item.key, "failed", {"status": outcome.status}, error=reason)
