"""The outbox across hosts: leases, and many workers racing over one store.

Run on SQLite (one file, several connections) and on a real PostgreSQL
(``SELECT ... FOR UPDATE SKIP LOCKED``); PostgreSQL skips without a server.
"""

from __future__ import annotations

import collections
import functools
import time

import pytest
import trio

from agent.base.errors import ProviderError
from agent.business.database import open_database
from agent.business.outbox import Backoff, Outbox
from agent.business.outbox_delivery import run_outbox


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "agent.db")
    return request.getfixturevalue("pg_url")


class CountingNotifier:
    """Counts each key it is sent, and by which worker; fails every ``fail_every``-th."""

    def __init__(self, fail_every: int = 0) -> None:
        self.sent: collections.Counter[str] = collections.Counter()
        self.by_worker: collections.Counter[str] = collections.Counter()
        self.fail_every, self.calls = fail_every, 0

    def for_worker(self, name: str):
        notifier = self

        class Sender:
            async def send(self, url, payload, key):
                notifier.calls += 1
                if notifier.fail_every and notifier.calls % notifier.fail_every == 0:
                    raise ProviderError("notify", "503 from the webhook", retryable=True)
                await trio.sleep(0.001)  # a webhook's round trip: the workers interleave
                notifier.sent[key] += 1
                notifier.by_worker[name] += 1

        return Sender()


async def test_a_lease_keeps_others_off_until_it_expires(target):
    now = [1000.0]
    db = open_database(target)
    try:
        first, second = Outbox(db, clock=lambda: now[0]), Outbox(db, clock=lambda: now[0])
        await first.put_notification("n1", "acme", "http://hook", {"a": 1})
        assert [i.key for i in await first.claim("host-a:1", ["n1"], 30.0)] == ["n1"]
        assert await second.claim("host-b:1", ["n1"], 30.0) == []
        # The holder may take its own row again (its next try); nobody else may.
        assert [i.key for i in await first.claim("host-a:1", ["n1"], 30.0)] == ["n1"]
        now[0] += 31.0  # host-a died: its lease ran out
        assert [i.key for i in await second.claim("host-b:1", ["n1"], 30.0)] == ["n1"]
        await second.finish("n1", "confirmed", {"delivered": True})
        now[0] += 100.0
        assert await first.claim("host-a:1", ["n1"], 30.0) == []  # final rows stay put
    finally:
        db.close()


async def test_a_failed_try_holds_the_row_for_its_backoff_on_every_host(target):
    now = [1000.0]
    db = open_database(target)
    try:
        outbox = Outbox(db, clock=lambda: now[0])
        await outbox.put_notification("n1", "acme", "http://hook", {"a": 1})
        await outbox.claim("host-a:1", ["n1"], 30.0)
        assert await outbox.record_failure("n1", "503", owner="host-a:1", retry_in=8.0) == 1
        now[0] += 7.0
        assert await outbox.claim("host-b:1", ["n1"], 30.0) == []
        now[0] += 1.5
        assert [i.attempts for i in await outbox.claim("host-b:1", ["n1"], 30.0)] == [1]
    finally:
        db.close()


async def race(target: str, *, rows: int = 200, fail_every: int = 0) -> tuple[float, object]:
    """4 workers on 2 hosts (2 processes' worth of connections each) deliver ``rows``."""
    setup = open_database(target)
    outbox = Outbox(setup)
    for n in range(rows):
        await outbox.put_notification(f"n{n:03}", "acme", "http://hook", {"n": n})
    notifier = CountingNotifier(fail_every)
    workers = [f"host-{h}:{w}" for h in "ab" for w in (1, 2)]
    databases = [open_database(target, pool_size=2) for _ in workers]
    fast = Backoff(initial=0.01, cap=0.05, jitter=0.0)
    started = time.perf_counter()
    try:
        async with trio.open_nursery() as nursery:
            for name, db in zip(workers, databases, strict=True):
                run = functools.partial(
                    run_outbox,
                    Outbox(db),
                    lambda company: None,
                    notifier.for_worker(name),
                    owner=name,
                    backoff=fast,
                    poll_s=0.05,
                )
                nursery.start_soon(run)
            with trio.fail_after(60):
                while len(await outbox.items("pending")):
                    await trio.sleep(0.02)
            nursery.cancel_scope.cancel()
        elapsed = time.perf_counter() - started
    finally:
        for db in [*databases, setup]:
            db.close()
    return elapsed, notifier


async def test_four_workers_on_two_hosts_deliver_each_row_exactly_once(target):
    elapsed, notifier = await race(target)
    assert len(notifier.sent) == 200
    assert set(notifier.sent.values()) == {1}
    assert sum(notifier.by_worker.values()) == 200
    # Every worker got a share: the claims spread the rows, they do not serialise them.
    assert len(notifier.by_worker) == 4, notifier.by_worker
    engine = "postgresql" if "://" in target else "sqlite"
    print(f"\n{engine}: 200 rows by 4 workers in {elapsed:.2f} s")


async def test_retries_across_workers_still_deliver_each_row_once(target):
    _, notifier = await race(target, rows=60, fail_every=7)
    assert len(notifier.sent) == 60
    assert set(notifier.sent.values()) == {1}
