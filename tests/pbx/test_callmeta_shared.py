"""The call metadata store keeps one contract on every database it runs on: in memory
(one process), a SQLite file (``--workers``) and PostgreSQL (several hosts); the
shared ones work across connections."""

from __future__ import annotations

import threading
import uuid

import pytest

from agent.business.database import open_database
from agent.pbx.callmeta import CallMetadata, Decision, UnknownCallError
from agent.pbx.callmeta_store import CallMetadataStore


@pytest.fixture(params=["memory", "store-sqlite", "store-postgresql"])
def store(request, tmp_path):
    if request.param == "memory":
        yield CallMetadataStore.in_memory(pending_ttl_s=60.0, claimed_ttl_s=3600.0)
        return
    # The agent's store: a SQLite file as the workers share it, PostgreSQL as hosts do.
    sqlite = request.param == "store-sqlite"
    db = open_database(tmp_path / "calls.db" if sqlite else request.getfixturevalue("pg_url"))
    yield CallMetadataStore(db, pending_ttl_s=60.0, claimed_ttl_s=3600.0)
    db.close()


def shared_store(path) -> CallMetadataStore:
    """One more process's connection to the workers' file."""
    return CallMetadataStore(open_database(path))


def test_setup_claim_decision_next(store):
    call_uuid = uuid.uuid4()
    metadata = CallMetadata(call_uuid, did="+441614960000", caller_id="07700900123", channel="X/1")
    store.add(metadata, now=0.0)
    with pytest.raises(ValueError, match="already known"):
        store.add(metadata, now=0.0)
    assert store.is_issued(str(call_uuid), 1.0) and not store.is_issued("garbage", 1.0)
    assert store.pending_count(1.0) == 1
    assert store.claim(str(call_uuid).upper(), 59.0) == metadata
    with pytest.raises(UnknownCallError, match="already claimed"):
        store.claim(call_uuid, 59.5)
    assert store.pending_count(59.5) == 0 and store.awaiting_next(59.5) == 0
    # Claimed calls outlive the 60 s pending TTL.
    assert store.set_decision(call_uuid, "transfer", "PJSIP/2001", now=600.0) == Decision(
        "transfer", "PJSIP/2001"
    )
    assert store.awaiting_next(600.0) == 1
    assert store.statistics() == {"pending": 0, "claimed": 1, "expired_unclaimed": 0}
    assert store.take_decision(call_uuid, 601.0) == Decision("transfer", "PJSIP/2001")
    with pytest.raises(UnknownCallError):
        store.take_decision(call_uuid, 602.0)
    assert len(store) == 0


def test_no_decision_unknown_and_garbage(store):
    call_uuid = uuid.uuid4()
    store.add(CallMetadata(call_uuid), now=0.0)
    store.claim(call_uuid, 1.0)
    assert store.take_decision(call_uuid, 2.0) is None
    for unknown in (uuid.uuid4(), "garbage", ""):
        with pytest.raises(UnknownCallError):
            store.claim(unknown, 2.0)
        with pytest.raises(UnknownCallError):
            store.set_decision(unknown, "hangup", now=2.0)
        with pytest.raises(UnknownCallError):
            store.take_decision(unknown, 2.0)


def test_bad_decisions_never_reach_the_store(store):
    call_uuid = uuid.uuid4()
    store.add(CallMetadata(call_uuid), now=0.0)
    with pytest.raises(ValueError):
        store.set_decision(call_uuid, "transfer", "PJSIP/1001,,tT", now=1.0)
    assert store.take_decision(call_uuid, 2.0) is None


def test_unclaimed_metadata_expires(store):
    kept, lost = uuid.uuid4(), uuid.uuid4()
    store.add(CallMetadata(kept), now=0.0)
    store.add(CallMetadata(lost), now=0.0)
    store.claim(kept, 10.0)
    with pytest.raises(UnknownCallError, match="expired"):
        store.claim(lost, 60.0)
    assert store.expire(60.0) >= 0
    assert store.statistics() == {"pending": 0, "claimed": 1, "expired_unclaimed": 1}
    store.discard(kept)
    assert len(store) == 0


def test_the_shared_store_is_shared_between_connections(tmp_path):
    path = tmp_path / "calls.db"
    parent, worker = shared_store(path), shared_store(path)
    try:
        call_uuid = uuid.uuid4()
        parent.add(CallMetadata(call_uuid, did="100"), now=5.0)
        assert worker.claim(call_uuid, 6.0).did == "100"
        worker.set_decision(call_uuid, "voicemail", now=7.0)
        assert parent.awaiting_next(8.0) == 1
        assert parent.take_decision(call_uuid, 8.0) == Decision("voicemail")
        worker.set_load(101, 3)
        parent.set_load(102, 2)
        assert parent.total_load() == 5
        worker.set_load(101, 1)
        parent.forget_worker(102)
        assert worker.total_load() == 1
    finally:
        parent.db.close()
        worker.db.close()


def test_only_one_of_many_racing_connections_claims_a_call(tmp_path):
    path = tmp_path / "calls.db"
    setup = shared_store(path)
    call_uuid = uuid.uuid4()
    setup.add(CallMetadata(call_uuid), now=0.0)
    wins: list[int] = []
    refusals: list[int] = []
    start = threading.Barrier(8)

    def race(n: int) -> None:
        store = shared_store(path)
        start.wait()
        try:
            store.claim(call_uuid, 1.0)
            wins.append(n)
        except UnknownCallError:
            refusals.append(n)
        finally:
            store.db.close()

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    setup.db.close()
    assert len(wins) == 1 and len(refusals) == 7


def test_in_call_until_the_call_ends(store):
    decided, undecided, never = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for call_uuid in (decided, undecided, never):
        store.add(CallMetadata(call_uuid), now=0.0)
    assert not store.in_call(decided, 1.0)  # set up, not connected yet
    store.claim(decided, 1.0)
    store.claim(undecided, 1.0)
    assert store.in_call(decided, 2.0) and store.in_call(undecided, 2.0)
    store.set_decision(decided, "hangup", now=3.0)
    store.mark_ended(undecided, 3.0)
    assert not store.in_call(decided, 4.0) and not store.in_call(undecided, 4.0)
    assert not store.in_call(never, 4.0) and not store.in_call("garbage", 4.0)


def test_two_hosts_share_the_calls_and_a_dead_hosts_calls_end(pg_url):
    a, b = open_database(pg_url), open_database(pg_url)
    try:
        on_a, on_b = CallMetadataStore(a), CallMetadataStore(b)
        first, second = uuid.uuid4(), uuid.uuid4()
        on_a.add(CallMetadata(first, did="100", host="host-b"), now=0.0)
        on_a.add(CallMetadata(second, did="200", host="host-b"), now=0.0)
        assert on_a.pending_for("host-b", 1.0) == 2 and on_a.pending_for("host-a", 1.0) == 0
        assert on_b.claim(first, 1.0, host="host-b").did == "100"
        assert on_b.pending_for("host-b", 1.0) == 1
        assert on_a.in_call(first, 2.0)
        assert on_a.end_calls_of("host-b") == 1  # host-b died: next need not wait
        assert not on_a.in_call(first, 2.0) and on_a.take_decision(first, 3.0) is None
    finally:
        a.close()
        b.close()


def test_worker_loads_add_up_and_leave_the_call_counters_alone(store):
    store.set_load(101, 3)
    store.set_load(102, 2)
    store.set_load(101, 1)  # the latest count of a worker replaces its last
    assert store.total_load() == 3
    store.add(CallMetadata(uuid.uuid4()), now=0.0)
    store.expire(100.0)  # one setup never claimed: a counter of its own
    store.forget_worker(102)
    assert store.total_load() == 1
    assert store.statistics()["expired_unclaimed"] == 1
