"""The FastAGI server: the dialplan's ``setup`` and ``next`` steps around a call.

``AGI(agi://127.0.0.1:4573/setup)`` runs before ``AudioSocket()``: it issues the
call's UUID, keeps the channel's metadata under it in the ``CallMetadataStore``
and sets ``VOICE_AGENT_UUID`` and ``VOICE_AGENT_STATUS=ok``; at capacity, or
while the service shuts down, it sets ``VOICE_AGENT_STATUS=busy`` instead, so
the dialplan routes to its fallback.

``AGI(agi://127.0.0.1:4573/next,${VOICE_AGENT_UUID})`` (or ``next?uuid=...``)
runs after the agent ended its side and sets ``VOICE_AGENT_ACTION``
(transfer | voicemail | hangup) and ``VOICE_AGENT_TARGET`` from the decision the
conversation stored. Asterisk runs it as soon as our 0x00 arrives, which can be
a moment before the decision is stored (in another process, with workers), so it
first waits up to ``next_wait_s`` while the call is still in progress.

The store is ``agent.pbx.callmeta_store.CallMetadataStore``: in memory in one
process, on a SQLite file with workers, whose ``clock`` is then ``time.monotonic``
in every process, or on the agent's PostgreSQL store with several hosts (its calls
run in a worker thread, clock ``time.time``). With
several hosts a ``router`` picks the host of each call (``agent.pbx.hosts``): setup
sets ``VOICE_AGENT_ADDR`` to its AudioSocket address, and answers busy when no live
host has room.

Every session sets ``VOICE_AGENT_STATUS`` (ok, busy, no-decision, unknown-uuid,
error), so the dialplan can always tell what happened; an unreachable server
leaves it unset and makes ``AGISTATUS=FAILURE``.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid as _uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import trio

from agent.base.errors import AgentError, ProtocolError
from agent.base.logs import Public
from agent.base.settings import read_settings, setting
from agent.pbx.callmeta import CallMetadata, UnknownCallError
from agent.pbx.callmeta_store import CallMetadataStore
from agent.pbx.hosts import Route, Router
from agent.wire import agi

log = logging.getLogger(__name__)

_DIALLED = re.compile(r"\+?[0-9*#]+")
_ROUTE_TRIES = 3  # a host filled between the choice and the store: choose again


class AgiSessionError(AgentError):
    """The AGI session ended early: Asterisk closed, went quiet or the socket broke."""


@attrs.frozen
class AgiSettings:
    host: str = setting("VOICE_AGENT_AGI_HOST")
    port: int = setting("VOICE_AGENT_AGI_PORT")
    # Calls in progress plus setups not yet connected; 0 means no limit.
    max_calls: int = setting("VOICE_AGENT_MAX_CALLS")
    # How long we wait for each line from Asterisk before giving up on the session.
    read_timeout_s: float = setting("VOICE_AGENT_AGI_TIMEOUT_S")
    # The whole session, however Asterisk trickles its bytes (setup and next each
    # take a few milliseconds; next waits up to next_wait_s for the decision).
    session_s: float = setting("VOICE_AGENT_AGI_SESSION_S")
    # Sessions at once; a connection above it is closed with one log line.
    max_sessions: int = setting("VOICE_AGENT_AGI_MAX_SESSIONS")
    # How often unclaimed metadata is swept (it expires after the store's pending TTL).
    sweep_interval_s: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    # What ``next`` tells the dialplan when the conversation decided nothing.
    fallback_action: str = setting("VOICE_AGENT_FALLBACK_ACTION")
    # Asterisk runs ``next`` as soon as our 0x00 arrives, which can be a moment
    # before the call's decision is stored: ``next`` waits up to this long for it.
    next_wait_s: float = attrs.field(default=2.0, validator=attrs.validators.ge(0))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AgiSettings:
        return read_settings(cls, env)


class AgiSession:
    """One AGI dialogue over a byte stream: environment first, then command/reply."""

    def __init__(self, stream: trio.abc.Stream, *, read_timeout_s: float) -> None:
        self._stream = stream
        self._conn = agi.AgiConnection()
        self._read_timeout_s = read_timeout_s

    @property
    def hung_up(self) -> bool:
        """Asterisk said HANGUP: the caller is gone, only dead-safe commands work."""
        return self._conn.hung_up

    async def read_environment(self) -> agi.Environment:
        event = await self._next_event()
        if not isinstance(event, agi.Environment):  # the codec sends nothing else first
            raise AgiSessionError("AGI: closed before the environment")
        return event

    async def command(self, line: str) -> agi.Reply:
        data = self._conn.send_command(line)
        try:
            await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise AgiSessionError(f"AGI: connection lost sending {line!r}") from exc
        while True:
            event = await self._next_event()
            if isinstance(event, agi.Reply):
                return event
            if event is agi.CLOSED:
                raise AgiSessionError(f"AGI: Asterisk closed while we waited for {line!r}")
            # A HangupNotice: recorded by the codec; the reply is still to come.

    async def _next_event(self) -> agi.Event | agi.Sentinel:
        while True:
            event = self._conn.next_event()
            if event is not agi.NEED_DATA:
                return event
            try:
                with trio.fail_after(self._read_timeout_s):
                    data = await self._stream.receive_some(4096)
            except trio.TooSlowError as exc:
                raise AgiSessionError(
                    f"AGI: nothing from Asterisk for {self._read_timeout_s} s"
                ) from exc
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise AgiSessionError("AGI: connection lost") from exc
            self._conn.receive_data(data)


@attrs.frozen
class _Context:
    settings: AgiSettings
    store: CallMetadataStore
    active_calls: Callable[[], int]
    # The store's clock (several worker processes need one clock they all share).
    clock: Callable[[], float] = trio.current_time
    # False while the service shuts down: setup answers busy, next still works.
    accepting: Callable[[], bool] = lambda: True
    # Several hosts: the live host with room for a new call (None: all full or dead).
    router: Router | None = None


async def _store(ctx: _Context, name: str, *args: object) -> Any:
    """Call the store's method ``name``; a store on the network runs it in a thread."""
    method = getattr(ctx.store, name)
    if getattr(ctx.store, "blocking", False):
        return await trio.to_thread.run_sync(functools.partial(method, *args))
    return method(*args)


Script = Callable[[AgiSession, agi.Environment, _Context], Awaitable[str]]


async def _set(session: AgiSession, name: str, value: str) -> None:
    reply = await session.command(agi.set_variable(name, value))
    if not reply.ok:
        raise AgiSessionError(f"AGI: SET VARIABLE {name} failed: {reply.code} {reply.text}")


def _did(env: agi.Environment) -> str:
    """The dialled number: the extension on a ``_X.`` context, else the DNID."""
    if _DIALLED.fullmatch(env.extension):
        return env.extension
    return env.dnid


async def _setup(session: AgiSession, env: agi.Environment, ctx: _Context) -> str:
    now = ctx.clock()
    await _store(ctx, "expire", now)
    if ctx.router is not None:
        return await _routed_setup(session, env, ctx, now)
    if not ctx.accepting():
        await _set(session, "VOICE_AGENT_STATUS", "busy")
        await session.command(agi.verbose("voice-agent: shutting down, not taking calls", 2))
        log.warning("setup %s: busy, the agent is shutting down", env.channel)
        return "busy"
    limit = ctx.settings.max_calls
    in_use = ctx.active_calls() + await _store(ctx, "pending_count", now)
    if limit and in_use >= limit:
        await _set(session, "VOICE_AGENT_STATUS", "busy")
        await session.command(agi.verbose(f"voice-agent: at capacity ({in_use}/{limit})", 2))
        log.warning("setup %s: busy, %d of %d calls in use", env.channel, in_use, limit)
        return "busy"
    return await _issue(session, env, ctx, now, None)


async def _routed_setup(
    session: AgiSession, env: agi.Environment, ctx: _Context, now: float
) -> str:
    # The host's room is checked again as the call is stored (in one transaction):
    # a setup on another host may have taken the last place since the choice.
    for _ in range(_ROUTE_TRIES):
        route = await ctx.router(now) if ctx.router is not None else None
        if route is None:
            break
        issued = await _issue(session, env, ctx, now, route)
        if issued != "full":
            return issued
    await _set(session, "VOICE_AGENT_STATUS", "busy")
    await session.command(agi.verbose("voice-agent: no agent host with room", 2))
    log.warning("setup %s: busy, no live agent host has room", env.channel)
    return "busy"


async def _issue(
    session: AgiSession, env: agi.Environment, ctx: _Context, now: float, route: Route | None
) -> str:
    metadata = CallMetadata(
        uuid=_uuid.uuid4(),
        did=_did(env),
        caller_id=env.callerid,
        caller_name=env.calleridname,
        channel=env.channel,
        uniqueid=env.uniqueid,
        context=env.get("context"),
        host=route.name if route is not None else "",
    )
    if route is None:
        await _store(ctx, "add", metadata, now)
    elif not await _store(ctx, "add_if_room", metadata, now, route.capacity):
        return "full"
    try:
        await _set(session, "VOICE_AGENT_UUID", str(metadata.uuid))
        if route is not None:
            await _set(session, "VOICE_AGENT_ADDR", route.address)
        await _set(session, "VOICE_AGENT_STATUS", "ok")
    except BaseException:
        with trio.CancelScope(shield=True):
            await _store(ctx, "discard", metadata.uuid)
        raise
    if session.hung_up:  # no AudioSocket call will come for this one
        await _store(ctx, "discard", metadata.uuid)
        log.info("setup %s: caller hung up during setup", env.channel)
        return "hangup"
    log.info(
        "setup %s: call %s did=%s caller=%s%s",
        env.channel,
        metadata.uuid,
        Public(metadata.did),
        metadata.caller_id,
        f" -> {route.name} {route.address}" if route is not None else "",
    )
    return "ok"


async def _next(session: AgiSession, env: agi.Environment, ctx: _Context) -> str:
    raw = env.args[0] if env.args else env.query.get("uuid", "")
    action, target = ctx.settings.fallback_action, ""
    with trio.move_on_after(ctx.settings.next_wait_s):
        while await _store(ctx, "in_call", raw, ctx.clock()):
            await trio.sleep(0.01)
    try:
        decision = await _store(ctx, "take_decision", raw, ctx.clock())
    except UnknownCallError:
        status = "unknown-uuid"
        log.warning("next %s: unknown or expired call uuid %r", env.channel, raw)
    else:
        status = "no-decision" if decision is None else "ok"
        if decision is not None:
            action, target = decision.action, decision.target
        log.info("next %s: call %s -> %s %s (%s)", env.channel, raw, action, target, status)
    await _set(session, "VOICE_AGENT_ACTION", action)
    await _set(session, "VOICE_AGENT_TARGET", target)
    await _set(session, "VOICE_AGENT_STATUS", status)
    return status


SCRIPTS: dict[str, Script] = {"setup": _setup, "next": _next}


async def _unknown(session: AgiSession, env: agi.Environment) -> str:
    known = ", ".join(sorted(SCRIPTS))
    message = f"voice-agent: unknown AGI script {env.script!r} (known: {known})"
    log.warning("%s from %s", message, env.channel or "?")
    await session.command(agi.verbose(message, 1))
    await _set(session, "VOICE_AGENT_STATUS", "error")
    return "unknown-script"


async def handle_agi_connection(
    stream: trio.abc.Stream,
    settings: AgiSettings,
    store: CallMetadataStore,
    *,
    active_calls: Callable[[], int] = lambda: 0,
    clock: Callable[[], float] = trio.current_time,
    accepting: Callable[[], bool] = lambda: True,
    router: Router | None = None,
) -> str:
    """Serve one FastAGI session and close it; returns its outcome. Never raises for
    session failures (they are logged): the outcome is the status set, or
    ``"failed"``."""
    ctx = _Context(settings, store, active_calls, clock, accepting, router)
    async with stream:
        session = AgiSession(stream, read_timeout_s=settings.read_timeout_s)
        with trio.move_on_after(settings.session_s):
            try:
                env = await session.read_environment()
                script = SCRIPTS.get(env.script)
                if script is None:
                    return await _unknown(session, env)
                return await script(session, env, ctx)
            except (AgiSessionError, ProtocolError) as exc:
                log.warning("FastAGI session failed: %s", exc)
                return "failed"
        log.warning(
            "FastAGI session failed: not over after %.1f s (VOICE_AGENT_AGI_SESSION_S)",
            settings.session_s,
        )
        return "failed"


async def _sweep(
    store: CallMetadataStore, interval_s: float, clock: Callable[[], float] = trio.current_time
) -> None:
    ctx = _Context(AgiSettings(), store, lambda: 0, clock)
    while True:
        await trio.sleep(interval_s)
        gone = await _store(ctx, "expire", clock())
        if gone:
            log.info("expired %d call metadata entries never claimed or finished", gone)


@attrs.define
class SessionCount:
    """FastAGI sessions open now: a shutdown lets the last ``next`` step read
    Asterisk's replies and close cleanly instead of resetting its connection."""

    open: int = 0


async def serve_fastagi(
    settings: AgiSettings,
    store: CallMetadataStore,
    *,
    active_calls: Callable[[], int] = lambda: 0,
    clock: Callable[[], float] = trio.current_time,
    accepting: Callable[[], bool] = lambda: True,
    router: Router | None = None,
    sessions: SessionCount | None = None,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``settings.host:settings.port`` until cancelled.

    ``active_calls`` gives the number of AudioSocket calls in progress (for the
    ``max_calls`` limit); ``clock`` is the store's clock; while ``accepting()`` is
    False (shutting down) setup answers busy; ``task_status.started`` gets the
    listeners; ``sessions`` counts the sessions open (a shutdown waits for them).
    """
    count = sessions if sessions is not None else SessionCount()

    async def handler(stream: trio.SocketStream) -> None:
        if count.open >= settings.max_sessions:
            log.warning(
                "FastAGI connection refused: %d sessions open (VOICE_AGENT_AGI_MAX_SESSIONS)",
                count.open,
            )
            await trio.aclose_forcefully(stream)
            return
        count.open += 1
        try:
            await handle_agi_connection(
                stream,
                settings,
                store,
                active_calls=active_calls,
                clock=clock,
                accepting=accepting,
                router=router,
            )
        except Exception:  # one broken session must never take the server down
            log.exception("FastAGI session crashed")
        finally:
            count.open -= 1

    listeners = await trio.open_tcp_listeners(settings.port, host=settings.host)
    for listener in listeners:
        host, port = listener.socket.getsockname()[:2]
        log.info("FastAGI server listening on %s:%s", host, port)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_sweep, store, settings.sweep_interval_s, clock)
        task_status.started(listeners)
        await trio.serve_listeners(handler, listeners)
