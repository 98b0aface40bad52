"""The host registry: which agent hosts are alive, how loaded, and where a call goes.

With one shared store (``VOICE_AGENT_DB=postgresql://...``) every ``serve``
registers itself in the ``hosts`` table (name, AudioSocket address, capacity,
calls in progress, draining) and writes a heartbeat. The FastAGI ``setup`` step,
answered by any host, asks ``pick_host`` for the call's host: the asking host
itself while it has room (no hop), else the least loaded live host with room.
A host whose heartbeat is older than ``dead_after_s`` gets no calls, and the
first live host that notices removes it (``reap``) and closes its calls.

``pick_host`` is pure (``now`` is a parameter); ``HostRegistry`` holds the SQL,
one short transaction per method (the caller runs them in a worker thread).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from agent.business.database import Database


@attrs.frozen
class Route:
    """Where setup sends a call: the host's name and its AudioSocket ``host:port``."""

    name: str
    address: str
    capacity: int = 0  # 0: no limit


Router = Callable[[float], Awaitable[Route | None]]  # now -> the call's host, or None


@attrs.frozen
class HostState:
    name: str
    address: str
    capacity: int  # calls it takes at most; 0: no limit
    active: int = 0  # calls in progress at its last heartbeat
    draining: bool = False  # shutting down: no new calls
    heartbeat_at: float = 0.0
    # Calls routed to it and not over (on their way, or claimed by it): exact at once,
    # where ``active`` lags by a tick; ``active`` also counts calls without a setup.
    in_flight: int = 0

    @property
    def load(self) -> int:
        return max(self.active, self.in_flight)

    def alive(self, now: float, dead_after_s: float) -> bool:
        return now - self.heartbeat_at < dead_after_s

    @property
    def has_room(self) -> bool:
        return not self.draining and (self.capacity == 0 or self.load < self.capacity)

    def route(self) -> Route:
        return Route(self.name, self.address, self.capacity)


def pick_host(
    hosts: Sequence[HostState], me: str, now: float, dead_after_s: float
) -> HostState | None:
    """The host for a new call: ``me`` while it is alive with room, else the live
    host with room that is least loaded (by share of capacity), else None."""
    open_ = [h for h in hosts if h.alive(now, dead_after_s) and h.has_room]
    for host in open_:
        if host.name == me:
            return host
    if not open_:
        return None
    return min(open_, key=lambda h: (h.load / h.capacity if h.capacity else 0.0, h.load, h.name))


class HostRegistry:
    """The ``hosts`` table of the shared store (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _write(self, fn: Callable[[Any], Any]) -> Any:
        return self.db.run_sync(self.db.transaction(fn))

    def register(self, name: str, address: str, capacity: int, now: float) -> None:
        """Join (or rejoin after a restart) with no calls and a fresh heartbeat."""
        self._write(
            lambda c: c.execute(
                "INSERT INTO hosts (name, address, capacity, active, draining, started_at,"
                " heartbeat_at) VALUES (?, ?, ?, 0, 0, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " address = excluded.address, capacity = excluded.capacity, active = 0,"
                " draining = 0, started_at = excluded.started_at,"
                " heartbeat_at = excluded.heartbeat_at",
                (name, address, capacity, now, now),
            )
        )

    def heartbeat(self, name: str, active: int, draining: bool, now: float) -> bool:
        """Write this host's load; False when its row is gone (another host took it
        for dead: the caller registers again)."""
        return bool(
            self._write(
                lambda c: (
                    c.execute(
                        "UPDATE hosts SET active = ?, draining = ?, heartbeat_at = ?"
                        " WHERE name = ?",
                        (active, int(draining), now, name),
                    ).rowcount
                )
            )
        )

    def hosts(self, now: float) -> list[HostState]:
        """Every registered host with its calls in flight (routed to it, not over)."""
        rows = self.db.run_sync(
            lambda c: c.execute(
                "SELECT name, address, capacity, active, draining, heartbeat_at,"
                " (SELECT count(*) FROM live_calls l WHERE l.host = hosts.name"
                " AND l.ended = 0 AND l.expires_at > ?) AS in_flight FROM hosts ORDER BY name",
                (now,),
            ).fetchall()
        )
        return [HostState(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows]

    def reap(self, now: float, dead_after_s: float, me: str | None = None) -> list[str]:
        """Remove the hosts silent for ``dead_after_s``; returns their names (exactly
        one caller gets each name, so one host closes a dead host's calls). Never
        ``me``, the reaping host: it is alive, however late its own heartbeat was
        written (a stalled loop or a slow store), and must not close its own calls."""
        rows = self._write(
            lambda c: c.execute(
                "DELETE FROM hosts WHERE heartbeat_at <= ? AND name <> ? RETURNING name",
                (now - dead_after_s, me or ""),
            ).fetchall()
        )
        return sorted(r[0] for r in rows)

    def leave(self, name: str) -> None:
        self._write(lambda c: c.execute("DELETE FROM hosts WHERE name = ?", (name,)))
