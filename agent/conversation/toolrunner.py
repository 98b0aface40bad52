"""Executes the six tools for one call and reports a ``ToolResult`` the model can be told.

``BookingToolRunner.run`` takes a model's ``ToolCall`` (checked here with
``parse_tool_call``) or a workflow's ``CallTool`` (already checked, with its
idempotency key). It never raises for provider failures:

- ``get_quote``: answered locally from the price list;
- ``check_availability``: the company's booking backend (API or local store);
  ``failed`` when it cannot answer, ``invalid`` with the field on a 422;
- ``book_appointment``: one booking per call, key ``<call uuid>:<n>`` (``n``
  moves on after slot_taken/invalid, as in the workflow). On 5xx, timeout or
  an unreachable API the booking is kept in the outbox and the result is
  ``failed`` with ``pending: true``: the caller is told it will be confirmed;
  the outbox confirms it later and the business hears of it by webhook;
- ``amend_booking``: after the booking, its customer details or its slot change
  (``PATCH``; ``slot_taken`` when the new slot went meanwhile); confirmed, the
  business is told the booking as it now stands; on 5xx, timeout or an unreachable
  API the change is kept in the outbox (``failed`` with ``pending: true``);
- ``transfer_to_human``: only a target on the company's allowlist; the
  business is notified; the call itself does the transfer;
- ``end_call``: acknowledged; the call hangs up after the goodbye.

``keep_pending`` carries out the workflow's ``KeepPending`` actions.
"""

from __future__ import annotations

import logging
from typing import Any

from agent.base.errors import ProviderError
from agent.base.events import ToolCall
from agent.business.amendments import amended_body
from agent.business.booking import BookingBackend, Notifier, notification
from agent.business.company import CompanyProfile
from agent.business.outbox import Outbox
from agent.business.outbox_delivery import worker_name
from agent.dialogue.tools import (
    AMEND_BOOKING,
    BOOK_APPOINTMENT,
    CHECK_AVAILABILITY,
    END_CALL,
    GET_QUOTE,
    TRANSFER_TO_HUMAN,
    AmendRequest,
    AvailabilityRequest,
    BookingRequest,
    EndCallRequest,
    InvalidToolCall,
    QuoteRequest,
    ToolRequest,
    ToolResult,
    TransferRequest,
    iso,
    parse_tool_call,
    quote,
)
from agent.dialogue.workflow_actions import CallTool, KeepPending

log = logging.getLogger(__name__)

# How long a booking this call is trying itself stays its own in the outbox (serve
# gives VOICE_AGENT_OUTBOX_LEASE_S): longer than the booking client's whole try, so
# no worker repeats a request still in flight.
HELD_BOOKING_LEASE_S = 20.0

PENDING_NOTE = (
    "The booking system did not answer. The booking is saved and will be confirmed "
    "automatically; tell the caller it will be confirmed shortly."
)


class BookingToolRunner:
    """The tools of one call against one company's booking backend."""

    def __init__(
        self,
        company: CompanyProfile,
        backend: BookingBackend,
        outbox: Outbox | None,
        notifier: Notifier | None,
        call_uuid: str,
        *,
        held_lease_s: float = HELD_BOOKING_LEASE_S,
    ) -> None:
        if not call_uuid:
            raise ValueError("call_uuid must not be empty (it makes the idempotency key)")
        self.company, self.backend, self.outbox = company, backend, outbox
        self.notifier, self.call_uuid = notifier, call_uuid
        self.booking_n = 1
        self.booking_id: str | None = None
        self.pending_key: str | None = None  # a booking waiting in the outbox
        self.booking_body: dict[str, Any] = {}  # the booking as it stands, for the business
        self.amend_n = 0
        self.held_lease_s = held_lease_s

    @property
    def _holder(self) -> str:
        # Not the process's worker name: this process's outbox worker must not take
        # the row while the call's own request is in flight.
        return f"{worker_name()} call {self.call_uuid}"

    @property
    def next_key(self) -> str:
        return f"{self.call_uuid}:{self.booking_n}"

    async def run(self, call: ToolCall | CallTool, now: float) -> ToolResult:
        if isinstance(call, CallTool):
            name, request, key = call.name, call.request, call.idempotency_key
        else:
            name, key = call.name, None
            try:
                request = parse_tool_call(call, self.company)
            except InvalidToolCall as exc:
                return ToolResult(name, "refused", error=str(exc), field=exc.field)
        try:
            return await self._run(name, request, key, now)
        except InvalidToolCall as exc:
            return ToolResult(name, "refused", error=str(exc), field=exc.field)

    async def _run(self, name: str, request: ToolRequest, key: str | None, now: float):
        if name == GET_QUOTE and isinstance(request, QuoteRequest):
            return ToolResult(name, "ok", quote(self.company, request.service_id))
        if name == CHECK_AVAILABILITY and isinstance(request, AvailabilityRequest):
            return await self._availability(request)
        if name == BOOK_APPOINTMENT and isinstance(request, BookingRequest):
            return await self._book(request, key, now)
        if name == AMEND_BOOKING and isinstance(request, AmendRequest):
            return await self._amend(request, key, now)
        if name == TRANSFER_TO_HUMAN and isinstance(request, TransferRequest):
            return await self._transfer(request, now)
        if name == END_CALL and isinstance(request, EndCallRequest):
            return ToolResult(name, "ok", {"ending": True})
        raise InvalidToolCall(name, f"request {type(request).__name__} does not fit this tool")

    async def _availability(self, request: AvailabilityRequest) -> ToolResult:
        try:
            found = await self.backend.availability(request.query(self.company))
        except ProviderError as exc:
            log.warning("call %s: availability failed: %s", self.call_uuid, exc)
            return ToolResult(CHECK_AVAILABILITY, "failed", error="booking system unavailable")
        if found.error:
            return ToolResult(CHECK_AVAILABILITY, "invalid", error=found.error, field=found.field)
        return ToolResult(CHECK_AVAILABILITY, "ok", {"slots": list(found.slots)})

    async def _book(self, request: BookingRequest, key: str | None, now: float) -> ToolResult:
        if self.booking_id is not None or self.pending_key is not None:
            raise InvalidToolCall(BOOK_APPOINTMENT, "this call already has a booking")
        key = key or self.next_key
        body = request.body(self.company, self.call_uuid)
        held = await self._hold_booking(key, body)
        try:
            outcome = await self.backend.book(body, key)
        except ProviderError as exc:
            log.warning("call %s: booking %s not confirmed: %s", self.call_uuid, key, exc)
            return await self._keep_booking(key, body, held=held)
        if outcome.status == "confirmed":
            self.booking_id, self.booking_body = outcome.booking_id, body
            data = {**body, "booking_id": outcome.booking_id}
            if held:
                await self._confirm_held(key, outcome.booking_id, data, now)
            else:
                await self._notify("booking", data, key, now)
            return ToolResult(BOOK_APPOINTMENT, "ok", {"booking_id": outcome.booking_id})
        if held:
            await self._settled(key)
        self.booking_n += 1  # the next try is a different booking attempt
        status = "slot_taken" if outcome.status == "slot_taken" else "invalid"
        return ToolResult(BOOK_APPOINTMENT, status, error=outcome.error, field=outcome.field)

    async def _hold_booking(self, key: str, body: dict[str, Any]) -> bool:
        """Write the booking to the outbox before trying it (when there is one): if this
        host dies mid-request, a worker elsewhere books it and sends its notification.
        False when the store cannot take it: the call books without that safety net."""
        if self.outbox is None:
            return False
        try:
            await self.outbox.hold_booking(
                key,
                self.company.id,
                body,
                notify_url=self.company.notify_url,
                call_uuid=self.call_uuid,
                owner=self._holder,
                lease_s=self.held_lease_s,
            )
        except ProviderError as exc:
            log.warning(
                "call %s: booking %s not kept before trying it: %s", self.call_uuid, key, exc
            )
            return False
        return True

    async def _confirm_held(self, key: str, booking_id: str, data: dict, now: float) -> None:
        """The API confirmed a held booking: its row and its notification in one step."""
        assert self.outbox is not None
        url = self.company.notify_url
        then_notify = (url, self._notification("booking", data, now)) if url else None
        try:
            await self.outbox.finish(
                key, "confirmed", {"booking_id": booking_id}, then_notify=then_notify
            )
        except ProviderError as exc:
            # Left pending: when its lease ends a worker asks the API again under the
            # same key, gets this booking back and sends the notification then.
            log.warning(
                "call %s: booking %s confirmed, not yet recorded: %s", self.call_uuid, key, exc
            )

    async def _settled(self, key: str) -> None:
        assert self.outbox is not None
        try:
            await self.outbox.discard(key, self._holder)
        except ProviderError as exc:
            log.warning("call %s: refused booking %s still kept: %s", self.call_uuid, key, exc)

    async def _keep_booking(self, key: str, body: dict[str, Any], *, held: bool) -> ToolResult:
        if self.outbox is None:
            return ToolResult(BOOK_APPOINTMENT, "failed", error="booking system unavailable")
        try:
            if held:
                # Already kept: free its lease so a worker tries it from now on.
                await self.outbox.record_failure(key, "not confirmed during the call")
            else:
                await self.outbox.put_booking(
                    key,
                    self.company.id,
                    body,
                    notify_url=self.company.notify_url,
                    call_uuid=self.call_uuid,
                )
        except ProviderError as exc:
            log.error("call %s: cannot keep booking %s: %s", self.call_uuid, key, exc)
            return ToolResult(BOOK_APPOINTMENT, "failed", error="booking system unavailable")
        self.pending_key, self.booking_body = key, body
        return ToolResult(
            BOOK_APPOINTMENT,
            "failed",
            {"pending": True, "note": PENDING_NOTE},
            error="booking not confirmed yet",
        )

    async def _amend(self, request: AmendRequest, key: str | None, now: float) -> ToolResult:
        """A correction or a move after the booking: ``PATCH`` the booking now (and tell
        the business the booking as it now stands), or keep the amendment in the outbox
        (after its booking, when that one waits there too)."""
        if self.booking_id is None and self.pending_key is None:
            raise InvalidToolCall(AMEND_BOOKING, "this call has no booking to amend")
        self.amend_n += 1
        key = key or f"{self.call_uuid}:amend:{self.amend_n}"
        body = request.body(self.company)
        if self.booking_id is None:
            return await self._keep_amendment(key, body, booking_key=self.pending_key)
        try:
            outcome = await self.backend.amend(self.booking_id, body, key)
        except ProviderError as exc:
            log.warning("call %s: amendment %s not confirmed: %s", self.call_uuid, key, exc)
            return await self._keep_amendment(key, body, booking_id=self.booking_id)
        if outcome.confirmed:
            self.booking_body = amended_body(self.booking_body, body)
            data = {**self.booking_body, "booking_id": self.booking_id, "amendment": body}
            await self._notify("booking", data, key, now)
            return ToolResult(AMEND_BOOKING, "ok", {"booking_id": self.booking_id, **body})
        status = "slot_taken" if outcome.status == "slot_taken" else "invalid"
        return ToolResult(AMEND_BOOKING, status, error=outcome.error, field=outcome.field)

    async def _keep_amendment(self, key: str, body: dict[str, Any], **booking: Any) -> ToolResult:
        if self.outbox is None:
            return ToolResult(AMEND_BOOKING, "failed", error="booking system unavailable")
        try:
            await self.outbox.put_amendment(
                key,
                self.company.id,
                body,
                call_uuid=self.call_uuid,
                notify_url=self.company.notify_url,
                booking=self.booking_body,
                **booking,
            )
        except ProviderError as exc:
            log.error("call %s: cannot keep amendment %s: %s", self.call_uuid, key, exc)
            return ToolResult(AMEND_BOOKING, "failed", error="booking system unavailable")
        return ToolResult(
            AMEND_BOOKING,
            "failed",
            {"pending": True, "note": "The change is saved and will be applied automatically."},
            error="amendment not confirmed yet",
        )

    async def _transfer(self, request: TransferRequest, now: float) -> ToolResult:
        # A CallTool can be built by any code: check the allowlist again, here.
        if request.target not in self.company.transfer_targets:
            allowed = ", ".join(t.name for t in self.company.transfer_targets) or "none"
            raise InvalidToolCall(
                TRANSFER_TO_HUMAN,
                f"{request.target.name!r} is not an allowed target; allowed: {allowed}",
                field="target",
            )
        target = request.target
        data = {"target": target.name, "dial": target.dial, "reason": request.reason}
        await self._notify("transfer", data, f"{self.call_uuid}:transfer:{target.name}", now)
        return ToolResult(TRANSFER_TO_HUMAN, "ok", {"target": target.name})

    async def keep_pending(self, action: KeepPending, now: float) -> None:
        """The workflow's ``KeepPending``: a booking to retry (same key: idempotent), a
        callback or a correction for the business."""
        if action.kind == "booking":
            key = action.idempotency_key or self.next_key
            if self.pending_key != key:
                await self._keep_booking(key, dict(action.data))
            return
        reason = "correction" if action.kind == "correction" else "callback"
        key = action.idempotency_key or f"{self.call_uuid}:{action.kind}"
        await self._notify("callback_requested", {"reason": reason, **action.data}, key, now)

    async def _notify(self, event: Any, data: dict[str, Any], key: str, now: float) -> None:
        """Tell the business by webhook: through the outbox (kept and retried) when there
        is one, else one direct try. Never fails the tool."""
        url = self.company.notify_url
        if url is None:
            return
        payload = self._notification(event, data, now)
        try:
            if self.outbox is not None:
                await self.outbox.put_notification(
                    f"{key}:notify", self.company.id, url, payload, call_uuid=self.call_uuid
                )
            elif self.notifier is not None:
                await self.notifier.send(url, payload, f"{key}:notify")
        except ProviderError as exc:
            log.warning("call %s: %s notification lost: %s", self.call_uuid, event, exc)

    def _notification(self, event: Any, data: dict[str, Any], now: float) -> dict[str, Any]:
        return notification(
            event,
            call_uuid=self.call_uuid,
            company_id=self.company.id,
            at=iso(now, self.company),
            data=data,
        )
