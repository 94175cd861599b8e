"""Throttle password guessing: password checks counted in SQL per user@address, per address and per user.

The counts live in the database, not in the process, so they hold across gunicorn workers and hosts
(SQLite or PostgreSQL, no extra service). A check is counted *before* the password is verified, by one
atomic upsert per key (row locks on PostgreSQL, the write lock on SQLite), so requests sent at once
cannot all slip under the limit; a right password takes its count back. Counting per user@address means
an attacker at one address cannot lock the user out elsewhere; the per-address limit caps guessing across
many user names; the per-user total (high) slows a guess spread over many addresses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, case, delete, literal, select, update

from ..core.errors import TooManyRequests
from ..core.records import utcnow
from ..sql import upsert_insert
from .models import LoginAttempts

TOO_MANY = "Too many failed logins; try again later."


@dataclass(frozen=True)
class Limits:
    """How many failures each key allows within `window` seconds."""

    window: int = 300
    per_user_address: int = 5
    per_address: int = 20
    per_user: int = 100


class RateLimiter:
    """Refuse (429 with Retry-After) before checking credentials once a key is at its limit."""

    def __init__(self, engine: Callable[[], Engine], limits: Limits) -> None:
        self.engine = engine
        self.limits = limits

    def _keys(self, username: str, address: str) -> dict[str, int]:
        """key -> limit; the first key is user@address, the one a right password clears."""
        user = username.casefold()[:100]
        return {
            f"u:{user}@{address}": self.limits.per_user_address,
            f"a:{address}": self.limits.per_address,
            f"u:{user}": self.limits.per_user,
        }

    def _refuse(self, since: datetime, now: datetime) -> TooManyRequests:
        since = since if since.tzinfo else since.replace(tzinfo=now.tzinfo)
        wait = (since + timedelta(seconds=self.limits.window) - now).total_seconds()
        return TooManyRequests(TOO_MANY, retry_after=max(1, math.ceil(wait)))

    def check(self, username: str, address: str) -> None:
        """Raise TooManyRequests if a key is at its limit (a read: refusing costs no write)."""
        keys = self._keys(username, address)
        now = utcnow()
        query = select(LoginAttempts.key, LoginAttempts.count, LoginAttempts.since).where(
            LoginAttempts.key.in_(keys), LoginAttempts.since > now - timedelta(seconds=self.limits.window)
        )
        with self.engine().connect() as conn:
            for key, count, since in conn.execute(query):
                if count >= keys[key]:
                    raise self._refuse(since, now)

    def reserve(self, username: str, address: str) -> None:
        """Count one password check against every key before it runs; TooManyRequests (counting nothing)
        when that would pass a limit. Atomic: of N concurrent checks at most the limit get through."""
        keys = self._keys(username, address)
        now = utcnow()
        with self.engine().begin() as conn:
            for key in sorted(keys):  # one lock order for every request: no deadlocks
                count, since = self._count(conn, key, now)
                if count > keys[key]:
                    conn.rollback()
                    raise self._refuse(since, now)

    def _count(self, conn: Connection, key: str, now: datetime) -> tuple[int, datetime]:
        """Add one to a key (starting again at one when its window is over); its new (count, since)."""
        table = LoginAttempts.__table__
        expired = table.c.since <= now - timedelta(seconds=self.limits.window)
        started = literal(now, table.c.since.type)
        upsert = upsert_insert(conn.dialect.name)
        if upsert is not None:
            stmt = upsert(table).values(key=key, count=1, since=now)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "count": case((expired, 1), else_=table.c.count + 1),
                    "since": case((expired, started), else_=table.c.since),
                },
            )
            count, since = conn.execute(stmt.returning(table.c.count, table.c.since)).one()
            return count, since
        # Another database: an UPDATE takes the row lock; a missing row is inserted.
        bump = update(table).where(table.c.key == key)
        done = conn.execute(bump.values(count=case((expired, 1), else_=table.c.count + 1),
                                        since=case((expired, started), else_=table.c.since)))  # fmt: skip
        if not done.rowcount:
            conn.execute(table.insert().values(key=key, count=1, since=now))
        count, since = conn.execute(select(table.c.count, table.c.since).where(table.c.key == key)).one()
        return count, since

    def succeeded(self, username: str, address: str) -> None:
        """The password was right: its check was no failure, and this user's failures from this address end."""
        first, *others = self._keys(username, address)
        table = LoginAttempts.__table__
        with self.engine().begin() as conn:
            for key in sorted((first, *others)):
                values = {"count": 0} if key == first else {"count": table.c.count - 1}
                conn.execute(update(table).where(table.c.key == key, table.c.count > 0).values(**values))

    def prune(self) -> None:
        """Forget keys whose window is over (rows other requests hold locks on are left for next time)."""
        table = LoginAttempts.__table__
        old = select(table.c.key).where(table.c.since < utcnow() - timedelta(seconds=self.limits.window))
        with self.engine().begin() as conn:
            conn.execute(delete(table).where(table.c.key.in_(old.with_for_update(skip_locked=True))))
