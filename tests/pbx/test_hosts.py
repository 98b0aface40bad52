"""The host registry and the choice of a call's host (several agent hosts)."""

from __future__ import annotations

import uuid

import pytest

from agent.business.database import open_database
from agent.pbx.callmeta import CallMetadata
from agent.pbx.callmeta_store import CallMetadataStore
from agent.pbx.hosts import HostRegistry, HostState, pick_host

NOW = 1000.0


def host(name: str, active: int = 0, capacity: int = 10, **kw) -> HostState:
    return HostState(name, f"{name}:9099", capacity, active, heartbeat_at=NOW - 1, **kw)


def test_the_asking_host_keeps_the_call_while_it_has_room():
    hosts = [host("a", 5), host("b", 0)]
    assert pick_host(hosts, "a", NOW, 10.0).name == "a"


def test_a_full_host_sends_the_call_to_the_least_loaded_share():
    hosts = [host("a", 10), host("b", 6, capacity=8), host("c", 5, capacity=10)]
    assert pick_host(hosts, "a", NOW, 10.0).name == "c"  # 50 % beats 75 %
    assert pick_host([host("a", 7, in_flight=10), host("b", 9)], "a", NOW, 10.0).name == "b"


def test_dead_draining_and_full_hosts_get_no_calls():
    dead = HostState("dead", "d:1", 10, heartbeat_at=NOW - 30)
    hosts = [dead, host("drain", draining=True), host("full", 3, capacity=3)]
    assert pick_host(hosts, "dead", NOW, 10.0) is None
    assert pick_host([*hosts, host("spare", 0, capacity=0)], "dead", NOW, 10.0).name == "spare"


@pytest.fixture
def db(engine_db):
    return engine_db  # on SQLite and PostgreSQL (tests/conftest.py)


def test_register_heartbeat_reap_and_calls_in_flight(db):
    registry, calls = HostRegistry(db), CallMetadataStore(db)
    registry.register("a", "127.0.0.2:9099", 20, NOW)
    registry.register("b", "127.0.0.3:9099", 20, NOW)
    on_b = [uuid.uuid4() for _ in range(4)]
    for call_uuid in on_b:
        calls.add(CallMetadata(call_uuid, host="b"), NOW)
    calls.claim(on_b[0], NOW + 1, host="b")  # arrived: still in flight until it ends
    calls.mark_ended(on_b[1], NOW + 1)
    assert registry.heartbeat("a", 2, False, NOW + 5)
    states = {h.name: h for h in registry.hosts(NOW + 5)}
    assert (states["a"].load, states["b"].in_flight, states["b"].load) == (2, 3, 3)
    assert pick_host(list(states.values()), "c", NOW + 5, 10.0).name == "a"  # 2 < 3
    # b falls silent: after dead_after it is reaped exactly once, then gets no calls.
    assert registry.reap(NOW + 9, 10.0) == []
    # The reaping host never removes itself, however stale its own heartbeat.
    assert registry.reap(NOW + 16, 10.0, "a") == ["b"]
    assert registry.reap(NOW + 16, 10.0, "a") == []
    assert [h.name for h in registry.hosts(NOW + 16)] == ["a"]
    assert not registry.heartbeat("b", 0, False, NOW + 12)  # it must register again
    assert [h.name for h in registry.hosts(NOW + 12)] == ["a"]
    assert registry.heartbeat("a", 0, True, NOW + 12)
    assert pick_host(registry.hosts(NOW + 12), "a", NOW + 12, 10.0) is None  # a drains
    registry.leave("a")
    assert registry.hosts(NOW + 12) == []


def test_racing_setups_never_fill_a_host_beyond_its_capacity(db, tmp_path):
    """Setups answered at once on several hosts (threads, each its own connection)
    all chose host b; only its capacity's worth are stored, the rest choose again."""
    import concurrent.futures

    target = db.target
    stores = [CallMetadataStore(open_database(target)) for _ in range(4)]
    try:

        def add(n: int) -> bool:
            store = stores[n % len(stores)]
            return store.add_if_room(CallMetadata(uuid.uuid4(), host="b"), NOW, 3)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            added = list(pool.map(add, range(12)))
        assert added.count(True) == 3
        assert CallMetadataStore(db).pending_for("b", NOW) == 3
    finally:
        for store in stores:
            store.db.close()
