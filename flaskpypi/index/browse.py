"""Browsing and searching projects for people, filtered by a reader, fast at any size.

Listings sort by last activity (newest first) or by name and page both ways by keyset (the row a page ends
or starts at), so the thousandth page costs what the first does. Searches use the full-text index (`search`):
ranked, they page by number over at most `search.MAX_RESULTS` matches. A `readable` filter (the access policy,
applied by the caller) drops what the asker may not see, batch by batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from ..core.names import DEFAULT_INDEX, canonical
from . import search
from .models import LIVE, Counter, File, Project, listed
from .service import sort_key

SORTS = ("updated", "name")
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
    """One page: its rows, the newest version of each, and the cursors (listings) or numbers (searches) of
    the pages before and after it."""

    rows: list[ProjectRow]
    next: str | None = None
    previous: str | None = None
    latest: dict[int, str] = field(default_factory=dict)
    exact: ProjectRow | None = None
    number: int = 1
    pages: int = 1
    total: int = 0


Readable = Callable[[list[ProjectRow]], list[ProjectRow]]


class ProjectBrowser:
    """Listings of the projects of some hosted indexes (the built-in one unless told) over one SQL session.
    A project that several of the indexes hold is one row per index: the caller's `readable` keeps one."""

    def __init__(self, session: Session, batch: int = 200, indexes: Sequence[str] = (DEFAULT_INDEX,)) -> None:
        self.session = session
        self.batch = batch
        self.indexes = tuple(indexes)

    def _base(self) -> Select:
        return select(Project.name, Project.display_name, Project.summary, Project.last_update, Project.id,
                      Project.status).where(Project.index_name.in_(self.indexes), listed())  # fmt: skip

    def listing(self, sort: str, after: str | None, before: str | None, size: int,
                readable: Readable) -> ProjectPage:  # fmt: skip
        """Up to `size` readable projects after (or before) a cursor, by last activity or by name."""
        sort = sort if sort in SORTS else SORTS[0]
        backward = before is not None and after is None
        cursor = _decode(sort, before if backward else after)
        kept = self._collect(self._base(), sort, cursor, backward, size, readable)
        rows = kept[:size]
        more = len(kept) > size
        if backward:
            rows.reverse()
        first, last = (_encode(sort, rows[0]), _encode(sort, rows[-1])) if rows else (None, None)
        page = ProjectPage(rows, next=last if (more if not backward else rows) else None,
                           previous=first if (more if backward else cursor is not None and rows) else None)  # fmt: skip
        page.latest = self.latest_versions([r.id for r in rows])
        return page

    def _collect(self, stmt: Select, sort: str, cursor: object, backward: bool, size: int,
                 readable: Readable) -> list[ProjectRow]:  # fmt: skip
        """Read batches in the listing's order until a page and one more row are readable, or rows run out."""
        kept: list[ProjectRow] = []
        while True:
            batch = self._rows(_seek(stmt, sort, cursor, backward).limit(self.batch))
            kept.extend(readable(batch))
            if len(kept) > size or len(batch) < self.batch:
                return kept
            cursor = _key(sort, batch[-1])

    def search(self, query: str, number: int, size: int, readable: Readable) -> ProjectPage:
        """Page `number` of the readable projects matching `query`, best first (see `search.ranked`)."""
        ids = search.ranked(self.session, query)
        found: dict[int, ProjectRow] = {}
        for start in range(0, len(ids), self.batch):
            chunk = ids[start : start + self.batch]
            found.update((r.id, r) for r in readable(self._rows(self._base().where(Project.id.in_(chunk)))))
        rows = [found[i] for i in ids if i in found]
        pages = max(1, -(-len(rows) // size))
        number = min(max(1, number), pages)
        shown = rows[(number - 1) * size : number * size]
        wanted = canonical(query.strip().replace(" ", "-"))
        exact = rows[0] if rows and rows[0].name == wanted else None
        return ProjectPage(shown, next=str(number + 1) if number < pages else None,
                           previous=str(number - 1) if number > 1 else None,
                           latest=self.latest_versions([r.id for r in shown]), exact=exact,
                           number=number, pages=pages, total=len(rows))  # fmt: skip

    def _rows(self, stmt: Select) -> list[ProjectRow]:
        return [ProjectRow(*row) for row in self.session.execute(stmt)]

    def listed(self, names: Sequence[str]) -> list[str]:
        """Those of these project names that the listings hold."""
        found: list[str] = []
        for start in range(0, len(names), self.batch):
            chunk = names[start : start + self.batch]
            found += self.session.scalars(select(self._base().where(Project.name.in_(chunk)).subquery().c.name))
        return found

    def count(self) -> int:
        """How many projects the listings hold (every reader's share of them is the caller's business);
        counted once per change of the index (the serial), per process."""
        serial = self.session.scalar(select(Counter.value).where(Counter.name == "serial")) or 0
        key = (str(self.session.get_bind().url), serial)
        if key not in _COUNTS:
            if len(_COUNTS) > 16:
                _COUNTS.clear()
            _COUNTS[key] = self.session.scalar(select(func.count()).select_from(self._base().subquery())) or 0
        return _COUNTS[key]

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


_COUNTS: dict[tuple[str, int], int] = {}  # (database, serial) -> count; older serials are dropped


def _key(sort: str, row: ProjectRow) -> object:
    return row.name if sort == "name" else Cursor(row.last_update, row.id)


def _encode(sort: str, row: ProjectRow) -> str:
    return row.name if sort == "name" else Cursor(row.last_update, row.id).encode()


def _decode(sort: str, text: str | None) -> object:
    if not text:
        return None
    return canonical(text) if sort == "name" else Cursor.decode(text)


def _seek(stmt: Select, sort: str, cursor: object, backward: bool) -> Select:
    """The listing's rows past the cursor, in its order (reversed when paging backward)."""
    if sort == "name":
        if isinstance(cursor, str):
            stmt = stmt.where(Project.name < cursor if backward else Project.name > cursor)
        return stmt.order_by(Project.name.desc() if backward else Project.name)
    if isinstance(cursor, Cursor):
        newer = or_(Project.last_update > cursor.last_update,
                    and_(Project.last_update == cursor.last_update, Project.id > cursor.id))  # fmt: skip
        older = or_(Project.last_update < cursor.last_update,
                    and_(Project.last_update == cursor.last_update, Project.id < cursor.id))  # fmt: skip
        stmt = stmt.where(newer if backward else older)
    if backward:
        return stmt.order_by(Project.last_update, Project.id)
    return stmt.order_by(Project.last_update.desc(), Project.id.desc())
