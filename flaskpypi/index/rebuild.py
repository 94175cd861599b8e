"""Rebuild the SQL index from storage alone: storage is the truth, the database a cache of it."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import delete

from ..core.dists import parse_filename, read_core_metadata
from ..core.errors import Refusal
from ..core.hashes import digest_stream
from ..core.records import (
    METADATA_SUFFIX,
    PROJECT_FILE,
    PROVENANCE_SUFFIX,
    SIDECAR_SUFFIX,
    FileRecord,
    ProjectState,
)
from ..core.upload import build_record
from ..storage import StoredFile
from .models import File, Project
from .service import JSON_META, IndexService

log = logging.getLogger(__name__)
DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")


@dataclass
class ProjectKeys:
    """The keys storage holds for one project folder."""

    name: str
    dists: dict[str, StoredFile] = field(default_factory=dict)
    sidecars: set[str] = field(default_factory=set)
    extras: set[str] = field(default_factory=set)
    has_state: bool = False


def group_by_project(listing: Iterator[StoredFile]) -> Iterator[ProjectKeys]:
    """Group a listing (which walks folder by folder) into projects, holding one project at a time."""
    current: ProjectKeys | None = None
    for stored in listing:
        if "/" not in stored.key:
            continue
        project, name = stored.key.split("/", 1)
        if current is None or current.name != project:
            if current is not None:
                yield current
            current = ProjectKeys(project)
        if name == PROJECT_FILE:
            current.has_state = True
        elif name.endswith(DIST_SUFFIXES):
            current.dists[name] = stored
        elif name.endswith(SIDECAR_SUFFIX):
            current.sidecars.add(name[: -len(SIDECAR_SUFFIX)])
        elif name.endswith((METADATA_SUFFIX, PROVENANCE_SUFFIX)):
            current.extras.add(name)
    if current is not None:
        yield current


class Rebuilder(IndexService):
    """Replace the files and projects tables with what storage holds, in one transaction."""

    def rebuild(self, listing: Iterable[StoredFile] | None = None) -> tuple[int, int]:
        """Returns (projects, files) indexed; `listing` (storage's, maybe wrapped in a progress bar)."""
        self.session.execute(delete(File))
        self.session.execute(delete(Project))
        self.ensure_serial()
        projects = files = 0
        for keys in group_by_project(iter(listing if listing is not None else self.storage.iter_files())):
            count = self._index_project(keys)
            if count:
                projects += 1
                files += count
        self.session.commit()
        log.info("Rebuilt the index from %s: %d projects, %d files", self.storage.describe(), projects, files)
        return projects, files

    def _index_project(self, keys: ProjectKeys) -> int:
        records = [r for r in (self._record(keys, name) for name in sorted(set(keys.dists) | keys.sidecars)) if r]
        state = self._state(keys)
        if not records and state is None:
            return 0
        live = [r for r in records if not r.deleted]
        newest = max(live, key=lambda r: r.upload_time) if live else None
        display = newest.name if newest else (records[0].name if records else keys.name)
        project = Project(name=keys.name, display_name=display, summary=newest.summary if newest else "", settings={})
        if state is not None:
            project.status, project.status_reason = state.status, state.status_reason
            project.settings = dict(state.settings)
        self.session.add(project)
        for record in records:
            row = File(project=project, filename=record.filename)
            row.update_from(record)
            self.session.add(row)
        self.bump(project)
        self.session.flush()
        return len(live)

    def _state(self, keys: ProjectKeys) -> ProjectState | None:
        if not keys.has_state:
            return None
        try:
            return ProjectState.from_json(self.storage.read(f"{keys.name}/{PROJECT_FILE}"))
        except (OSError, ValueError, TypeError) as exc:
            log.warning("Ignoring unreadable %s/%s: %s", keys.name, PROJECT_FILE, exc)
            return None

    def _record(self, keys: ProjectKeys, filename: str) -> FileRecord | None:
        """The file's record from its sidecar, else read from the file itself (files dropped in by hand)."""
        has_file = filename in keys.dists
        if filename in keys.sidecars:
            try:
                record = FileRecord.from_json(self.storage.read(f"{keys.name}/{filename}{SIDECAR_SUFFIX}"))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.warning("Ignoring unreadable sidecar of %s/%s: %s", keys.name, filename, exc)
                record = None
            if record is not None and (has_file or record.deleted):
                return record
        if not has_file:
            return None
        return self._read_dist(keys, filename)

    def _read_dist(self, keys: ProjectKeys, filename: str) -> FileRecord | None:
        key = f"{keys.name}/{filename}"
        try:
            dist = parse_filename(filename)
            if dist.project != keys.name:
                raise Refusal(f"it belongs in folder {dist.project!r}")
            with self.storage.open(key) as stream, tempfile.SpooledTemporaryFile(16 * 1024 * 1024) as copy:
                shutil.copyfileobj(stream, copy)
                copy.seek(0)
                digests = digest_stream(copy)
                copy.seek(0)
                meta = read_core_metadata(copy, dist, self.policy.limits)  # type: ignore[arg-type]
        except (Refusal, OSError) as exc:
            log.warning("Skipping %s: %s", key, exc)
            return None
        record = build_record(dist, meta, digests, uploader=None)
        stored = keys.dists[filename]
        if stored.modified:
            record.upload_time = stored.modified
        if record.core_metadata_sha256 and f"{filename}{METADATA_SUFFIX}" not in keys.extras:
            self.storage.put_bytes(key + METADATA_SUFFIX, meta.raw)
        self.storage.put_bytes(key + SIDECAR_SUFFIX, record.to_json(), JSON_META)
        return record
