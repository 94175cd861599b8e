"""What the upstream fallback asks of the index: local facts of a project, cached files in and out,
and the per-project upstream settings an admin sets (kept in Project.settings and _project.json)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..core.names import canonical, validate_project_name
from ..core.origins import CACHE as CACHE_ORIGIN
from ..core.origins import CACHE_INFO
from ..core.records import (
    METADATA_SUFFIX,
    PROVENANCE_SUFFIX,
    SIDECAR_SUFFIX,
    FileRecord,
    parse_iso,
)
from .models import DELETED, LIVE, File, Project
from .service import IndexService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalFacts:
    """What the index holds of a project: live files, whether any was uploaded here (private), tombstones."""

    project: Project | None
    live: int = 0
    private: bool = False
    cached: frozenset[str] = field(default_factory=frozenset)
    tombstones: frozenset[str] = field(default_factory=frozenset)


class CacheIndex(IndexService):
    """The index service seen from the upstream fallback."""

    def facts(self, project: Project | None) -> LocalFacts:
        """One query over the project's files: counts by origin and state, names of cached and deleted ones."""
        if project is None:
            return LocalFacts(None)
        rows = self.session.execute(
            select(File.filename, File.origin, File.state).where(File.project_id == project.id)
        ).all()
        live = sum(1 for r in rows if r.state == LIVE)
        private = any(r.origin != CACHE_ORIGIN for r in rows)  # a deleted upload still marks the name private
        cached = frozenset(r.filename for r in rows if r.origin == CACHE_ORIGIN and r.state == LIVE)
        tombstones = frozenset(r.filename for r in rows if r.state == DELETED)
        return LocalFacts(project, live, private, cached, tombstones)

    def is_cached(self, filename: str) -> bool:
        """Whether a file is live now, seen past this session's snapshot (another worker may have cached it)."""
        self.session.rollback()
        query = select(File.id).where(File.index_name == self.index_name, File.filename == filename, File.state == LIVE)
        return self.session.scalar(query) is not None

    def add_cached(self, record: FileRecord) -> None:
        """Index a file the upstream fetcher stored (sidecar and all); a concurrent registration wins quietly."""
        self.session.rollback()
        project = self.ensure_project(record)
        query = select(File.id).where(File.index_name == self.index_name, File.filename == record.filename)
        if self.session.scalar(query) is not None:
            return
        row = File(project=project, index_name=self.index_name, filename=record.filename)
        row.update_from(record)
        row.state = LIVE
        self.session.add(row)
        self.bump(project)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()

    # -- pruning -------------------------------------------------------------------------------

    def cached_files(self, older_than: datetime | None = None, projects: Iterable[str] = ()) -> list[File]:
        """Live cached files, fetched before `older_than` and in `projects` when given."""
        query = select(File).join(Project).where(File.index_name == self.index_name, File.origin == CACHE_ORIGIN,
                                                 File.state == LIVE)  # fmt: skip
        names = [canonical(p) for p in projects]
        if names:
            query = query.where(Project.name.in_(names))
        files = list(self.session.scalars(query.order_by(Project.name, File.filename)))
        if older_than is not None:
            files = [f for f in files if cached_at(f) < older_than]
        return files

    def prune(self, files: Iterable[File]) -> int:
        """Remove cached files from storage and the index entirely (they may be fetched again later); one
        transaction per project, under its lock (the order every writer keeps: project, files, serial)."""
        by_project: dict[str, set[str]] = {}
        for f in files:
            by_project.setdefault(f.project.name, set()).add(f.filename)
        count = 0
        for name in sorted(by_project):
            project = self.lock_project(name)
            if project is None:
                continue
            rows = self.session.scalars(
                select(File).where(
                    File.project_id == project.id,
                    File.filename.in_(sorted(by_project[name])),
                    File.origin == CACHE_ORIGIN,
                    File.state == LIVE,
                )
            ).all()
            for f in rows:
                key = f"{name}/{f.filename}"
                for suffix in (SIDECAR_SUFFIX, "", METADATA_SUFFIX, PROVENANCE_SUFFIX):
                    self.storage.delete(key + suffix)
                self.session.delete(f)
                count += 1
            self.session.flush()
            left = self.session.scalar(select(func.count(File.id)).where(File.project_id == project.id))
            if not left and not project.settings and project.status == "active":
                self.session.delete(project)
            elif rows:
                self.bump(project)
            self.session.commit()
        log.info("Pruned %d cached files", count)
        return count

    # -- per-project upstream settings ---------------------------------------------------------

    def set_project_settings(self, name: str, changes: Mapping[str, Any]) -> Project:
        """Change an admin's per-project settings (None removes a key); the project may hold no file yet."""
        validate_project_name(name)
        project = self.lock_project(name)
        if project is None:
            project = Project(index_name=self.index_name, name=canonical(name), display_name=name, settings={})
            self.session.add(project)
            try:
                self.session.flush()
            except IntegrityError:  # created meanwhile by another writer: lock that one
                project = self.lock_project(name)
                assert project is not None
        settings = dict(project.settings or {})
        for key, value in changes.items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        project.settings = settings
        self.write_state(project)
        self.bump(project)
        self.session.commit()
        return project


def cached_at(f: File) -> datetime:
    """When a cached file was fetched (its upload time for files cached before this was recorded)."""
    info = (f.meta or {}).get(CACHE_INFO) or {}
    try:
        return parse_iso(info["at"])
    except (KeyError, TypeError, ValueError):
        return f.upload_time
