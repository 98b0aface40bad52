"""This serve as one of several hosts: routing, draining at once, reaping the dead.

Against the agent's store on SQLite and on a real PostgreSQL (skipped without).
Host b is only a row in the registry: it registered and then fell silent.
"""

from __future__ import annotations

import functools
import time

import pytest
import trio

from agent.observe.records import RecordStore
from agent.pbx.hosts import HostRegistry, Route
from agent.service.hosts import HostMember, HostSettings


@pytest.fixture
def db(engine_db):
    return engine_db  # on SQLite and PostgreSQL (tests/conftest.py)


async def test_route_drain_and_a_dead_host_closed(db, tmp_path):
    settings = HostSettings("a", "a:9099", 2, heartbeat_s=0.2, dead_after_s=1.0)
    a, draining = HostMember(db, settings), [False]
    records = RecordStore.open_sqlite(tmp_path / "records.db")
    records.host = "b"
    await records.start_call("on-b", started_at=time.time() - 5)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(a.run, lambda: draining[0], lambda: records))
            HostRegistry(db).register("b", "b:9099", 2, time.time())  # then never beats
            assert await a.route(time.time()) == Route("a", "a:9099", 2)  # itself first
            a.load_changed(2)  # full: the next tick tells the registry
            await trio.sleep(0.3)
            assert await a.route(time.time()) == Route("b", "b:9099", 2)
            a.load_changed(0)
            draining[0] = True  # at once, even before the registry hears of it
            assert await a.route(time.time()) == Route("b", "b:9099", 2)
            with trio.fail_after(3):  # b is silent for dead_after: a closes it
                while "b" not in a.reaped:
                    await trio.sleep(0.05)
            assert await a.route(time.time()) is None  # b dead, a draining: busy
            draining[0] = False  # (a real drain ends in exit; here the next tick tells)
            await trio.sleep(0.3)
            assert await a.route(time.time()) == Route("a", "a:9099", 2)
            nursery.cancel_scope.cancel()
        assert [h.name for h in HostRegistry(db).hosts(time.time())] == []  # a left
        closed = records.get_call("on-b")
        assert (closed.outcome, closed.end_reason) == ("interrupted", "host-lost")
    finally:
        records.close()
