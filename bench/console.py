"""How fast the console's pages answer with 10,000 calls in the records store.

    python bench/console.py [--calls 10000] [--repeat 7] [--db PATH]

Fills a fresh SQLite records store (a week of calls, 3 to 9 turns and a tool call
each, written through the records API) unless ``--db`` names one filled before, then
serves the console with Hypercorn on a loopback port and fetches every page over
HTTP, ``--repeat`` + 1 times each, once the console's start-up read of the week's
closed hours (for the latency charts, in the background) is done; prints how long that
took, the first fetch of each page, the median of the others and the worst of all.
The target is every page under 200 ms. Exit status 1 if one is over.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.observe.console import Console, ConsoleSettings, serve_console
from agent.observe.records import RecordStore
from tests.observe.console_data import seed

TARGET_MS = 200.0
WEEK_S = 7 * 86400.0


def pages(uuid: str) -> list[tuple[str, str]]:
    return [
        ("calls (first page)", "/calls"),
        ("calls (page 100)", "/calls?offset=5000"),
        ("calls (company + outcome)", "/calls?company=flowright&outcome=booked"),
        ("calls (date range)", "/calls?from=2026-01-01&to=2030-12-31"),
        ("calls (transcript search)", "/calls?q=kitchen+tap"),
        ("call", f"/calls/{uuid}"),
        ("live", "/live"),
        ("live.json (poll)", "/live.json"),
        ("bookings", "/bookings"),
        ("latency", "/latency"),
        ("latency.json (day)", "/latency.json?range=day"),
        ("latency.json (week)", "/latency.json?range=week"),
        ("health", "/health"),
    ]


async def measure(store: RecordStore, uuid: str, repeat: int) -> list[tuple[str, float, ...]]:
    settings = ConsoleSettings(port=0, enabled=True, db_path=str(Path(tempfile.mkdtemp()) / "a"))
    console = Console(settings, store)
    out = []
    async with trio.open_nursery() as nursery:
        started = time.perf_counter()
        (url,) = await nursery.start(serve_console, console)
        while len(console.latency.closed) < 7 * 24 - 2:  # the week's closed hours
            await trio.sleep(0.005)
        warm = (time.perf_counter() - started) * 1000
        print(f"latency warm-up at start (in the background): {warm:.0f} ms")
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for name, path in pages(uuid):
                times = []
                for _ in range(repeat + 1):
                    started = time.perf_counter()
                    reply = await http.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    if reply.status_code != 200:
                        raise SystemExit(f"{path}: HTTP {reply.status_code}")
                out.append((name, times[0], statistics.median(times[1:]), max(times)))
        nursery.cancel_scope.cancel()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--db", help="an existing records file (skips the filling)")
    args = parser.parse_args()
    path = Path(args.db or Path(tempfile.mkdtemp(prefix="console-bench-")) / "records.db")
    fill = not path.exists()
    with RecordStore.open_sqlite(path) as store:
        if fill:
            started = time.perf_counter()
            seed(store, args.calls, now=time.time(), span_s=WEEK_S)
            trio.run(store.flush)
            print(f"filled {args.calls} calls in {time.perf_counter() - started:.1f} s: {path}")
        calls = store.query("SELECT COUNT(*) FROM calls")[0][0]
        turns = store.query("SELECT COUNT(*) FROM turns")[0][0]
        (uuid,) = store.query("SELECT uuid FROM calls ORDER BY started_at DESC LIMIT 1")[0]
        results = trio.run(measure, store, uuid, args.repeat)
    print(f"{calls} calls, {turns} turns; {args.repeat} fetches per page over loopback HTTP")
    print(f"{'page':<28} {'first ms':>9} {'median ms':>10} {'worst ms':>9}")
    slow = 0
    for name, first, median, worst in results:
        flag = "" if worst < TARGET_MS else "  over 200 ms"
        slow += worst >= TARGET_MS
        print(f"{name:<28} {first:>9.1f} {median:>10.1f} {worst:>9.1f}{flag}")
    print(f"{len(results) - slow}/{len(results)} pages under {TARGET_MS:.0f} ms at worst")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
