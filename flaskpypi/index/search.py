"""Project search with the database's own full-text index: SQLite FTS5, PostgreSQL tsvector with GIN.

A project's document is its name, and the summary, keywords and classifiers of its newest live file. Results
come in tiers: the exact name, then names that start with the query (shortest first), then full-text matches
ranked by the database (bm25 on SQLite, ts_rank on PostgreSQL) with the name weighted above summary and
keywords, and those above classifiers. Every query word matches as a prefix, so
the list narrows as one types.

The documents follow the projects and files tables by themselves: a session event notes every project whose
rows a flush touches, and the commit refreshes their documents in the same transaction (uploads, deletes,
yanks, status changes, cached files, recoveries and rebuilds alike). `refresh_all` rebuilds every document
(migration 0006 and `flaskpypi reindex` call it). The tables are made by migration 0006, not by the models.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, TextClause, event, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..core.names import canonical
from .models import LIVE, File, Project

MAX_RESULTS = 1000  # ranked matches a search considers; enough pages for people, bounded for the database
MAX_TERMS = 8
MAX_QUERY = 100
BATCH = 500
_DIRTY = "flaskpypi.search.dirty"
_WORDS = re.compile(r"[^\W_]+")
_PG_INSERT = text(
    "INSERT INTO project_search (project_id, document) VALUES (:id, "
    "setweight(to_tsvector('simple', :name), 'A') || setweight(to_tsvector('simple', :summary), 'B') || "
    "setweight(to_tsvector('simple', :keywords), 'B') || setweight(to_tsvector('simple', :classifiers), 'D'))"
)


def words(query: str) -> list[str]:
    """The query's words (letters and digits), lower-cased, at most MAX_TERMS of at most MAX_QUERY characters."""
    return _WORDS.findall(query[:MAX_QUERY].lower())[:MAX_TERMS]


def _text(value: object) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value or "")


# -- documents -------------------------------------------------------------------------------------


def _documents(conn: Connection, project_ids: Sequence[int]) -> dict[int, tuple[str, str, str, str]]:
    """(name words, summary, keywords, classifiers) of each existing project among `project_ids`."""
    projects = conn.execute(
        select(Project.id, Project.name, Project.display_name, Project.summary).where(Project.id.in_(project_ids))
    ).all()
    order = (File.upload_time.desc(), File.id.desc())
    number = func.row_number().over(partition_by=File.project_id, order_by=order).label("n")
    newest = (
        select(File.project_id, File.summary, File.meta, number)
        .where(File.project_id.in_(project_ids), File.state == LIVE)
        .subquery()
    )
    query = select(newest.c.project_id, newest.c.summary, newest.c.meta).where(newest.c.n == 1)
    files = {pid: (summary, meta or {}) for pid, summary, meta in conn.execute(query)}
    docs = {}
    for pid, name, display, summary in projects:
        file_summary, meta = files.get(pid, ("", {}))
        docs[pid] = document(name, display, file_summary or summary, meta)
    return docs


def document(name: str, display_name: str, summary: str | None, meta: dict[str, Any]) -> tuple[str, str, str, str]:
    """A project's document: (name words, summary, keywords, classifiers), from its newest live file's
    summary and metadata (`meta`; {} without one)."""
    names = " ".join(dict.fromkeys([name, display_name, name.replace("-", " ")]))
    return names, summary or "", _text(meta.get("keywords")), _text(meta.get("classifiers"))


def refresh(conn: Connection, project_ids: Iterable[int]) -> None:
    """Rewrite the documents of these projects (removing those of projects that are gone)."""
    ids = sorted(set(project_ids))
    postgres = conn.dialect.name == "postgresql"
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        docs = _documents(conn, chunk)
        if postgres:
            conn.execute(text("DELETE FROM project_search WHERE project_id = ANY(:ids)"), {"ids": chunk})
        else:
            conn.execute(text("DELETE FROM project_fts WHERE rowid = :id"), [{"id": i} for i in chunk])
        add(conn, docs)


def add(conn: Connection, docs: dict[int, tuple[str, str, str, str]]) -> None:
    """Write documents (project id -> `document()`) of projects that have none: new ones, or after a delete."""
    rows = [{"id": pid, "name": d[0], "summary": d[1], "keywords": d[2], "classifiers": d[3]}
            for pid, d in docs.items()]  # fmt: skip
    if rows and conn.dialect.name == "postgresql":
        conn.execute(_PG_INSERT, rows)
    elif rows:
        conn.execute(text("INSERT INTO project_fts (rowid, name, summary, keywords, classifiers) "
                          "VALUES (:id, :name, :summary, :keywords, :classifiers)"), rows)  # fmt: skip


def refresh_all(conn: Connection) -> int:
    """Rebuild every document (in batches); returns how many projects there are."""
    ids = list(conn.scalars(select(Project.id).order_by(Project.id)))
    if conn.dialect.name == "postgresql":
        conn.execute(text("DELETE FROM project_search"))
    else:
        conn.execute(text("DELETE FROM project_fts"))
    refresh(conn, ids)
    return len(ids)


# -- keeping the documents in step -----------------------------------------------------------------


def note(session: Session, project: Project) -> None:
    """Refresh this project's document when the session commits, changed or not (a rebuild's reconcile)."""
    session.info.setdefault(_DIRTY, set()).add(project.id if project.id is not None else project)


@event.listens_for(Session, "before_flush")
def _note(session: Session, flush_context: object, instances: object) -> None:
    """Remember the projects whose rows this flush writes (new projects by object: they have no id yet)."""
    dirty = session.info.setdefault(_DIRTY, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Project):
            dirty.add(obj.id if obj.id is not None else obj)
        elif isinstance(obj, File):
            dirty.add(obj.project_id if obj.project_id is not None else obj.project)


@event.listens_for(Session, "before_commit")
def _refresh_noted(session: Session) -> None:
    """Refresh the noted projects' documents inside the transaction that changed them."""
    if not session.info.get(_DIRTY):
        return
    session.flush()
    noted = session.info.pop(_DIRTY, set())
    ids = {n if isinstance(n, int) else getattr(n, "id", None) for n in noted}
    ids.discard(None)
    if ids:
        refresh(session.connection(), ids)  # type: ignore[arg-type]


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_DIRTY, None)


# -- searching -------------------------------------------------------------------------------------


def _like_escape(text_: str) -> str:
    return text_.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def name_query(dialect: str, query: str, limit: int = MAX_RESULTS) -> Select | None:
    """The statement for `name_matches` on this dialect (None: the query names nothing)."""
    wanted = canonical(query.strip().replace(" ", "-"))
    if not wanted:
        return None
    if dialect == "postgresql":  # LIKE 'x%' uses the text_pattern_ops index
        condition = Project.name.like(_like_escape(wanted) + "%", escape="\\")
    else:  # SQLite's LIKE ignores case and so its index: a range over the binary order does the same
        condition = (Project.name >= wanted) & (Project.name < wanted + "\uffff")
    return select(Project.id).where(condition).order_by(func.length(Project.name), Project.name).limit(limit)


def name_matches(session: Session, query: str, limit: int = MAX_RESULTS) -> list[int]:
    """Ids of projects named `query` (normalised) first, then of names starting with it, shortest first."""
    stmt = name_query(session.get_bind().dialect.name, query, limit)
    return [] if stmt is None else list(session.scalars(stmt))


def text_query(dialect: str, query: str, limit: int = MAX_RESULTS) -> tuple[TextClause, dict[str, Any]] | None:
    """The statement and parameters for `text_matches` on this dialect (None: no words to look for)."""
    terms = words(query)
    if not terms:
        return None
    if dialect == "postgresql":
        sql = text("SELECT project_id FROM project_search, to_tsquery('simple', :q) AS q WHERE document @@ q "
                   "ORDER BY ts_rank(document, q) DESC, project_id LIMIT :n")  # fmt: skip
        return sql, {"q": " & ".join(f"{t}:*" for t in terms), "n": limit}
    sql = text("SELECT rowid FROM project_fts WHERE project_fts MATCH :q "
               "ORDER BY bm25(project_fts, 10.0, 4.0, 4.0, 1.0), rowid LIMIT :n")  # fmt: skip
    return sql, {"q": " ".join(f'"{t}"*' for t in terms), "n": limit}


def text_matches(session: Session, query: str, limit: int = MAX_RESULTS) -> list[int]:
    """Ids of projects whose document holds every word of `query` (as a prefix), best ranked first."""
    found = text_query(session.get_bind().dialect.name, query, limit)
    return [] if found is None else list(session.scalars(found[0], found[1]))


def ranked(session: Session, query: str, limit: int = MAX_RESULTS) -> list[int]:
    """Project ids for a search, best first: exact name, names starting with it, then full-text matches."""
    found = dict.fromkeys(name_matches(session, query, limit))
    for pid in text_matches(session, query, limit):
        if len(found) >= limit:
            break
        found.setdefault(pid, None)
    return list(found)
