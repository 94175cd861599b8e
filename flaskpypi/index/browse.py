"""Browsing and searching projects for people: newest activity first, keyset-paginated, filtered by a reader.

Search is a substring match over the name, display name and summary (each word must match one of them).
Pages are cut by (last_update, id) so the tenth page costs what the first does; a `readable` filter (the
access policy, applied by the caller) drops what the asker may not see, batch by batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from ..core.names import canonical
from .models import LIVE, File, Project, listed
from .service import sort_key

MAX_QUERY = 100
MAX_TERMS = 8
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last row's activity time and id."""

    last_update: datetime
    id: int

    def encode(self) -> str:
        """Text for a URL: microseconds since the epoch and the id."""
        return f"{(self.last_update - EPOCH) // MICROSECOND}-{self.id}"

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """The cursor of a URL, or None for a missing or mangled one (the first page)."""
        micros, sep, ident = (text or "").partition("-")
        if not sep or not micros.isdigit() or not ident.isdigit():
            return None
        try:
            return cls(EPOCH + int(micros) * MICROSECOND, int(ident))
        except OverflowError:
            return None


class ProjectRow(NamedTuple):
    """A project as a listing shows it; the first item is the normalised name (the policy filters on it)."""

    name: str
    display_name: str
    summary: str
    last_update: datetime
    id: int
    status: str


@dataclass
class ProjectPage:
    """One page of a listing: its rows, the newest version of each, and where the next page starts."""

    rows: list[ProjectRow]
    next: Cursor | None
    latest: dict[int, str] = field(default_factory=dict)
    exact: ProjectRow | None = None


Readable = Callable[[list[ProjectRow]], list[ProjectRow]]


def terms(query: str) -> list[str]:
    """The words of a search, at most MAX_TERMS of them, each within MAX_QUERY characters."""
    return query[:MAX_QUERY].split()[:MAX_TERMS]


def _like(word: str) -> str:
    escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(word: str) -> ColumnElement[bool]:
    """One word matches the normalised name, the display name or the summary, ignoring case."""
    pattern = _like(word)
    return or_(
        Project.name.like(_like(canonical(word)) if canonical(word) else pattern, escape="\\"),
        Project.display_name.ilike(pattern, escape="\\"),
        Project.summary.ilike(pattern, escape="\\"),
    )


class ProjectBrowser:
    """Listings over one SQL session."""

    def __init__(self, session: Session, batch: int = 200) -> None:
        self.session = session
        self.batch = batch

    def _base(self) -> Select:
        return select(Project.name, Project.display_name, Project.summary, Project.last_update, Project.id,
                      Project.status).where(listed())  # fmt: skip

    def page(self, query: str, after: Cursor | None, size: int, readable: Readable) -> ProjectPage:
        """Up to `size` readable projects matching `query`, after the cursor, newest activity first."""
        words = terms(query)
        stmt = self._base().where(*[_matches(w) for w in words])
        exact = None
        if words:
            wanted = canonical(" ".join(words).replace(" ", "-"))
            stmt = stmt.where(Project.name != wanted)
            if after is None:
                exact = next(iter(readable(self._rows(self._base().where(Project.name == wanted)))), None)
        rows, cursor = self._collect(stmt, after, size, readable)
        found = [*rows, *([exact] if exact else [])]
        return ProjectPage(rows, cursor, self.latest_versions([r.id for r in found]), exact)

    def _collect(self, stmt: Select, after: Cursor | None, size: int,
                 readable: Readable) -> tuple[list[ProjectRow], Cursor | None]:  # fmt: skip
        """Read batches until a page and one more row are readable, or the rows run out."""
        kept: list[ProjectRow] = []
        while True:
            batch = self._rows(_after(stmt, after).order_by(Project.last_update.desc(), Project.id.desc())
                               .limit(self.batch))  # fmt: skip
            if not batch:
                return kept, None
            for row in readable(batch):
                kept.append(row)
                if len(kept) > size:
                    last = kept[size - 1]
                    return kept[:size], Cursor(last.last_update, last.id)
            if len(batch) < self.batch:
                return kept, None
            after = Cursor(batch[-1].last_update, batch[-1].id)

    def _rows(self, stmt: Select) -> list[ProjectRow]:
        return [ProjectRow(*row) for row in self.session.execute(stmt)]

    def latest_versions(self, project_ids: Sequence[int]) -> dict[int, str]:
        """The version each project's listing shows (see latest_version), for a page of projects."""
        if not project_ids:
            return {}
        rows = self.session.execute(
            select(File.project_id, File.version, File.yanked)
            .where(File.project_id.in_(project_ids), File.state == LIVE)
            .distinct()
        )
        grouped: dict[int, dict[str, list[bool]]] = {}
        for pid, version, yanked in rows:
            grouped.setdefault(pid, {}).setdefault(version, []).append(yanked)
        return {pid: latest_version(versions) for pid, versions in grouped.items()}


def latest_version(yanked: Mapping[str, Sequence[bool]]) -> str:
    """The newest final release not wholly yanked; else the newest not wholly yanked; else the newest.

    `yanked` maps each version to the yanked flags of its files.
    """
    ordered = sorted(yanked, key=sort_key, reverse=True)
    live = [v for v in ordered if not all(yanked[v])]
    final = [v for v in live if _is_final(v)]
    return (final or live or ordered)[0]


def _is_final(version: str) -> bool:
    key = sort_key(version)
    return key[0] == 1 and not (key[1].is_prerelease or key[1].is_devrelease)  # type: ignore[union-attr]


def _after(stmt: Select, cursor: Cursor | None) -> Select:
    if cursor is None:
        return stmt
    return stmt.where(
        or_(
            Project.last_update < cursor.last_update,
            and_(Project.last_update == cursor.last_update, Project.id < cursor.id),
        )
    )
