"""The end of a serving process: drain the calls, then wait for their ``next`` steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio

from agent.media.call import Call
from agent.media.server import CallRegistry
from agent.pbx.callflow import SHUTDOWN_REASON
from agent.pbx.fastagi import SessionCount

log = logging.getLogger(__name__)


def end_politely(call: Call, reason: str = SHUTDOWN_REASON) -> None:
    """A goodbye from the conversation, then a 0x00; a plain hang-up before the brain."""
    if call.brain is not None:
        call.brain.end_politely(reason)
    else:
        call.hangup(reason)


async def drain_calls(
    registry: CallRegistry,
    scope: trio.CancelScope,
    *,
    goodbye_s: float,
    hangup_s: float,
    calls_nursery: trio.Nursery | None = None,
) -> str:
    """Let the calls end by themselves while ``scope`` runs (its deadline is the drain
    time; cancelling it hurries), then end the rest politely, then by force.

    Returns how it went: ``idle``, ``polite``, ``hung-up`` or ``cancelled``."""
    with scope:
        await registry.wait_idle()
    if not registry.active:
        return "idle"
    log.warning("drain over: ending %d calls politely", len(registry.active))
    for call in list(registry.active):
        end_politely(call)
    with trio.move_on_after(goodbye_s):
        await registry.wait_idle()
    if not registry.active:
        return "polite"
    log.warning("%d calls still up after the goodbye; hanging up", len(registry.active))
    for call in list(registry.active):
        call.hangup(SHUTDOWN_REASON)
    with trio.move_on_after(hangup_s):
        await registry.wait_idle()
    if not registry.active:
        return "hung-up"
    if calls_nursery is not None:
        calls_nursery.cancel_scope.cancel()
    return "cancelled"


async def wait_for_next_steps(
    store: Any, clock: Callable[[], float], grace_s: float, sessions: SessionCount
) -> None:
    """Keep FastAGI up until every decided call has had its ``next`` step and every
    session of ``sessions`` has ended (or grace_s): a session cancelled mid-reply
    resets Asterisk's connection."""
    with trio.move_on_after(grace_s):
        while await _awaiting_next(store, clock()) or sessions.open:
            await trio.sleep(0.05)


async def _awaiting_next(store: Any, now: float) -> int:
    if getattr(store, "blocking", False):  # the shared store of several hosts
        return await trio.to_thread.run_sync(store.awaiting_next, now)
    return store.awaiting_next(now)
