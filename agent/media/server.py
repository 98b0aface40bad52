"""The AudioSocket server: one task and one call nursery per connection.

``serve_audiosocket`` accepts connections until cancelled. With a
``handler_nursery`` the calls run there rather than under the accept loop, so
cancelling the accept loop (closing the listeners, as a graceful shutdown does)
leaves the calls in progress running; ``CallRegistry.wait_idle`` then tells
when the last one has ended. All the calls of one server share one media clock
(``agent.media.clock``): one task sends every call's frames.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Sequence

import trio

from agent.base.config import ServerSettings
from agent.media.call import BrainFactory, Call
from agent.media.clock import MediaClock
from agent.media.stream import AudioSocketStream
from agent.wire.audiosocket import Role
from dsp import PacerParams, VadParams

log = logging.getLogger(__name__)

# Asked once a connection has sent its UUID; False refuses the call (see Call).
AcceptCall = Callable[[Call], bool | Awaitable[bool]]  # awaited when awaitable
CallEnded = Callable[[Call], object]  # awaited when awaitable


class CallRegistry:
    """The calls in progress, for capacity checks, drain and statistics()."""

    def __init__(self, on_change: Callable[[int], None] | None = None) -> None:
        self.active: set[Call] = set()
        self.total = 0
        self.ended_by_reason: dict[str, int] = {}
        # The UUIDs of the identified calls in progress: a second connection with
        # one of them is refused (its records and decision would collide).
        self.live: dict[uuidlib.UUID, Call] = {}
        # Open AudioSocket connections, identified or not, and those refused.
        self.connections = 0
        self.refused_connections = 0
        self.duplicates = 0
        # Told the number of calls in progress whenever it changes (worker load).
        self.on_change = on_change
        self._idle: trio.Event | None = None

    def add(self, call: Call) -> None:
        self.active.add(call)
        self.total += 1
        self._changed()

    def discard(self, call: Call) -> None:
        self.active.discard(call)
        if call.uuid is not None and self.live.get(call.uuid) is call:
            del self.live[call.uuid]
        self._changed()

    def identified(self, call: Call) -> bool:
        """Note ``call``'s UUID; False (one log line) if a live call already has it."""
        assert call.uuid is not None
        if call.uuid in self.live:
            self.duplicates += 1
            log.warning("call %s: refused: a call with this UUID is already in progress", call.uuid)
            return False
        self.live[call.uuid] = call
        return True

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(len(self.active))
        if not self.active and self._idle is not None:
            self._idle.set()
            self._idle = None

    async def wait_idle(self) -> None:
        """Return once no call is in progress (at once if none is)."""
        if not self.active:
            return
        if self._idle is None:
            self._idle = trio.Event()
        await self._idle.wait()

    def statistics(self) -> dict[str, object]:
        return {
            "active_calls": len(self.active),
            "total_calls": self.total,
            "ended_by_reason": dict(self.ended_by_reason),
            "connections": self.connections,
            "refused_connections": self.refused_connections,
            "duplicate_uuids": self.duplicates,
        }


async def handle_connection(
    stream: trio.abc.Stream,
    settings: ServerSettings,
    brain_factory: BrainFactory,
    *,
    registry: CallRegistry | None = None,
    vad_params: VadParams | None = None,
    pacer_params: PacerParams | None = None,
    accept: AcceptCall | None = None,
    on_ended: CallEnded | None = None,
    clock: MediaClock | None = None,
) -> Call:
    """Serve one AudioSocket connection to its end. Never raises for call failures.

    ``accept`` is asked once the call has identified itself (False closes it);
    ``on_ended`` is told when the call is over (its outcome, for the ``next`` step).
    """
    registry = registry if registry is not None else CallRegistry()

    def admit(call: Call) -> bool:
        if not registry.identified(call):
            return False
        return accept is None or accept(call)

    call = Call(
        AudioSocketStream(stream, Role.SERVER),
        settings,
        brain_factory,
        vad_params=vad_params,
        pacer_params=pacer_params,
        accept=admit,
        clock=clock,
    )
    registry.add(call)
    try:
        reason = await call.run()
    except Exception:  # a bug in one call must never take the server down
        reason = "crashed"
        log.exception("call %s: crashed", call.name)
    finally:
        registry.discard(call)
    registry.ended_by_reason[reason] = registry.ended_by_reason.get(reason, 0) + 1
    if on_ended is not None and reason != "refused":
        try:
            stored = on_ended(call)
            if inspect.isawaitable(stored):  # a store on the network, from a thread
                await stored
        except Exception:
            log.exception("call %s: end hook failed", call.name)
    call.release()
    return call


async def serve_audiosocket(
    settings: ServerSettings,
    brain_factory: BrainFactory,
    *,
    registry: CallRegistry | None = None,
    vad_params: VadParams | None = None,
    pacer_params: PacerParams | None = None,
    accept: AcceptCall | None = None,
    on_ended: CallEnded | None = None,
    listeners: Sequence[trio.abc.Listener[trio.abc.Stream]] | None = None,
    handler_nursery: trio.Nursery | None = None,
    task_status: trio.TaskStatus[list[trio.abc.Listener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``settings.host:settings.port`` and serve calls until cancelled.

    ``task_status.started`` gets the listeners (port 0 picks a free port).
    ``listeners`` replaces the TCP listeners (e.g. SO_REUSEPORT sockets made by a
    worker); they are closed when this returns. Calls run in ``handler_nursery``
    when given, so they outlive a cancelled accept loop.
    """
    registry = registry if registry is not None else CallRegistry()
    limit = settings.connection_limit

    async def handler(stream: trio.abc.Stream, clock: MediaClock) -> None:
        if limit and registry.connections >= limit:
            registry.refused_connections += 1
            log.warning(
                "AudioSocket connection from %s refused: %d connections open"
                " (VOICE_AGENT_MAX_CONNECTIONS=%d)",
                _peer(stream),
                registry.connections,
                limit,
            )
            await trio.aclose_forcefully(stream)
            return
        registry.connections += 1
        try:
            await handle_connection(
                stream,
                settings,
                brain_factory,
                registry=registry,
                vad_params=vad_params,
                pacer_params=pacer_params,
                accept=accept,
                on_ended=on_ended,
                clock=clock,
            )
        finally:
            registry.connections -= 1

    if listeners is None:
        listeners = await trio.open_tcp_listeners(settings.port, host=settings.host)
    for listener in listeners:
        if isinstance(listener, trio.SocketListener):
            sockname = listener.socket.getsockname()
            log.info("AudioSocket server listening on %s:%s", sockname[0], sockname[1])
    async with trio.open_nursery() as own:
        # The clock's task runs beside the calls (it ends with the last one), so
        # with a handler_nursery it outlives this accept loop as they do.
        clock = MediaClock(handler_nursery or own)
        await trio.serve_listeners(
            functools.partial(handler, clock=clock),
            list(listeners),
            handler_nursery=handler_nursery or own,
            task_status=task_status,
        )


def _peer(stream: trio.abc.Stream) -> str:
    sock = getattr(stream, "socket", None)
    try:
        host, port = sock.getpeername()[:2]  # type: ignore[union-attr]
    except (AttributeError, OSError):
        return "?"
    return f"{host}:{port}"
