"""The agent's shared store: one SQLite file (the default) or one PostgreSQL database.

``VOICE_AGENT_DB`` names it: a file path, or ``postgresql://user@host:port/db``
for several agent hosts sharing bookings, the outbox, the calls in flight and the
host registry. ``open_database(target)`` opens either, applies the migrations this
database lacks (``agent.business.schema``) and returns a ``Database``.

Both engines are driven the same way: ``await db.run(fn)`` runs ``fn(conn)`` in a
worker thread (the Trio loop never waits on a disk or a network round trip) and
``db.transaction(fn)`` wraps ``fn`` in one transaction (``BEGIN IMMEDIATE`` on
SQLite, so writers queue instead of failing on a lock upgrade). ``conn.execute``
takes SQLite's ``?`` placeholders on both engines; rows read by name or by index.

SQLite: one connection under a lock (WAL, readers never wait for the writer).
PostgreSQL: a ``psycopg_pool`` pool of ``VOICE_AGENT_DB_POOL_SIZE`` connections,
so several calls' queries run at once. psycopg is the optional ``postgres`` extra.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import trio

from agent.base.errors import ConfigError, ProviderError
from agent.business.schema import migrate

T = TypeVar("T")
PG_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target: str | Path) -> bool:
    """Whether ``VOICE_AGENT_DB`` names a PostgreSQL server rather than a file."""
    return str(target).startswith(PG_SCHEMES)


def shown(target: str | Path) -> str:
    """The target for a log line or an error: a PostgreSQL password is masked."""
    text = str(target)
    if not is_postgres(text) or "@" not in text:
        return text
    scheme, rest = text.split("://", 1)
    user, host = rest.rsplit("@", 1)
    return f"{scheme}://{user.split(':', 1)[0]}@{host}"


class Row(dict):
    """A row readable by column name (``row["key"]``) or position (``row[0]``)."""

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        super().__init__(zip(names, values, strict=True))
        self._values = tuple(values)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return self._values[key]
        return super().__getitem__(key)


class _PgCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def _row(self, values: Any) -> Row | None:
        if values is None:
            return None
        return Row([c.name for c in self._cursor.description], values)

    def fetchone(self) -> Row | None:
        return self._row(self._cursor.fetchone())

    def fetchall(self) -> list[Row]:
        return [self._row(values) for values in self._cursor.fetchall()]  # type: ignore[misc]


class _PgConnection:
    """A psycopg connection that speaks SQLite's ``?`` placeholders."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _PgCursor:
        cursor = self._conn.cursor()
        cursor.execute(sql.replace("?", "%s"), tuple(params) if params else None)
        return _PgCursor(cursor)


class Database:
    """The store's connection(s), used from worker threads; see the module docstring.

    ``threaded=False`` runs each call inline on the Trio thread instead: only for
    tests in virtual time, because a MockClock with autojump does not see worker
    threads and jumps ahead while one runs.
    """

    def __init__(self, target: str | Path, *, threaded: bool = True, pool_size: int = 4) -> None:
        self.target, self.threaded = str(target), threaded
        self.engine = "postgresql" if is_postgres(target) else "sqlite"
        self.path = shown(target)  # for messages (a password never shows)
        self._lock = threading.Lock()
        self._pool: Any = None
        self._conn: Any = None
        if self.engine == "postgresql":
            self._pool = _open_pool(self.target, pool_size)
        else:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE where we write).
            self._conn = sqlite3.connect(self.target, check_same_thread=False, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute("PRAGMA synchronous=NORMAL")

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """The engine's database errors (what ``run`` turns into a ``ProviderError``)."""
        if self.engine == "sqlite":
            return (sqlite3.Error,)
        import psycopg
        import psycopg_pool

        return (psycopg.Error, psycopg_pool.PoolTimeout)

    @property
    def real(self) -> str:
        """The SQL type of a float column: PostgreSQL's REAL has only 6 digits."""
        return "DOUBLE PRECISION" if self.engine == "postgresql" else "REAL"

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self._pool is None:
            with self._lock:
                yield self._conn
            return
        with self._pool.connection() as conn:
            yield _PgConnection(conn)

    def run_sync(self, fn: Callable[[Any], T]) -> T:
        with self._connection() as conn:
            return fn(conn)

    async def run(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(connection)`` in a worker thread (not abandoned on cancel: a write
        always finishes or rolls back as a whole). A database failure (locked, disk
        full, server gone) is a retryable ``ProviderError``: the same call may work later."""
        try:
            if not self.threaded:
                await trio.lowlevel.checkpoint()
                return self.run_sync(fn)
            return await trio.to_thread.run_sync(self.run_sync, fn)
        except self.errors as exc:
            raise ProviderError(self.engine, f"{self.path}: {exc}", retryable=True) from exc

    def transaction(self, fn: Callable[[Any], T]) -> Callable[[Any], T]:
        begin = "BEGIN IMMEDIATE" if self.engine == "sqlite" else "BEGIN"

        def wrapped(conn: Any) -> T:
            conn.execute(begin)
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return wrapped

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            return
        with self._lock:
            self._conn.close()


def _open_pool(url: str, size: int) -> Any:
    try:
        import psycopg_pool
    except ImportError:
        raise ConfigError(
            "VOICE_AGENT_DB names PostgreSQL but psycopg is not installed"
            " (pip install 'voice-agent[postgres]')"
        ) from None
    # Autocommit: the store issues BEGIN/COMMIT itself, as with SQLite.
    pool = psycopg_pool.ConnectionPool(
        url,
        min_size=1,
        max_size=max(1, size),
        kwargs={"autocommit": True, "connect_timeout": 10},
        open=False,
        name="voice-agent",
    )
    try:
        pool.open(wait=True, timeout=15)
    except psycopg_pool.PoolTimeout:
        pool.close()
        raise ConfigError(f"VOICE_AGENT_DB={shown(url)!r}: cannot connect to PostgreSQL") from None
    return pool


def open_database(target: str | Path, *, threaded: bool = True, pool_size: int = 4) -> Database:
    """Open (creating a SQLite file if needed) the store and bring its schema up to date."""
    db = Database(target, threaded=threaded, pool_size=pool_size)
    try:
        db.run_sync(lambda conn: migrate(conn, db))
    except BaseException:
        db.close()
        raise
    return db
