"""The SQLAlchemy base every table of flaskpypi (index, auth, upstream) shares, its column types, and the
PostgreSQL advisory locks that coordinate several hosts, and the counters (serials) that per-process caches
are keyed by."""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from cachetools import LRUCache
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Engine,
    String,
    TypeDecorator,
    column,
    event,
    insert,
    table,
    text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Session

UPSERT_DIALECTS = ("postgresql", "sqlite")


def upsert_insert(dialect: str) -> Callable[..., Any] | None:
    """The dialect's own `insert` (with ON CONFLICT) for PostgreSQL and SQLite, else None. The dialect module
    is imported on first use: a server on SQLite never loads PostgreSQL's (tens of milliseconds, megabytes)."""
    if dialect not in UPSERT_DIALECTS:
        return None
    return importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert


T = TypeVar("T")


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """The one metadata object every table of flaskpypi belongs to (Alembic reads it)."""


UNBOUNDED = "flaskpypi.unbounded"  # Connection.info flag: the statement-deadline watchdog leaves it alone


def allow_long_statements(conn: Any) -> None:
    """Lift this transaction's statement and lock timeouts (PostgreSQL's `SET LOCAL`, gone at commit) and the
    watchdog's deadline (until the connection goes back to the pool): for migrations, ANALYZE and lock waits
    that may rightly take longer than `database_timeout`. `conn` is a Connection or a Session."""
    connection = conn.connection() if hasattr(conn, "get_bind") else conn
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL statement_timeout = 0"))
        connection.execute(text("SET LOCAL lock_timeout = 0"))
    connection.info[UNBOUNDED] = True


def advisory_key(name: str) -> int:
    """A signed 64-bit PostgreSQL advisory-lock key for a name (a filename, a lock's purpose)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class PgLock:
    """A PostgreSQL session advisory lock on a connection of its own, taken by polling
    `pg_try_advisory_lock` (no statement ever waits, so no timeout can fire), seen by every host, and
    dropped by the server when its holder dies."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.key = advisory_key(name)
        self.conn: Connection | None = None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never blocks."""
        conn = self.engine.connect()
        try:
            taken = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            conn.commit()
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.close()
            return False
        self.conn = conn
        return True

    def acquire(self, wait: float | None, poll: float = 0.1) -> bool:
        """Poll for up to `wait` seconds (None: until taken); True when held."""
        deadline = None if wait is None else time.monotonic() + wait
        while not self.try_acquire():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(poll)
        return True

    def release(self) -> None:
        """Free the lock (idempotent); closing the connection frees it too."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            conn.commit()
        except Exception:  # the server frees a session lock with its connection anyway
            conn.invalidate()
        finally:
            conn.close()


@contextmanager
def pg_lock(engine: Engine, name: str, wait: float | None) -> Iterator[bool]:
    """Hold the named advisory lock while the block runs; yields False when `wait` ran out first."""
    lock = PgLock(engine, name)
    held = lock.acquire(wait)
    try:
        yield held
    finally:
        lock.release()


@contextmanager
def unflushed_commits(engine: Engine) -> Iterator[None]:
    """For a bulk load whose every commit is redone when lost (the rebuild of an empty index): on SQLite, the
    commits made meanwhile are not each flushed to disk (`PRAGMA synchronous=NORMAL` on every connection
    checked out in the block; WAL checkpoints still flush). Under other disk traffic one flush can take a
    tenth of a second, and a rebuild commits every 500 files.

    Safe because the WAL keeps a prefix of the commits after a power failure (each frame's checksum chains
    the one before it), so a lost commit takes every later one with it, the load's end marker included, and
    the next start loads again. The pool is emptied at the end, so no connection keeps the setting (one
    still checked out then is closed when it is returned). Other databases: nothing changes.
    """
    if engine.dialect.name != "sqlite":
        yield
        return

    def relax(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "checkout", relax)
    try:
        yield
    finally:
        event.remove(engine, "checkout", relax)
        engine.dispose()


# -- counters: what changed, read once per request (on SQLite only when the file changed) -------------

SERIAL = "serial"  # grows with every change of the index (files, projects, statuses)
ACCESS = "access"  # grows with every change of users, groups, grants and the run-time defaults
COUNTERS = table("counters", column("name", String), column("value", BigInteger))


def read_counters(db: Session | Connection, names: Sequence[str] = (SERIAL, ACCESS)) -> dict[str, int]:
    """The counters' values now (0 for a counter not made yet): one indexed SELECT, as plain SQL (it runs on
    every request: no statement to build, no ORM step)."""
    conn = db.connection() if isinstance(db, Session) else db
    rows = conn.exec_driver_sql(_counters_sql(tuple(names))).all()
    found = dict(rows)
    return {name: int(found.get(name) or 0) for name in names}


@functools.cache
def _counters_sql(names: tuple[str, ...]) -> str:
    if not all(name.isidentifier() for name in names):  # the names are ours, written into the SQL
        raise ValueError(f"Counter names must be identifiers: {names!r}")
    listed = ", ".join(f"'{name}'" for name in names)
    return f"SELECT name, value FROM counters WHERE name IN ({listed})"  # noqa: S608 (identifiers only)


class Counters:
    """Reads the counters for each request: one query on a pooled connection (PostgreSQL, or any database)."""

    def __init__(self, engine: Engine, names: Sequence[str] = (SERIAL, ACCESS)) -> None:
        self.engine = engine
        self.names = tuple(names)

    def read(self) -> dict[str, int]:
        """{counter name: value} now; a change committed anywhere (any process, any host) is seen."""
        with self.engine.connect() as conn:
            return read_counters(conn, self.names)


class SqliteCounters(Counters):
    """The counters of an SQLite file, re-read only when `PRAGMA data_version` says the file changed.

    The pragma answers from the connection's own state (no table is read) and moves with every commit of any
    other connection, in this process or another, so a change is seen on the very next request. The
    process keeps one autocommit connection of its own for it, opened again after a fork (it is never used
    across one) and after the engine is disposed (the database may have been re-created).
    """

    def __init__(self, engine: Engine, names: Sequence[str] = (SERIAL, ACCESS)) -> None:
        super().__init__(engine, names)
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = 0
        self._version: int | None = None
        self._values: dict[str, int] = {}
        self._inherited: list[Any] = []  # connections opened before a fork: never used, never closed
        event.listen(engine, "engine_disposed", lambda _conn: self.close())

    def read(self) -> dict[str, int]:
        with self._lock:
            conn = self._connection()
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:  # read after the pragma: a commit in between moves it again
                found = dict(conn.execute(_counters_sql(self.names)).fetchall())
                self._values = {name: int(found.get(name) or 0) for name in self.names}
                self._version = version
            return self._values

    def _connection(self) -> Any:
        if self._conn is not None and self._pid != os.getpid():
            self._inherited.append(self._conn)  # closing it in the child would drop the parent's file locks
            self._conn = None
        if self._conn is None:
            dialect = self.engine.dialect
            args, kwargs = dialect.create_connect_args(self.engine.url)
            kwargs.update(check_same_thread=False, isolation_level=None)  # autocommit: no snapshot is held
            self._conn = dialect.loaded_dbapi.connect(*args, **kwargs)
            self._pid = os.getpid()
            self._version = None
        return self._conn

    def close(self) -> None:
        """Close this process's connection (the next read opens another)."""
        with self._lock:
            conn, self._conn, self._version = self._conn, None, None
            if conn is not None and self._pid == os.getpid():
                conn.close()
            elif conn is not None:  # a dispose after a fork (post_fork): the parent's, kept, never closed here
                self._inherited.append(conn)


def counters(engine: Engine, names: Sequence[str] = (SERIAL, ACCESS)) -> Counters:
    """The counters' reader for an engine: SqliteCounters for an SQLite file, else one query a read."""
    database = engine.url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database or engine.url.query.get("mode") == "memory"
    if engine.dialect.name == "sqlite" and not in_memory:
        return SqliteCounters(engine, names)
    return Counters(engine, names)


def bump_counter(session: Session | Connection, name: str) -> None:
    """Advance a counter inside the caller's transaction (made at 1 on first use)."""
    result = session.execute(update(COUNTERS).where(COUNTERS.c.name == name).values(value=COUNTERS.c.value + 1))
    if not result.rowcount:
        session.execute(insert(COUNTERS).values(name=name, value=1))


class GenerationCache:
    """Values computed from the database as it was at one generation (a counter's value, or a tuple of
    them), shared by a process's threads and dropped as soon as a request sees another generation.

    A request that read an older generation than the cache holds computes its value without storing it,
    so a slow request never brings stale values back. `size` bounds the entries (least recently used go).
    """

    def __init__(self, size: int) -> None:
        self._values: LRUCache[Hashable, Any] = LRUCache(maxsize=size)
        self._generation: Any = None
        self._lock = threading.Lock()

    def get(self, generation: Any, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of `key` at `generation`, computed on a miss."""
        with self._lock:
            if generation != self._generation:
                if self._generation is not None and generation < self._generation:
                    return compute()
                self._values.clear()
                self._generation = generation
            try:
                return self._values[key]
            except KeyError:
                pass
        value = compute()
        with self._lock:
            if generation == self._generation:
                self._values[key] = value
        return value

    def __len__(self) -> int:
        return len(self._values)
