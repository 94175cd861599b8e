"""API tokens: `pypi-<lookup>_<secret>`, shown once, stored as a salted SHA-256 of the secret.

The lookup part finds the row with one indexed query; the digest is compared in constant time. The
secret is 256 random bits, so a fast hash is enough (a slow one would only slow every request down).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.errors import BadRequest, NotFound
from ..core.names import canonical, validate_project_name
from ..core.records import utcnow
from . import PERMISSIONS, WRITE, Principal
from .models import ApiToken

PREFIX = "pypi-"
_TOKEN = re.compile(r"^pypi-([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    """A token as its owner or an admin sees it (never the secret)."""

    id: int
    owner: str
    description: str
    permission: str
    projects: tuple[str, ...] | None
    created: datetime
    expires: datetime | None
    last_used: datetime | None
    revoked: datetime | None

    @property
    def active(self) -> bool:
        """Neither revoked nor expired."""
        return self.revoked is None and (self.expires is None or self.expires > utcnow())

    def as_json(self) -> dict:
        """The JSON form the API answers with."""
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        return {"id": self.id, "owner": self.owner, "description": self.description,
                "permission": self.permission, "projects": list(self.projects) if self.projects else None,
                "created": iso(self.created), "expires": iso(self.expires), "last_used": iso(self.last_used),
                "revoked": iso(self.revoked), "active": self.active}  # fmt: skip


def looks_like_token(secret: str) -> bool:
    """Whether a password is shaped like one of our tokens."""
    return secret.startswith(PREFIX)


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.owner, row.description, row.permission,
                     tuple(row.projects) if row.projects is not None else None,
                     row.created, row.expires, row.last_used, row.revoked)  # fmt: skip


class TokenStore:
    """Create, verify, list and revoke tokens in the request's (or command's) session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, owner: str, *, permission: str = WRITE, projects: Iterable[str] | None = None,
               expires: datetime | None = None, description: str = "") -> tuple[TokenInfo, str]:  # fmt: skip
        """A new token for `owner`; returns its facts and the token text (the only time it is shown)."""
        if permission not in PERMISSIONS:
            raise BadRequest(f"Unknown token permission {permission!r}: use read or write.")
        scope = None if projects is None else sorted({canonical(validate_project_name(p)) for p in projects})
        if scope is not None and not scope:
            raise BadRequest("A scoped token needs at least one project.")
        if expires is not None and expires <= utcnow():
            raise BadRequest("The expiry date is in the past.")
        lookup, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_hex(16)
        row = ApiToken(lookup=lookup, owner=owner, description=description[:200], salt=salt,
                       digest=_digest(salt, secret), permission=permission, projects=scope,
                       expires=expires)  # fmt: skip
        self.session.add(row)
        self.session.commit()
        return _info(row), f"{PREFIX}{lookup}_{secret}"

    def verify(self, token: str) -> Principal | None:
        """The principal a valid, unexpired, unrevoked token stands for; else None."""
        match = _TOKEN.match(token)
        if not match:
            return None
        row = self.session.scalar(select(ApiToken).where(ApiToken.lookup == match.group(1)))
        if row is None or not hmac.compare_digest(row.digest, _digest(row.salt, match.group(2))):
            return None
        now = utcnow()
        if row.revoked is not None or (row.expires is not None and row.expires <= now):
            return None
        if row.last_used is None or now - row.last_used > LAST_USED_EVERY:
            row.last_used = now
            self.session.commit()
        scope = frozenset(row.projects) if row.projects is not None else None
        return Principal(row.owner, via_token=True, token_id=row.id, token_projects=scope,
                         token_permission=row.permission)  # fmt: skip

    def list(self, owner: str | None = None) -> list[TokenInfo]:
        """Tokens (of one owner), newest first."""
        query = select(ApiToken).order_by(ApiToken.id.desc())
        if owner is not None:
            query = query.where(ApiToken.owner == owner)
        return [_info(row) for row in self.session.scalars(query)]

    def revoke(self, token_id: int, owner: str | None = None) -> TokenInfo:
        """Revoke a token (of `owner`, when given); it stops working on the next request."""
        row = self.session.get(ApiToken, token_id)
        if row is None or (owner is not None and row.owner != owner):
            raise NotFound(f"No token {token_id}.")
        if row.revoked is None:
            row.revoked = utcnow()
            self.session.commit()
        return _info(row)

    def revoke_all(self, owner: str) -> int:
        """Revoke every active token of a user (when the user is removed)."""
        query = select(ApiToken).where(ApiToken.owner == owner, ApiToken.revoked.is_(None))
        rows = self.session.scalars(query)
        count = 0
        for row in rows:
            row.revoked, count = utcnow(), count + 1
        self.session.commit()
        return count
