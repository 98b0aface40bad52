"""The tools the model may call: JSON-schema specs and pure argument checks.

``tool_specs(profile)`` gives the ``ToolSpec`` list for the LLM request (with
the company's service ids and transfer names as enums). ``parse_tool_call``
turns a model's ``ToolCall`` into a typed request or raises ``InvalidToolCall``
whose text is what the model is told (so it can ask the caller again). Nothing
here performs I/O: the call code executes the typed requests (``get_quote`` is
answered locally from the price list by ``quote``) and reports a ``ToolResult``.

Times in arguments are ISO 8601; one without an offset is read in the
company's timezone. Requests hold epoch seconds.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

import attrs

from agent.base.events import ToolCall, ToolSpec
from agent.business.company import CompanyProfile, TransferTarget
from agent.dialogue.tool_args import (
    InvalidToolCall,
    service_arg,
    text_arg,
    time_arg,
    valid_phone,
    valid_postcode,
)
from agent.dialogue.tools_callback import (
    REQUEST_CALLBACK,
    CallbackRequest,
    callback_spec,
    parse_callback,
)

GET_QUOTE = "get_quote"
CHECK_AVAILABILITY = "check_availability"
BOOK_APPOINTMENT = "book_appointment"
TRANSFER_TO_HUMAN = "transfer_to_human"
END_CALL = "end_call"
AMEND_BOOKING = "amend_booking"
TOOL_NAMES = (GET_QUOTE, CHECK_AVAILABILITY, BOOK_APPOINTMENT, TRANSFER_TO_HUMAN, END_CALL)
TOOL_NAMES += (AMEND_BOOKING, REQUEST_CALLBACK)
CUSTOMER_FIELDS = ("name", "phone", "address", "postcode")


@attrs.frozen
class QuoteRequest:
    service_id: str
    problem: str = ""


@attrs.frozen
class AvailabilityRequest:
    service_id: str
    postcode: str
    earliest: float  # epoch seconds
    latest: float

    def query(self, profile: CompanyProfile) -> dict[str, str]:
        """Query parameters of ``GET /availability`` (times with the company's offset)."""
        return {
            "service": self.service_id,
            "postcode": self.postcode,
            "from": iso(self.earliest, profile),
            "to": iso(self.latest, profile),
        }


@attrs.frozen
class BookingRequest:
    service_id: str
    slot_start: float
    slot_end: float
    name: str
    phone: str  # E.164
    address: str
    postcode: str  # "SW1A 1AA"
    problem: str = ""
    priority: bool = False

    def body(self, profile: CompanyProfile, call_uuid: str) -> dict[str, Any]:
        """The ``POST /bookings`` body; the quote comes from the price list, never the model."""
        service = profile.service(self.service_id)
        assert service is not None  # checked when parsed
        problem = ("[PRIORITY] " if self.priority else "") + self.problem
        return {
            "company_id": profile.id,
            "service_id": self.service_id,
            "slot": {"start": iso(self.slot_start, profile), "end": iso(self.slot_end, profile)},
            "customer": {
                "name": self.name,
                "phone": self.phone,
                "address": self.address,
                "postcode": self.postcode,
            },
            "problem": problem,
            "quote": {"amount": float(service.price.quoted_amount), "currency": service.currency},
            "call_uuid": call_uuid,
        }


@attrs.frozen
class AmendRequest:
    """Change this call's booking (``PATCH /bookings/{id}``): customer details, or move
    it to another slot (one ``check_availability`` offered)."""

    changes: tuple[tuple[str, str], ...] = ()  # (field of CUSTOMER_FIELDS, new value)
    slot: tuple[float, float] | None = None  # the new slot, epoch (start, end)

    def body(self, profile: CompanyProfile) -> dict[str, Any]:
        """The ``PATCH`` body: only the fields that change, in the booking's shape."""
        out: dict[str, Any] = {"customer": dict(self.changes)} if self.changes else {}
        if self.slot is not None:
            out["slot"] = {"start": iso(self.slot[0], profile), "end": iso(self.slot[1], profile)}
        return out

    def arguments(self, profile: CompanyProfile) -> dict[str, str]:
        """The ``amend_booking`` tool's arguments for this request."""
        args = dict(self.changes)
        if self.slot is not None:
            args["slot_start"], args["slot_end"] = (iso(t, profile) for t in self.slot)
        return args


@attrs.frozen
class TransferRequest:
    target: TransferTarget
    reason: str = ""


@attrs.frozen
class EndCallRequest:
    reason: str = ""


ToolRequest = (
    (QuoteRequest | AvailabilityRequest | BookingRequest | TransferRequest | EndCallRequest)
    | AmendRequest
    | CallbackRequest
)
ResultStatus = Literal["ok", "failed", "slot_taken", "invalid", "refused"]


@attrs.frozen
class ToolResult:
    """What came of a tool call. ``failed``: 5xx/timeout/unreachable; ``invalid``: the
    server rejected a field (422, ``field`` says which); ``refused``: the agent
    itself did not run it (bad arguments, not allowed now)."""

    tool: str
    status: ResultStatus
    data: dict[str, Any] = attrs.field(factory=dict, hash=False)
    error: str = ""
    field: str | None = None

    def for_model(self) -> str:
        """The ``tool`` message content for the LLM."""
        out: dict[str, Any] = {"status": self.status, **self.data}
        if self.error:
            out["error"] = self.error
        if self.field:
            out["field"] = self.field
        return json.dumps(out, separators=(",", ":"))


def iso(epoch: float, profile: CompanyProfile) -> str:
    return datetime.fromtimestamp(epoch, profile.timezone).isoformat(timespec="seconds")


def quote(profile: CompanyProfile, service_id: str) -> dict[str, Any]:
    """The local answer to ``get_quote``: the company's price list entry."""
    service = profile.service(service_id)
    if service is None:
        raise InvalidToolCall(GET_QUOTE, f"unknown service {service_id!r}", field="service_id")
    price = {k: float(v) for k, v in attrs.asdict(service.price).items() if v is not None}
    return {"service": service.name, "currency": service.currency, **price}


# --- specs -------------------------------------------------------------------------


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def tool_specs(profile: CompanyProfile | None = None) -> tuple[ToolSpec, ...]:
    """The tools; with a profile, service ids and transfer names are enums."""
    service = _string("Service id from the company's price list.")
    target = _string("Name of a transfer target from the allowlist.")
    if profile is not None:
        service["enum"] = [s.id for s in profile.services]
        target["enum"] = [t.name for t in profile.transfer_targets]
    when = "ISO 8601 date-time with UTC offset, e.g. 2025-05-14T09:00:00+01:00."

    def obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }

    return (
        ToolSpec(
            GET_QUOTE,
            "Look up the price of a service from the company's price list. Quote only "
            "prices this returns.",
            obj(
                {"service_id": service, "problem": _string("The caller's problem.")}, ["service_id"]
            ),
        ),
        ToolSpec(
            CHECK_AVAILABILITY,
            "Find free appointment slots for a service at a postcode between two times.",
            obj(
                {
                    "service_id": service,
                    "postcode": _string("UK postcode of the job, e.g. SW1A 1AA."),
                    "earliest": _string("Earliest start. " + when),
                    "latest": _string("Latest start. " + when),
                },
                ["service_id", "postcode", "earliest", "latest"],
            ),
        ),
        ToolSpec(
            BOOK_APPOINTMENT,
            "Book one slot returned by check_availability, after the caller agreed to it. "
            "Only one booking per call.",
            obj(
                {
                    "service_id": service,
                    "slot_start": _string("Slot start as returned. " + when),
                    "slot_end": _string("Slot end as returned. " + when),
                    "name": _string("Caller's full name."),
                    "phone": _string("Caller's phone number (UK or E.164)."),
                    "address": _string("Street address of the job."),
                    "postcode": _string("UK postcode of the job."),
                    "problem": _string("The problem in the caller's words."),
                },
                ["service_id", "slot_start", "slot_end", "name", "phone", "address", "postcode"],
            ),
        ),
        ToolSpec(
            TRANSFER_TO_HUMAN,
            "Transfer the call to a person. Only the listed targets can be dialled.",
            obj({"target": target, "reason": _string("Why, in a few words.")}, ["target"]),
        ),
        ToolSpec(
            END_CALL,
            "End the call politely after saying goodbye.",
            obj({"reason": _string("Why the call ends.")}, []),
        ),
        ToolSpec(
            AMEND_BOOKING,
            "Change the booking made in this call (after book_appointment): correct the "
            "caller's details, or move it to a slot check_availability returned that the "
            "caller agreed to. Give only what changes.",
            obj(
                {f: _string(f"The corrected {f}.") for f in CUSTOMER_FIELDS}
                | {
                    "slot_start": _string("New slot start as returned. " + when),
                    "slot_end": _string("New slot end as returned. " + when),
                },
                [],
            ),
        ),
        callback_spec(obj),
    )


# --- validation (the argument checks are ``tool_args``) -----------------------------


def parse_tool_call(call: ToolCall, profile: CompanyProfile) -> ToolRequest:
    """Check a model's tool call against the schema and the company; typed request or
    ``InvalidToolCall`` (whose message tells the model what to fix)."""
    tool = call.name
    if tool not in TOOL_NAMES:
        raise InvalidToolCall(tool, f"no such tool; the tools are {', '.join(TOOL_NAMES)}")
    try:
        args = call.parsed_arguments()
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise InvalidToolCall(tool, f"arguments are not a JSON object: {exc}") from exc
    if tool == GET_QUOTE:
        return QuoteRequest(
            service_arg(tool, args, profile), text_arg(tool, args, "problem", required=False)
        )
    if tool == CHECK_AVAILABILITY:
        earliest, latest = (
            time_arg(tool, args, "earliest", profile),
            time_arg(tool, args, "latest", profile),
        )
        if latest <= earliest:
            raise InvalidToolCall(tool, "latest must be after earliest", field="latest")
        postcode = valid_postcode(tool, text_arg(tool, args, "postcode"), profile)
        return AvailabilityRequest(service_arg(tool, args, profile), postcode, earliest, latest)
    if tool == BOOK_APPOINTMENT:
        start, end = (
            time_arg(tool, args, "slot_start", profile),
            time_arg(tool, args, "slot_end", profile),
        )
        if end <= start:
            raise InvalidToolCall(tool, "slot_end must be after slot_start", field="slot_end")
        return BookingRequest(
            service_id=service_arg(tool, args, profile),
            slot_start=start,
            slot_end=end,
            name=text_arg(tool, args, "name"),
            phone=valid_phone(tool, text_arg(tool, args, "phone")),
            address=text_arg(tool, args, "address"),
            postcode=valid_postcode(tool, text_arg(tool, args, "postcode"), profile),
            problem=text_arg(tool, args, "problem", required=False),
        )
    if tool == TRANSFER_TO_HUMAN:
        name = text_arg(tool, args, "target")
        target = profile.transfer_target(name)
        if target is None:
            allowed = ", ".join(t.name for t in profile.transfer_targets) or "none"
            raise InvalidToolCall(
                tool, f"{name!r} is not an allowed target; allowed: {allowed}", field="target"
            )
        return TransferRequest(target, text_arg(tool, args, "reason", required=False))
    if tool == AMEND_BOOKING:
        changes = []
        for field in CUSTOMER_FIELDS:
            if (value := text_arg(tool, args, field, required=False)) != "":
                if field == "phone":
                    value = valid_phone(tool, value)
                elif field == "postcode":
                    value = valid_postcode(tool, value, profile)
                changes.append((field, value))
        slot = None
        if "slot_start" in args or "slot_end" in args:
            slot = (
                time_arg(tool, args, "slot_start", profile),
                time_arg(tool, args, "slot_end", profile),
            )
            if slot[1] <= slot[0]:
                raise InvalidToolCall(tool, "slot_end must be after slot_start", field="slot_end")
        if not changes and slot is None:
            raise InvalidToolCall(tool, "give at least one field to change")
        return AmendRequest(tuple(changes), slot)
    if tool == REQUEST_CALLBACK:
        return parse_callback(args)
    return EndCallRequest(text_arg(tool, args, "reason", required=False))
