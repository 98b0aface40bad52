"""This ``serve`` as one of several agent hosts sharing a PostgreSQL store.

When ``VOICE_AGENT_DB`` names PostgreSQL, ``serve`` keeps the calls in flight in
the shared store (``agent.pbx.callmeta_store``) and joins the host registry
(``agent.pbx.hosts``): ``HostMember.run`` registers this host, writes its calls
in progress and draining state at every change (at once: a draining host stops
getting calls within a tick) and every ``VOICE_AGENT_HEARTBEAT_S``, and removes
hosts silent for ``VOICE_AGENT_HOST_DEAD_AFTER_S``: their calls' ``next`` steps are
released and their unfinished call records closed ``interrupted``. FastAGI's
``setup`` asks ``HostMember.route`` where each new call goes.

Single-host sites (a SQLite ``VOICE_AGENT_DB``) never get here.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio

from agent.base.config import ServerSettings
from agent.base.errors import ConfigError
from agent.base.settings import Env
from agent.business.database import Database
from agent.observe.records import host_name
from agent.pbx.callmeta_store import CallMetadataStore
from agent.pbx.hosts import HostRegistry, Route, pick_host

log = logging.getLogger(__name__)

TICK_S = 0.1  # how soon a change of load or draining reaches the registry
_ANY = {"0.0.0.0", "::", ""}


@attrs.frozen
class HostSettings:
    name: str
    address: str  # where other hosts' setup sends this host's calls: host:port
    capacity: int  # VOICE_AGENT_MAX_CALLS; 0: no limit
    heartbeat_s: float
    dead_after_s: float

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | Env | None, server: ServerSettings, capacity: int
    ) -> HostSettings:
        reader = Env.of(env)
        address = reader.get("VOICE_AGENT_ADVERTISE_ADDR")
        if not address:
            if server.host in _ANY or not server.port:
                raise ConfigError(
                    f"VOICE_AGENT_ADVERTISE_ADDR is not set: with a shared PostgreSQL store"
                    f" other hosts need this host's AudioSocket address, and"
                    f" {server.host or '*'}:{server.port} is not one they can dial"
                )
            address = f"{server.host}:{server.port}"
        heartbeat_s = reader.get("VOICE_AGENT_HEARTBEAT_S")
        dead_after_s = reader.get("VOICE_AGENT_HOST_DEAD_AFTER_S")
        if dead_after_s <= 2 * heartbeat_s:
            raise ConfigError(
                f"VOICE_AGENT_HOST_DEAD_AFTER_S={dead_after_s:g} must be more than twice"
                f" VOICE_AGENT_HEARTBEAT_S={heartbeat_s:g}, or live hosts are taken for dead"
            )
        return cls(host_name(reader), address, capacity, heartbeat_s, dead_after_s)


class HostMember:
    """This host in the registry; see the module docstring."""

    def __init__(
        self,
        db: Database,
        settings: HostSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.registry = HostRegistry(db)
        self.calls = CallMetadataStore(db)
        self.active = 0
        self.stopping: Callable[[], bool] = lambda: False  # set by run()
        self.reaped: list[str] = []  # the dead hosts this one closed, for tests and logs

    def load_changed(self, active: int) -> None:
        """The call registry's hook: the next tick writes the new count."""
        self.active = active

    async def route(self, now: float) -> Route | None:
        """Setup's router: this host while it has room, else the least loaded live one."""
        hosts = await trio.to_thread.run_sync(self.registry.hosts, now)
        if self.stopping():  # draining: not even for the tick before the registry knows
            hosts = [h for h in hosts if h.name != self.settings.name]
        chosen = pick_host(hosts, self.settings.name, now, self.settings.dead_after_s)
        return chosen.route() if chosen is not None else None

    async def run(
        self,
        stopping: Callable[[], bool],
        records: Callable[[], Any] = lambda: None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Register, then heartbeat until cancelled; leave the registry at the end.
        ``stopping()`` tells a draining host; ``records()`` gives the record store
        (or None) in which a dead host's unfinished calls are closed."""
        s = self.settings
        self.stopping = stopping
        await self._register()
        log.info(
            "host %s joined the registry: AudioSocket %s, capacity %s",
            s.name,
            s.address,
            s.capacity or "unlimited",
        )
        task_status.started()
        written: tuple[int, bool] = (self.active, False)
        last_beat = last_reap = trio.current_time()
        try:
            while True:
                await trio.sleep(TICK_S)
                state = (self.active, stopping())
                now = trio.current_time()
                if state != written or now - last_beat >= s.heartbeat_s:
                    await self._beat(*state)
                    if state[1] and not written[1]:
                        log.info("host %s is draining: the other hosts take new calls", s.name)
                    written, last_beat = state, now
                if now - last_reap >= s.heartbeat_s:
                    last_reap = now
                    await self._reap(records())
        finally:
            # Shielded but bounded: a store that is gone must not hold up the exit
            # (the others then take this host for dead after dead_after_s).
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await trio.to_thread.run_sync(self.registry.leave, s.name, abandon_on_cancel=True)
                log.info("host %s left the registry", s.name)

    async def _register(self) -> None:
        s = self.settings
        await trio.to_thread.run_sync(
            self.registry.register, s.name, s.address, s.capacity, self.clock()
        )

    async def _beat(self, active: int, draining: bool) -> None:
        s = self.settings
        beat = self.registry.heartbeat
        if not await trio.to_thread.run_sync(beat, s.name, active, draining, self.clock()):
            # Taken for dead (a long pause): join again, with the load it has now.
            log.warning("host %s was taken for dead by another host; registering again", s.name)
            await self._register()
            await trio.to_thread.run_sync(beat, s.name, active, draining, self.clock())

    async def _reap(self, records: Any) -> None:
        now = self.clock()
        s = self.settings
        dead = await trio.to_thread.run_sync(self.registry.reap, now, s.dead_after_s, s.name)
        for name in dead:
            released = await trio.to_thread.run_sync(self.calls.end_calls_of, name)
            closed = 0
            if records is not None:
                closed = await records.close_unfinished(
                    now, host=name, reason="host-lost", ended_at=now
                )
            self.reaped.append(name)
            log.warning(
                "host %s is silent for %.0f s: it gets no calls; %d of its calls closed"
                " interrupted (%d next steps released)",
                name,
                self.settings.dead_after_s,
                closed,
                released,
            )


def run_host_service(
    server: ServerSettings,
    settings: Any,
    agi: Any,
    env: Mapping[str, str] | Env | None,
    host: HostSettings | None = None,
) -> int:
    """``serve`` on a PostgreSQL store: the service plus its place in the registry."""
    from agent.observe.metrics import metrics_address
    from agent.service.serve import Service
    from agent.service.wiring import open_store

    host = host or HostSettings.from_env(env, server, agi.max_calls)
    db = open_store(env)
    member = HostMember(db, host)
    service = Service(
        server,
        settings,
        agi=agi,
        store=member.calls,
        clock=time.time,  # the one clock every host shares
        metrics_address=metrics_address(),
        observe=True,
        on_load=member.load_changed,
        router=member.route,
        host=host.name,
        label=f"host {host.name}",
    )

    def records() -> Any:
        return getattr(service.observability, "store", None)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(member.run, lambda: service.stopping, records)
            await service.run()
            nursery.cancel_scope.cancel()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            trio.run(main)
    finally:
        db.close()
    return 0
