"""What the AGI setup step learned about a call, keyed by the UUID it issued, and
what the conversation decided for the ``next`` step.

Pure (no trio). The values live in ``agent.pbx.callmeta_store.CallMetadataStore``
(time comes in as ``now`` in seconds); the flow for one call:

1. FastAGI ``setup`` makes a UUID and ``add``-s the call's metadata (DID, caller
   id, channel, uniqueid) as *pending*;
2. the AudioSocket connection carrying that UUID ``claim``-s it (once); pending
   metadata nobody claims within ``pending_ttl_s`` (60 s) expires, so a caller
   who hung up between the two steps leaves nothing behind;
3. when the AudioSocket call is over, the agent records what the conversation
   decided with ``set_decision`` (or ``mark_ended`` when nothing was decided);
4. FastAGI ``next`` reads it with ``take_decision``, which forgets the call.
   Asterisk may run ``next`` a moment before step 3 lands (it goes on as soon
   as the 0x00 arrives), so ``next`` first waits while ``in_call`` is true.
   A claimed call whose ``next`` never comes is forgotten after ``claimed_ttl_s``.

``is_issued`` is the allowlist check: an AudioSocket server that wants to refuse
UUIDs it did not hand out asks it before claiming.
"""

from __future__ import annotations

import re
import uuid as _uuid
from typing import Literal

import attrs

from agent.base.errors import AgentError

Action = Literal["transfer", "voicemail", "hangup"]
ACTIONS: tuple[Action, ...] = ("transfer", "voicemail", "hangup")
# The target lands in Dial(${VOICE_AGENT_TARGET}); a comma, "|", "&" or a
# parenthesis there could add Dial options or extra channels, so only plain
# dial-string characters pass (PJSIP/1001, Local/200@queues, SIP/trunk/+4420...).
_TARGET = re.compile(r"[A-Za-z0-9_+*#@./:-]{1,128}")


class UnknownCallError(AgentError, KeyError):
    """The UUID was not issued by the setup step, already expired or forgotten."""


@attrs.frozen
class CallMetadata:
    uuid: _uuid.UUID
    did: str = ""  # the dialled number that picks the company
    caller_id: str = ""
    caller_name: str = ""
    channel: str = ""
    uniqueid: str = ""  # Asterisk's channel id, for matching its logs and CDRs
    context: str = ""
    host: str = ""  # the agent host the setup step sent the call to (several hosts)


@attrs.frozen
class Decision:
    action: Action
    target: str = ""  # the dial string of a transfer

    def __attrs_post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"decision action {self.action!r}: expected one of {ACTIONS}")
        if self.action == "transfer" and _TARGET.fullmatch(self.target) is None:
            raise ValueError(
                f"transfer target {self.target!r}: expected a dial string of letters, digits "
                "and + * # @ . / : _ - (no commas or spaces)"
            )
        if self.action != "transfer" and self.target:
            raise ValueError(f"a {self.action} decision takes no target, got {self.target!r}")
