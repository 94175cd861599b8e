"""Run-time defaults: who may read, write and trigger caching of projects without grants.

The config file gives the starting values; `flaskpypi perm defaults` or the admin API store an
override in SQL, which every worker reads on its next request.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.errors import BadRequest
from .models import AccessSetting
from .policy import Defaults

FIELDS = {"read": "default_read", "write": "default_write", "cache": "cache_update"}
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")


def load(session: Session, configured: Defaults) -> Defaults:
    """The configured defaults with any stored override applied."""
    stored = {row.name: row.value for row in session.scalars(select(AccessSetting))}
    values = {attr: tuple(stored.get(name, getattr(configured, attr))) for attr, name in FIELDS.items()}
    return Defaults(**values)


def save(session: Session, configured: Defaults, **changes: Sequence[str] | None) -> Defaults:
    """Store new values for read/write/cache (None leaves one as it is); returns the defaults in force."""
    for attr, groups in changes.items():
        if attr not in FIELDS:
            raise BadRequest(f"Unknown default {attr!r}: use read, write or cache.")
        if groups is None:
            continue
        bad = [g for g in groups if not _GROUP.match(g)]
        if bad:
            raise BadRequest(f"Invalid group names in the {attr} default: {', '.join(map(repr, bad))}.")
        row = session.get(AccessSetting, FIELDS[attr]) or AccessSetting(name=FIELDS[attr])
        row.value = sorted(set(groups))
        session.add(row)
    session.commit()
    return load(session, configured)


def reset(session: Session, configured: Defaults) -> Defaults:
    """Forget the stored override: the config file's values apply again."""
    for row in session.scalars(select(AccessSetting).where(AccessSetting.name.in_(FIELDS.values()))):
        session.delete(row)
    session.commit()
    return configured
