"""Throttle password guessing: failed logins counted in SQL per user@address, per address and per user.

The counts live in the database, not in the process, so they hold across gunicorn workers and hosts
(SQLite or PostgreSQL, no extra service). Counting per user@address means an attacker at one address
cannot lock the user out elsewhere; the per-address limit caps guessing across many user names; the
per-user total (high) slows a guess spread over many addresses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, func, insert, select

from ..core.errors import TooManyRequests
from ..core.records import utcnow
from .models import LoginFailure


@dataclass(frozen=True)
class Limits:
    """How many failures each key allows within `window` seconds."""

    window: int = 300
    per_user_address: int = 5
    per_address: int = 20
    per_user: int = 100


class RateLimiter:
    """Refuse (429 with Retry-After) before checking credentials once a key is over its limit."""

    def __init__(self, engine: Callable[[], Engine], limits: Limits) -> None:
        self.engine = engine
        self.limits = limits

    def _keys(self, username: str, address: str) -> dict[str, int]:
        user = username.casefold()[:100]
        return {
            f"u:{user}@{address}": self.limits.per_user_address,
            f"a:{address}": self.limits.per_address,
            f"u:{user}": self.limits.per_user,
        }

    def check(self, username: str, address: str) -> bool:
        """Raise TooManyRequests if this user or address failed too often lately; else whether any failed."""
        keys = self._keys(username, address)
        since = utcnow() - timedelta(seconds=self.limits.window)
        query = (
            select(LoginFailure.key, func.count(), func.min(LoginFailure.at))
            .where(LoginFailure.key.in_(keys), LoginFailure.at > since)
            .group_by(LoginFailure.key)
        )
        with self.engine().connect() as conn:
            rows = conn.execute(query).all()
        for key, count, oldest in rows:
            if count >= keys[key]:
                oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=since.tzinfo)
                wait = (oldest - since).total_seconds()
                raise TooManyRequests("Too many failed logins; try again later.", retry_after=max(1, math.ceil(wait)))
        return bool(rows)

    def failed(self, username: str, address: str) -> None:
        """Count one failure against every key; forget failures older than the window."""
        now = utcnow()
        keys = self._keys(username, address)
        with self.engine().begin() as conn:
            conn.execute(insert(LoginFailure), [{"key": key, "at": now} for key in keys])
            expired = now - timedelta(seconds=self.limits.window)
            conn.execute(delete(LoginFailure).where(LoginFailure.at < expired))

    def succeeded(self, username: str, address: str) -> None:
        """A right password clears this user's failures from this address."""
        key = next(iter(self._keys(username, address)))
        with self.engine().begin() as conn:
            conn.execute(delete(LoginFailure).where(LoginFailure.key == key))
