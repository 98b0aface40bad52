"""The fake booking API's checks of each request against the booking contract:
what a request gets wrong, in words (``None`` when nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["CUSTOMER", "NOTIFY_EVENTS", "check_request", "epoch"]

NOTIFY_EVENTS = ("booking", "transfer", "callback_requested")
CUSTOMER = ("name", "phone", "address", "postcode")


def epoch(text: str) -> float:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return value.timestamp()


def check_request(req: Any) -> str | None:
    """What is wrong with a request, by the contract (``None``: nothing)."""
    try:
        if req.path.startswith("/companies/"):
            did = req.path.removeprefix("/companies/")
            ok = did.startswith("+") and did[1:].isdigit() and 7 <= len(did) <= 16
            return None if ok else f"the DID {did!r} is not E.164"
        if req.path == "/availability":
            missing = [k for k in ("service", "postcode", "from", "to") if not req.query.get(k)]
            if missing:
                return f"query lacks {', '.join(missing)}"
            epoch(req.query["from"]), epoch(req.query["to"])
            return None
        body = req.body
        if not isinstance(body, dict):
            return "body is not a JSON object"
        if req.path == "/notify":
            if body.get("event") not in NOTIFY_EVENTS:
                return f"unknown event {body.get('event')!r}"
            missing = [k for k in ("call_uuid", "company_id", "at", "data") if k not in body]
            epoch(body["at"])
            return f"notify body lacks {', '.join(missing)}" if missing else None
        if not req.headers.get("idempotency-key"):
            return "booking without an Idempotency-Key header"
        if req.method == "PATCH":
            return _check_amendment(body)
        for key in ("company_id", "service_id", "call_uuid"):
            if not isinstance(body.get(key), str) or not body[key]:
                return f"booking body lacks {key}"
        for key in ("name", "phone", "address", "postcode"):
            if not isinstance(body["customer"].get(key), str) or not body["customer"][key]:
                return f"booking body lacks customer.{key}"
        if epoch(body["slot"]["end"]) <= epoch(body["slot"]["start"]):
            return "slot ends before it starts"
        if not isinstance(body["quote"]["amount"], (int, float)) or not body["quote"]["currency"]:
            return "booking quote is not {amount, currency}"
        if not isinstance(body.get("problem", ""), str):
            return "problem is not a string"
    except (KeyError, TypeError, ValueError) as exc:
        return f"malformed request: {exc!r}"
    return None


def _check_amendment(body: dict[str, Any]) -> str | None:
    """A ``PATCH`` body: only the fields that change, in the shape of the booking body."""
    unknown = set(body) - {"customer", "slot", "problem"}
    customer = body.get("customer", {})
    if unknown or not body or not isinstance(customer, dict):
        return f"amendment body has unknown or no fields: {sorted(body)}"
    if "customer" in body and not customer:
        return "amendment sets an empty customer"
    bad = [k for k, v in customer.items() if k not in CUSTOMER or not isinstance(v, str) or not v]
    if bad:
        return f"amendment sets bad customer fields {bad}"
    if "slot" in body:
        slot = body["slot"]
        if not isinstance(slot, dict) or set(slot) != {"start", "end"}:
            return f"amendment slot is not {{start, end}}: {slot!r}"
        if epoch(slot["end"]) <= epoch(slot["start"]):  # no offset: ValueError, malformed
            return "amendment slot ends before it starts"
    if not isinstance(body.get("problem", ""), str):
        return "problem is not a string"
    return None
