"""The AudioSocket server: one task and one call nursery per connection."""

from __future__ import annotations

import logging

import trio

from agent.audiosocket import Role
from agent.call import BrainFactory, Call
from agent.config import ServerSettings
from agent.stream import AudioSocketStream
from dsp import PacerParams, VadParams

log = logging.getLogger("agent.server")


class CallRegistry:
    """The calls in progress, for capacity checks, drain and statistics()."""

    def __init__(self) -> None:
        self.active: set[Call] = set()
        self.total = 0
        self.ended_by_reason: dict[str, int] = {}

    def statistics(self) -> dict[str, object]:
        return {
            "active_calls": len(self.active),
            "total_calls": self.total,
            "ended_by_reason": dict(self.ended_by_reason),
        }


async def handle_connection(
    stream: trio.abc.Stream,
    settings: ServerSettings,
    brain_factory: BrainFactory,
    *,
    registry: CallRegistry | None = None,
    vad_params: VadParams | None = None,
    pacer_params: PacerParams | None = None,
) -> Call:
    """Serve one AudioSocket connection to its end. Never raises for call failures."""
    call = Call(
        AudioSocketStream(stream, Role.SERVER),
        settings,
        brain_factory,
        vad_params=vad_params,
        pacer_params=pacer_params,
    )
    registry = registry if registry is not None else CallRegistry()
    registry.active.add(call)
    registry.total += 1
    try:
        reason = await call.run()
    except Exception:  # a bug in one call must never take the server down
        reason = "crashed"
        log.exception("call %s: crashed", call.name)
    finally:
        registry.active.discard(call)
    registry.ended_by_reason[reason] = registry.ended_by_reason.get(reason, 0) + 1
    return call


async def serve_audiosocket(
    settings: ServerSettings,
    brain_factory: BrainFactory,
    *,
    registry: CallRegistry | None = None,
    vad_params: VadParams | None = None,
    pacer_params: PacerParams | None = None,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``settings.host:settings.port`` and serve calls until cancelled.

    ``task_status.started`` gets the listeners (port 0 picks a free port).
    """
    registry = registry if registry is not None else CallRegistry()

    async def handler(stream: trio.SocketStream) -> None:
        await handle_connection(
            stream,
            settings,
            brain_factory,
            registry=registry,
            vad_params=vad_params,
            pacer_params=pacer_params,
        )

    listeners = await trio.open_tcp_listeners(settings.port, host=settings.host)
    for listener in listeners:
        sockname = listener.socket.getsockname()
        log.info("AudioSocket server listening on %s:%s", sockname[0], sockname[1])
    task_status.started(listeners)
    await trio.serve_listeners(handler, listeners)
