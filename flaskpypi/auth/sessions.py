"""Browser sessions kept server-side, so that logging out (or changing the password) ends them.

Flask's session is a signed cookie the server cannot take back; it carries only a random secret here,
and the row keyed by that secret's sha256 is what makes it a login. Deleting the row ends the session
even for a copy of the cookie saved before; a row also carries the password's fingerprint at login,
so a password changed anywhere (an admin, the CLI, the config file) ends the sessions made before.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ..core.records import utcnow
from .models import BrowserSession

LIFETIME = 14 * 86400  # seconds: the session_lifetime setting's default


def _id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SessionStore:
    """Open, find and end browser sessions; `lifetime` seconds is the longest a session lasts."""

    def __init__(self, session: Session, lifetime: int = LIFETIME) -> None:
        self.session = session
        self.lifetime = timedelta(seconds=lifetime)

    def open(self, user: str, stamp: str) -> str:
        """A new session for a user who just proved their password; the secret for the cookie (32 bytes)."""
        secret = secrets.token_urlsafe(32)
        self.session.execute(delete(BrowserSession).where(BrowserSession.created < utcnow() - self.lifetime))
        self.session.add(BrowserSession(id=_id(secret), user=user, stamp=stamp, created=utcnow()))
        self.session.commit()
        return secret

    def find(self, secret: str) -> tuple[str, str] | None:
        """(user, password fingerprint at login) of a live session, else None (unknown, ended or too old)."""
        row = self.session.get(BrowserSession, _id(secret)) if secret else None
        if row is None or row.created <= utcnow() - self.lifetime:
            return None
        return row.user, row.stamp

    def end(self, secret: str) -> None:
        """Log out: the session's row goes, so no copy of its cookie works again."""
        self.session.execute(delete(BrowserSession).where(BrowserSession.id == _id(secret)))
        self.session.commit()

    def end_all(self, user: str) -> int:
        """End every session of a user (a password change, a removal); how many there were."""
        result = self.session.execute(delete(BrowserSession).where(BrowserSession.user == user))
        self.session.commit()
        return result.rowcount or 0
