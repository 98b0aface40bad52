"""The checks of a tool call's arguments, shared by every tool's parser (``tools``,
``tools_callback``): a bad argument raises ``InvalidToolCall`` whose text is what
the model is told, so it can ask the caller again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.base.errors import AgentError
from agent.business.company import CompanyProfile
from agent.business.ukformats import parse_postcode, to_e164


class InvalidToolCall(AgentError, ValueError):
    """A tool call the agent refuses; ``str()`` is the message for the model."""

    def __init__(self, tool: str, problem: str, *, field: str | None = None) -> None:
        where = f"{tool}.{field}" if field else tool
        super().__init__(f"{where}: {problem}")
        self.tool, self.field, self.problem = tool, field, problem


def text_arg(tool: str, args: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = args.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidToolCall(tool, f"expected a non-empty string, got {value!r}", field=key)
    return value.strip()


def time_arg(tool: str, args: dict[str, Any], key: str, profile: CompanyProfile) -> float:
    raw = text_arg(tool, args, key)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidToolCall(
            tool, f"{raw!r} is not an ISO 8601 date-time like 2025-05-14T09:00:00+01:00", field=key
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=profile.timezone)
    return value.timestamp()


def service_arg(tool: str, args: dict[str, Any], profile: CompanyProfile) -> str:
    sid = text_arg(tool, args, "service_id")
    if profile.service(sid) is None:
        known = ", ".join(s.id for s in profile.services)
        raise InvalidToolCall(
            tool, f"unknown service {sid!r}; use one of: {known}", field="service_id"
        )
    return sid


def valid_postcode(tool: str, raw: str, profile: CompanyProfile) -> str:
    pc = parse_postcode(raw)
    if pc is None:
        raise InvalidToolCall(
            tool, f"{raw!r} is not a UK postcode; ask the caller to spell it", field="postcode"
        )
    if not profile.serves_postcode(str(pc)):
        raise InvalidToolCall(tool, f"{pc} is outside the service area", field="postcode")
    return str(pc)


def valid_phone(tool: str, raw: str) -> str:
    e164 = to_e164(raw)
    if e164 is None:
        raise InvalidToolCall(
            tool, f"{raw!r} is not a phone number; ask the caller again", field="phone"
        )
    return e164
