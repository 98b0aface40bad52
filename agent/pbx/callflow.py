"""The dialplan's view of a call: AGI ``setup`` -> AudioSocket call -> AGI ``next``.

When an AudioSocket call identifies itself, ``CallFlow.accept`` claims the
metadata the setup step stored under its UUID (DID, caller id, channel), so the
brain factory can pick the company by the dialled number (``did_for``) and give
the caller id to the conversation (``caller_id_for``). With ``require_setup``
a UUID the setup step never issued (or that expired, or that another connection
already claimed) is refused: one warning line and the connection is closed.

When the call is over, ``CallFlow.ended`` turns the conversation's outcome into
the ``Decision`` the ``next`` step hands to the dialplan (``decide``).

The store is ``agent.pbx.callmeta_store.CallMetadataStore`` (in memory in one
process, shared by several workers or hosts); ``clock`` must be
the clock the FastAGI side uses for the same store. A store on the network (the
PostgreSQL one of several hosts, ``blocking``) is called from a worker thread:
``accept`` and ``ended`` then return awaitables, which ``Call`` and the AudioSocket
server await.
"""

from __future__ import annotations

import functools
import logging
import uuid as _uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import trio

from agent.base.logs import Public
from agent.conversation import ConversationBrain
from agent.conversation.protocols import Outcome
from agent.pbx.callmeta import CallMetadata, Decision, UnknownCallError

if TYPE_CHECKING:
    from agent.media.call import Call

log = logging.getLogger(__name__)

# A call cut short by a shutdown still deserves to be heard: offer a message.
SHUTDOWN_REASON = "shutdown"
# What Asterisk sends when it does not know the caller's number.
_NO_CALLER_ID = {"", "unknown", "anonymous", "restricted", "<unknown>"}
# A UUID names one call: its record, its setup metadata and the next step all key on
# it. Asterisk's ${UUID()} never repeats, so a repeat is a broken or hostile peer;
# remembering this many recent UUIDs keeps the check's memory bounded.
REMEMBERED_UUIDS = 10_000


class MetadataStore(Protocol):
    def claim(self, call_uuid: _uuid.UUID | str, now: float) -> CallMetadata: ...

    def set_decision(
        self, call_uuid: _uuid.UUID | str, action: Any, target: str = "", *, now: float
    ) -> Decision: ...

    def mark_ended(self, call_uuid: _uuid.UUID | str, now: float) -> None: ...


def decide(outcome: Outcome | None, end_reason: str | None) -> Decision | None:
    """What ``next`` should do after a call that ended with ``outcome`` (the
    conversation's, or None) for ``end_reason``. None: nothing was decided, and
    ``next`` applies ``VOICE_AGENT_FALLBACK_ACTION``."""
    if outcome is not None and outcome.kind == "transfer":
        target = outcome.target.dial if outcome.target is not None else ""
        try:
            return Decision("transfer", target)
        except ValueError as exc:
            # Company profiles are checked when loaded; still, never dial garbage.
            log.warning("transfer refused (%s); offering voicemail instead", exc)
            return Decision("voicemail")
    if outcome is not None and outcome.kind == "end":
        return Decision("voicemail" if outcome.reason == SHUTDOWN_REASON else "hangup")
    if end_reason == SHUTDOWN_REASON:
        return Decision("voicemail")
    return None


class CallFlow:
    def __init__(
        self,
        store: MetadataStore,
        *,
        require_setup: bool = False,
        clock: Callable[[], float] = trio.current_time,
        label: str = "",
        host: str = "",
    ) -> None:
        self.store = store
        self.host = host  # this agent host's name, claimed into the shared store
        self.blocking = bool(getattr(store, "blocking", False))
        self.require_setup = require_setup
        self.clock = clock
        self.label = label  # e.g. "worker 2 (pid 4242)", for the per-call log line
        self.refused = 0
        self._claimed: dict[_uuid.UUID, CallMetadata] = {}
        self._seen: OrderedDict[_uuid.UUID, None] = OrderedDict()

    # --- at identification -------------------------------------------------------------

    def accept(self, call: Call) -> bool | Awaitable[bool]:
        """``Call``'s accept hook: claim the setup metadata; refuse if required and none."""
        assert call.uuid is not None
        if call.uuid in self._seen:
            self.refused += 1
            log.warning(
                "call %s: refused: this UUID already named an earlier call"
                " (each call needs a fresh one, e.g. the dialplan's ${UUID()})",
                call.uuid,
            )
            return False
        if self.blocking:
            return self._accept_in_thread(call)
        try:
            metadata = self.store.claim(call.uuid, self.clock())
        except UnknownCallError as exc:
            return self._refused(call, exc)
        return self._accepted(call, metadata)

    async def _accept_in_thread(self, call: Call) -> bool:
        claim = functools.partial(self.store.claim, call.uuid, self.clock(), host=self.host)
        try:
            metadata = await trio.to_thread.run_sync(claim)
        except UnknownCallError as exc:
            return self._refused(call, exc)
        return self._accepted(call, metadata)

    def _refused(self, call: Call, exc: UnknownCallError) -> bool:
        where = f" on {self.label}" if self.label else ""
        if self.require_setup:
            self.refused += 1
            log.warning(
                "call %s: refused%s: %s (VOICE_AGENT_REQUIRE_SETUP is on)", call.uuid, where, exc
            )
            return False
        log.info("call %s: accepted%s without setup metadata", call.uuid, where)
        self._remember(call.uuid)
        return True

    def _accepted(self, call: Call, metadata: CallMetadata) -> bool:
        assert call.uuid is not None
        where = f" on {self.label}" if self.label else ""
        self._claimed[call.uuid] = metadata
        log.info("call %s: accepted%s, did=%s", call.uuid, where, Public(metadata.did or "-"))
        self._remember(call.uuid)
        return True

    def _remember(self, call_uuid: _uuid.UUID) -> None:
        self._seen[call_uuid] = None
        if len(self._seen) > REMEMBERED_UUIDS:
            self._seen.popitem(last=False)

    def metadata(self, call: Call) -> CallMetadata | None:
        return self._claimed.get(call.uuid) if call.uuid is not None else None

    def did_for(self, call: Call) -> str | None:
        metadata = self.metadata(call)
        return metadata.did or None if metadata is not None else None

    def caller_id_for(self, call: Call) -> str | None:
        metadata = self.metadata(call)
        if metadata is None or metadata.caller_id.strip().lower() in _NO_CALLER_ID:
            return None
        return metadata.caller_id.strip()

    # --- at the end --------------------------------------------------------------------

    def ended(self, call: Call) -> Decision | Awaitable[Decision | None] | None:
        """Store the decision for the ``next`` step (only for calls the setup issued)."""
        metadata = self._claimed.pop(call.uuid, None) if call.uuid is not None else None
        brain = call.brain
        outcome = brain.outcome if isinstance(brain, ConversationBrain) else None
        decision = decide(outcome, call.end_reason)
        if metadata is None:
            return decision
        if self.blocking:

            async def store_in_thread() -> Decision | None:
                store = functools.partial(self._store_decision, call, metadata, decision)
                return await trio.to_thread.run_sync(store)

            return store_in_thread()
        return self._store_decision(call, metadata, decision)

    def _store_decision(
        self, call: Call, metadata: CallMetadata, decision: Decision | None
    ) -> Decision | None:
        if decision is None:
            self.store.mark_ended(metadata.uuid, self.clock())
            return None
        try:
            self.store.set_decision(
                metadata.uuid, decision.action, decision.target, now=self.clock()
            )
        except UnknownCallError:
            log.warning(
                "call %s: its setup metadata expired; next will use the fallback", call.uuid
            )
            return decision
        log.info("call %s: decision for next: %s %s", call.uuid, decision.action, decision.target)
        return decision
