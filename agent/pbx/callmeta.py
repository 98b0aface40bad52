"""What the AGI setup step learned about a call, keyed by the UUID it issued.

Pure (no trio): time comes in as ``now`` in seconds. The flow for one call:

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


@attrs.define
class _Entry:
    metadata: CallMetadata
    expires_at: float
    claimed: bool = False
    ended: bool = False
    decision: Decision | None = None


class CallMetadataStore:
    """In-memory, single process. Keys are ``uuid.UUID``; text UUIDs are accepted too."""

    def __init__(self, *, pending_ttl_s: float = 60.0, claimed_ttl_s: float = 4 * 3600.0) -> None:
        if pending_ttl_s <= 0 or claimed_ttl_s <= 0:
            raise ValueError("pending_ttl_s and claimed_ttl_s must be greater than 0")
        self.pending_ttl_s = pending_ttl_s
        self.claimed_ttl_s = claimed_ttl_s
        self._entries: dict[_uuid.UUID, _Entry] = {}
        self.expired_unclaimed = 0  # counts setups whose AudioSocket call never came

    def add(self, metadata: CallMetadata, now: float) -> None:
        if metadata.uuid in self._entries:
            raise ValueError(f"call {metadata.uuid} is already known")
        self._entries[metadata.uuid] = _Entry(metadata, now + self.pending_ttl_s)

    def is_issued(self, call_uuid: _uuid.UUID | str, now: float) -> bool:
        """True when the setup step issued this UUID and it has not expired."""
        entry = self._live(call_uuid, now)
        return entry is not None

    def claim(self, call_uuid: _uuid.UUID | str, now: float) -> CallMetadata:
        """Hand the metadata to the AudioSocket call; a second claim is refused."""
        entry = self._live(call_uuid, now)
        if entry is None:
            raise UnknownCallError(f"call {call_uuid}: not issued by the AGI setup or expired")
        if entry.claimed:
            raise UnknownCallError(f"call {call_uuid}: already claimed by another connection")
        entry.claimed = True
        entry.expires_at = now + self.claimed_ttl_s
        return entry.metadata

    def set_decision(
        self, call_uuid: _uuid.UUID | str, action: Action, target: str = "", *, now: float
    ) -> Decision:
        """Record what the conversation decided (the last decision wins)."""
        entry = self._live(call_uuid, now)
        if entry is None:
            raise UnknownCallError(f"call {call_uuid}: not issued by the AGI setup or expired")
        entry.decision = Decision(action, target)
        entry.ended = True
        return entry.decision

    def mark_ended(self, call_uuid: _uuid.UUID | str, now: float) -> None:
        """The AudioSocket call is over and decided nothing."""
        entry = self._live(call_uuid, now)
        if entry is not None:
            entry.ended = True

    def in_call(self, call_uuid: _uuid.UUID | str, now: float) -> bool:
        """Claimed by an AudioSocket call that has not ended yet."""
        entry = self._live(call_uuid, now)
        return entry is not None and entry.claimed and not entry.ended

    def take_decision(self, call_uuid: _uuid.UUID | str, now: float) -> Decision | None:
        """The decision for the ``next`` step, forgetting the call.

        ``None`` when the call is known but nothing was decided;
        ``UnknownCallError`` when the UUID is unknown or expired.
        """
        entry = self._live(call_uuid, now)
        if entry is None:
            raise UnknownCallError(f"call {call_uuid}: not issued by the AGI setup or expired")
        del self._entries[entry.metadata.uuid]
        return entry.decision

    def discard(self, call_uuid: _uuid.UUID) -> None:
        """Forget a call (e.g. the caller hung up during setup)."""
        self._entries.pop(call_uuid, None)

    def expire(self, now: float) -> int:
        """Drop every entry past its time; returns how many went."""
        gone = [k for k, e in self._entries.items() if e.expires_at <= now]
        for key in gone:
            if not self._entries.pop(key).claimed:
                self.expired_unclaimed += 1
        return len(gone)

    def pending_count(self, now: float) -> int:
        """Setups whose AudioSocket call has not arrived yet (they will take a slot)."""
        return sum(1 for e in self._entries.values() if not e.claimed and e.expires_at > now)

    def awaiting_next(self, now: float) -> int:
        """Calls with a decision the ``next`` step has not collected yet."""
        return sum(
            1 for e in self._entries.values() if e.decision is not None and e.expires_at > now
        )

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, call_uuid: _uuid.UUID | str, now: float) -> _Entry | None:
        try:
            key = _key(call_uuid)
        except ValueError:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self.expire(now)
            return None
        return entry

    def statistics(self) -> dict[str, int]:
        claimed = sum(1 for e in self._entries.values() if e.claimed)
        return {
            "pending": len(self._entries) - claimed,
            "claimed": claimed,
            "expired_unclaimed": self.expired_unclaimed,
        }


def _key(call_uuid: _uuid.UUID | str) -> _uuid.UUID:
    if isinstance(call_uuid, _uuid.UUID):
        return call_uuid
    return _uuid.UUID(call_uuid.strip())
