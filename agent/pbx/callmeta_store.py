"""The call metadata store (the flow: ``agent.pbx.callmeta``) in the agent's store
(``agent.business.database``), the one implementation for every way ``serve`` runs.

The metadata, the claim, the conversation's decision and the ``next`` step meet in
the ``live_calls`` table (``agent.business.schema``):

* one process: ``CallMetadataStore.in_memory()``, a private SQLite database in
  memory that lives as long as the store (calls in flight only; a restart ends
  them anyway).
* ``serve --workers N``: a SQLite file in the parent's temporary directory that
  every worker opens. The FastAGI ``setup`` runs in the parent and the AudioSocket
  leg lands in any worker. Each worker's number of calls in progress
  (``set_load``) is kept there too, so the call limit counts every worker.
* several hosts (``VOICE_AGENT_DB=postgresql://...``): the ``setup`` of a call may
  be answered by one host and its AudioSocket leg land on another; each row names
  the host the call was sent to. ``pending_for`` counts the calls routed to a host
  that have not arrived yet, and ``end_calls_of`` releases the ``next`` steps of a
  dead host's calls at once.

On SQLite each method is one short transaction on the page cache (tens of
microseconds), cheap enough to run inside the Trio loop; ``BEGIN IMMEDIATE``
serialises the few writers and makes ``claim`` atomic across processes. On
PostgreSQL each is a round trip on the network: ``blocking`` tells ``CallFlow``
and FastAGI to run them in a worker thread, off the Trio loop.

Pure apart from the database: time comes in as ``now`` in seconds, from one clock
every process shares (``time.monotonic`` on one machine, wall-clock ``time.time``
for several hosts). Keys are ``uuid.UUID``; text UUIDs are accepted too.
"""

from __future__ import annotations

import json
import uuid as _uuid
import weakref
from typing import Any

import attrs

from agent.business.database import Database, open_database
from agent.pbx.callmeta import Action, CallMetadata, Decision, UnknownCallError

_UNKNOWN = "not issued by the AGI setup or expired"


class CallMetadataStore:
    """The calls between setup, AudioSocket and ``next`` (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        pending_ttl_s: float = 60.0,
        claimed_ttl_s: float = 4 * 3600.0,
    ) -> None:
        if pending_ttl_s <= 0 or claimed_ttl_s <= 0:
            raise ValueError("pending_ttl_s and claimed_ttl_s must be greater than 0")
        self.db = db
        # A round trip to a server runs off the loop; a local SQLite file does not need to.
        self.blocking = db.engine == "postgresql"
        self.pending_ttl_s = pending_ttl_s
        self.claimed_ttl_s = claimed_ttl_s

    @classmethod
    def in_memory(cls, **ttls: float) -> CallMetadataStore:
        """One process's store: its own database in memory, closed with the store."""
        db = open_database(":memory:")
        store = cls(db, **ttls)
        weakref.finalize(store, db.close)
        return store

    def _write(self, fn: Any) -> Any:
        return self.db.run_sync(self.db.transaction(fn))

    def _read(self, sql: str, args: tuple = ()) -> Any:
        return self.db.run_sync(lambda conn: conn.execute(sql, args).fetchone())

    # --- the call metadata (its flow: agent.pbx.callmeta) -----------------------------

    def add(self, metadata: CallMetadata, now: float) -> None:
        data = json.dumps({**attrs.asdict(metadata), "uuid": str(metadata.uuid)})
        row = (str(metadata.uuid), data, metadata.host, now + self.pending_ttl_s)
        added = self._write(
            lambda c: (
                c.execute(
                    "INSERT INTO live_calls (uuid, metadata, host, expires_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (uuid) DO NOTHING",
                    row,
                ).rowcount
            )
        )
        if not added:
            raise ValueError(f"call {metadata.uuid} is already known")

    def add_if_room(self, metadata: CallMetadata, now: float, capacity: int) -> bool:
        """``add`` the call routed to ``metadata.host`` only while that host has fewer
        than ``capacity`` calls in flight (0: no limit); False when it is full."""
        data = json.dumps({**attrs.asdict(metadata), "uuid": str(metadata.uuid)})
        row = (str(metadata.uuid), data, metadata.host, now + self.pending_ttl_s)

        def add(conn: Any) -> bool:
            if self.db.engine == "postgresql":  # SQLite's BEGIN IMMEDIATE serialises already
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (metadata.host,))
            in_flight = conn.execute(
                "SELECT count(*) FROM live_calls WHERE host = ? AND ended = 0 AND expires_at > ?",
                (metadata.host, now),
            ).fetchone()[0]
            if capacity and in_flight >= capacity:
                return False
            conn.execute(
                "INSERT INTO live_calls (uuid, metadata, host, expires_at) VALUES (?, ?, ?, ?)",
                row,
            )
            return True

        return self._write(add)

    def is_issued(self, call_uuid: _uuid.UUID | str, now: float) -> bool:
        """True when the setup step issued this UUID and it has not expired (the
        allowlist check of an AudioSocket server that refuses UUIDs it did not hand out)."""
        key = _text_key(call_uuid)
        sql = "SELECT 1 FROM live_calls WHERE uuid = ? AND expires_at > ?"
        return self._read(sql, (key, now)) is not None

    def claim(self, call_uuid: _uuid.UUID | str, now: float, host: str = "") -> CallMetadata:
        """Hand the metadata to the AudioSocket call; a second claim is refused.
        ``host``: the host its AudioSocket leg reached (the row then names where the
        call really runs)."""
        key = _text_key(call_uuid)

        def claim(conn: Any) -> tuple[Any, bool]:
            row = conn.execute(
                "UPDATE live_calls SET claimed = 1, expires_at = ?,"
                " host = CASE WHEN ? = '' THEN host ELSE ? END"
                " WHERE uuid = ? AND claimed = 0 AND expires_at > ? RETURNING metadata",
                (now + self.claimed_ttl_s, host, host, key, now),
            ).fetchone()
            taken = (
                row is None
                and conn.execute(
                    "SELECT 1 FROM live_calls WHERE uuid = ? AND expires_at > ?", (key, now)
                ).fetchone()
            )
            return row, bool(taken)

        row, taken = self._write(claim)
        if row is None:
            why = "already claimed by another connection" if taken else _UNKNOWN
            raise UnknownCallError(f"call {call_uuid}: {why}")
        data = json.loads(row[0])
        return CallMetadata(**{**data, "uuid": _uuid.UUID(data["uuid"])})

    def set_decision(
        self, call_uuid: _uuid.UUID | str, action: Action, target: str = "", *, now: float
    ) -> Decision:
        """Record what the conversation decided (the last decision wins)."""
        decision = Decision(action, target)  # validates before anything is stored
        changed = self._write(
            lambda c: (
                c.execute(
                    "UPDATE live_calls SET action = ?, target = ?, ended = 1"
                    " WHERE uuid = ? AND expires_at > ?",
                    (decision.action, decision.target, _text_key(call_uuid), now),
                ).rowcount
            )
        )
        if not changed:
            raise UnknownCallError(f"call {call_uuid}: {_UNKNOWN}")
        return decision

    def mark_ended(self, call_uuid: _uuid.UUID | str, now: float) -> None:
        """The AudioSocket call is over and decided nothing."""
        self._write(
            lambda c: c.execute(
                "UPDATE live_calls SET ended = 1 WHERE uuid = ? AND expires_at > ?",
                (_text_key(call_uuid), now),
            )
        )

    def in_call(self, call_uuid: _uuid.UUID | str, now: float) -> bool:
        """Claimed by an AudioSocket call that has not ended yet."""
        sql = (
            "SELECT 1 FROM live_calls WHERE uuid = ? AND expires_at > ?"
            " AND claimed = 1 AND ended = 0"
        )
        return self._read(sql, (_text_key(call_uuid), now)) is not None

    def take_decision(self, call_uuid: _uuid.UUID | str, now: float) -> Decision | None:
        """The decision for the ``next`` step, forgetting the call.

        ``None`` when the call is known but nothing was decided;
        ``UnknownCallError`` when the UUID is unknown or expired.
        """
        row = self._write(
            lambda c: c.execute(
                "DELETE FROM live_calls WHERE uuid = ? AND expires_at > ? RETURNING action, target",
                (_text_key(call_uuid), now),
            ).fetchone()
        )
        if row is None:
            raise UnknownCallError(f"call {call_uuid}: {_UNKNOWN}")
        action, target = row[0], row[1]
        return None if action is None else Decision(action, target)

    def discard(self, call_uuid: _uuid.UUID) -> None:
        """Forget a call (e.g. the caller hung up during setup)."""
        self._write(
            lambda c: c.execute("DELETE FROM live_calls WHERE uuid = ?", (_text_key(call_uuid),))
        )

    def expire(self, now: float) -> int:
        """Drop every entry past its time, counting the setups whose AudioSocket
        call never came; returns how many went."""

        def expire(conn: Any) -> int:
            unclaimed = conn.execute(
                "SELECT count(*) FROM live_calls WHERE expires_at <= ? AND claimed = 0", (now,)
            ).fetchone()[0]
            gone = conn.execute("DELETE FROM live_calls WHERE expires_at <= ?", (now,)).rowcount
            if unclaimed:
                conn.execute(
                    "INSERT INTO store_counters (name, value) VALUES ('expired_unclaimed', ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = store_counters.value"
                    " + excluded.value",
                    (unclaimed,),
                )
            return gone

        return self._write(expire)

    def pending_count(self, now: float) -> int:
        """Setups whose AudioSocket call has not arrived yet (they will take a slot)."""
        return self._count("claimed = 0 AND expires_at > ?", (now,))

    def pending_for(self, host: str, now: float) -> int:
        """Calls routed to ``host`` whose AudioSocket leg has not arrived yet."""
        return self._count("host = ? AND claimed = 0 AND expires_at > ?", (host, now))

    def awaiting_next(self, now: float) -> int:
        """Calls with a decision the ``next`` step has not collected yet."""
        return self._count("action IS NOT NULL AND expires_at > ?", (now,))

    def end_calls_of(self, host: str) -> int:
        """``host`` died: its calls are over, so their ``next`` steps need not wait."""
        return self._write(
            lambda c: (
                c.execute(
                    "UPDATE live_calls SET ended = 1 WHERE host = ? AND claimed = 1 AND ended = 0",
                    (host,),
                ).rowcount
            )
        )

    def __len__(self) -> int:
        return self._read("SELECT count(*) FROM live_calls")[0]

    def statistics(self) -> dict[str, int]:
        claimed = self._read("SELECT count(*) FROM live_calls WHERE claimed = 1")[0]
        expired = self._read("SELECT value FROM store_counters WHERE name = 'expired_unclaimed'")
        return {
            "pending": len(self) - claimed,
            "claimed": claimed,
            "expired_unclaimed": expired[0] if expired else 0,
        }

    def _count(self, where: str, args: tuple) -> int:
        return self._read(f"SELECT count(*) FROM live_calls WHERE {where}", args)[0]

    # --- calls in progress per worker of ``serve --workers`` (for the call limit) -------
    # One counter row per worker process: ``load:<pid>``.

    def set_load(self, pid: int, active: int) -> None:
        self._write(
            lambda c: c.execute(
                "INSERT INTO store_counters (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (f"load:{pid}", active),
            )
        )

    def total_load(self) -> int:
        # substr, not LIKE 'load:%': psycopg would read that % as a placeholder.
        sql = (
            "SELECT coalesce(sum(value), 0) FROM store_counters WHERE substr(name, 1, 5) = 'load:'"
        )
        return self._read(sql)[0]

    def forget_worker(self, pid: int) -> None:
        """A worker died: its calls died with it."""
        self._write(
            lambda c: c.execute("DELETE FROM store_counters WHERE name = ?", (f"load:{pid}",))
        )


def _text_key(call_uuid: _uuid.UUID | str) -> str:
    """The canonical text of a UUID; garbage maps to a key no row has."""
    if isinstance(call_uuid, _uuid.UUID):
        return str(call_uuid)
    try:
        return str(_uuid.UUID(call_uuid.strip()))
    except ValueError:
        return ""
