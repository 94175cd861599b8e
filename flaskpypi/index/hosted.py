"""Every hosted index at once: rebuilt from storage together, counted together."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.names import DEFAULT_INDEX
from ..storage import Storage, StoredFile
from .models import Project
from .rebuild import Rebuilder
from .service import IndexService, Policy


def hosted_indexes(session: Session, configured: Iterable[str]) -> list[str]:
    """`default` first, then the configured hosted indexes, then any other the database holds rows of."""
    names = [DEFAULT_INDEX, *sorted(set(configured) - {DEFAULT_INDEX})]
    known = set(session.scalars(select(Project.index_name).distinct()))
    session.rollback()
    return names + sorted(known - set(names))


def rebuild_indexes(session: Session, storage: Storage, policy: Policy, indexes: Iterable[str],
                    listing: Iterable[StoredFile] | None = None) -> tuple[int, int]:  # fmt: skip
    """Rebuild each hosted index from its part of the storage (`listing`, when given, is the whole storage's,
    for the built-in index); returns (projects, live files) over all of them."""
    projects = files = 0
    for name in indexes:
        rebuilder = Rebuilder(session, storage, policy, name)
        got = rebuilder.rebuild(listing if name == DEFAULT_INDEX else None)
        projects, files = projects + got[0], files + got[1]
    return projects, files


def index_counts(session: Session, storage: Storage, indexes: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(projects, live files) per hosted index: two counting queries each."""
    return {name: IndexService(session, storage, index=name).counts() for name in indexes}
