"""The ``request_callback`` tool: the model asks for the office to call the caller back.

Without it the model could promise a callback that nothing keeps. The workflow
admits it (``workflow_results``) as the same ``KeepPending("callback", ...)`` the
offline policy keeps, and the call puts it in the outbox for the business.
"""

from __future__ import annotations

from typing import Any

import attrs

from agent.base.events import ToolSpec
from agent.dialogue.tool_args import text_arg, valid_phone

REQUEST_CALLBACK = "request_callback"


@attrs.frozen
class CallbackRequest:
    reason: str = ""
    phone: str = ""  # E.164, or "" when the caller gave no number for it


def callback_spec(properties: Any) -> ToolSpec:
    """The spec; ``properties`` makes the tools' JSON-schema object of its arguments."""
    return ToolSpec(
        REQUEST_CALLBACK,
        "Ask the office to call the caller back: when the caller asks to be called back "
        "or nobody can take a transfer. Give the number the caller gave for it, if any "
        "(else their booking or calling number is used). At most one per call.",
        properties(
            {
                "reason": {"type": "string", "description": "Why, in a few words."},
                "phone": {
                    "type": "string",
                    "description": "The number to call back, as the caller gave it (UK or "
                    "E.164); leave out to use their booking or calling number.",
                },
            },
            [],
        ),
    )


def parse_callback(args: dict[str, Any]) -> CallbackRequest:
    """The checked arguments; a phone given must be a UK or E.164 number."""
    raw = text_arg(REQUEST_CALLBACK, args, "phone", required=False)
    phone = valid_phone(REQUEST_CALLBACK, raw) if raw else ""
    return CallbackRequest(text_arg(REQUEST_CALLBACK, args, "reason", required=False), phone)
