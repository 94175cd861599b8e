"""The SQLAlchemy base every table of flaskpypi (index, auth, upstream) shares, its column types, and the
counters (serials) that per-process caches are keyed by."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from cachetools import LRUCache
from sqlalchemy import BigInteger, Connection, DateTime, String, TypeDecorator, column, insert, table, update
from sqlalchemy.orm import DeclarativeBase, Session

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


# -- counters: what changed, read in one cheap query per request ---------------------------------

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
