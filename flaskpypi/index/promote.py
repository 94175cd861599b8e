"""Promotion: a release (or every release) of a project copied from one hosted index to another, byte for
byte (the same hashes), with its core metadata, provenance and sidecar, under the same claims as uploads.

Each file is promoted on its own, holding the target filename's claim lock (claims.py) as an upload does:
a pending row first, then the storage copies (server-side where the backend has one), the sidecar last,
then the row goes live with the project's serial bumped, in one commit with its audit entry. A file the
target already holds with the same sha256 is left alone (promoting again changes nothing); another file of
that name in the target (or a deleted one: filenames are not reused) is a Conflict (409).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from ..core.dists import content_type
from ..core.errors import Conflict, NotFound
from ..core.names import canonical, storage_key
from ..core.records import METADATA_SUFFIX, PROVENANCE_SUFFIX, SIDECAR_SUFFIX, FileRecord
from ..storage import FileMeta
from . import signals
from .claims import claim_lock, holding
from .models import DELETED, LIVE, PENDING, File
from .service import IndexService, sort_key

log = logging.getLogger(__name__)
PROMOTED, PRESENT = "promoted", "present"  # what happened to each file
CLAIM_ATTEMPTS = 5


@dataclass(frozen=True)
class Promoted:
    """One file's outcome: `promoted` (copied now) or `present` (the target held these bytes already)."""

    filename: str
    sha256: str
    outcome: str


class Promoter:
    """Copies releases between hosted indexes in one SQL session; `source` and `target` are index names."""

    def __init__(self, source: IndexService, target: IndexService) -> None:
        if source.index_name == target.index_name:
            raise Conflict(f"Promotion needs two different indexes, not {source.index_name!r} twice.")
        self.source = source
        self.target = target
        self.session = target.session

    def promote(self, project: str, version: str | None = None, actor: str | None = None) -> list[Promoted]:
        """Promote every live file of `version` (all versions when None) of `project`; NotFound when the source
        holds none, Conflict (409) when the target holds another file of one of those names (nothing of that
        file is copied; files before it in name order stay promoted: promoting again finishes the job)."""
        files = self._files(project, version)
        done = [self._one(f) for f in files]
        promoted = [d.filename for d in done if d.outcome == PROMOTED]
        log.info("Promoted %s from %s to %s by %s (%d already there)", ", ".join(promoted) or "nothing",
                 self.source.index_name, self.target.index_name, actor or "cli", len(done) - len(promoted))  # fmt: skip
        return done

    def _files(self, project: str, version: str | None) -> list[FileRecord]:
        self.session.rollback()
        found = self.source.project(project)
        if found is None:
            raise NotFound(f"No project named {project!r} in index {self.source.index_name!r}.")
        files = self.source.live_files(found)
        if version is not None:
            files = [f for f in files if sort_key(f.version) == sort_key(version)]
        if not files:
            what = f"version {version} of " if version else "files in "
            raise NotFound(f"No {what}project {found.display_name!r} in index {self.source.index_name!r}.")
        records = [f.to_record() for f in files]
        self.session.rollback()
        return sorted(records, key=lambda r: r.filename)

    def _settled(self, existing: File | None, record: FileRecord) -> Promoted | None:
        if existing is None or existing.state == PENDING:
            return None
        if existing.state == LIVE and existing.sha256 == record.sha256:
            return Promoted(record.filename, record.sha256, PRESENT)
        why = "a deleted file had that name" if existing.state == DELETED else f"its sha256 is {existing.sha256}"
        raise Conflict(f"Index {self.target.index_name!r} already has another file {record.filename!r} ({why}); "
                       "nothing was promoted over it.")  # fmt: skip

    def _one(self, record: FileRecord) -> Promoted:
        """Promote one file under the target filename's claim (the upload pipeline's lock)."""
        settled = self._settled(self.target.file_named(record.filename), record)
        if settled is not None:
            return settled
        lock = claim_lock(self.session, record.filename, self.target.index_name)
        with holding(lock, self.target.policy.upload_wait):
            for _attempt in range(CLAIM_ATTEMPTS):
                self.session.rollback()  # what other writers committed while this one waited
                existing = self.target.file_named(record.filename)
                if existing is not None and existing.state == PENDING:
                    self.target.recover(existing)  # no live writer: we hold its lock
                    continue
                settled = self._settled(existing, record)
                if settled is not None:
                    return settled
                project = self.target.ensure_project(record)
                if project.status in ("archived", "quarantined"):
                    raise Conflict(f"Project {project.display_name!r} is {project.status} in index "
                                   f"{self.target.index_name!r}: nothing can be added (PEP 792).")  # fmt: skip
                row = File(project=project, index_name=self.target.index_name, filename=record.filename)
                row.update_from(record)
                row.state = PENDING
                self.session.add(row)
                try:
                    self.session.commit()
                except IntegrityError:
                    self.session.rollback()
                    continue
                break
            else:
                raise Conflict(f"Index {self.target.index_name!r} changed under the promotion of "
                               f"{record.filename!r} several times; retry.")  # fmt: skip
            try:
                self._copy(record)
                row.state = LIVE
                if not project.summary or record.summary:
                    project.summary = record.summary
                self.target.bump(project)
                signals.files_promoting.send(self.target, project=project.name, filenames=[record.filename],
                                             source=self.source.index_name, target=self.target.index_name,
                                             session=self.session)  # fmt: skip
                self.session.commit()
            except BaseException:
                self.target.abandon_claim(row.id)
                raise
        return Promoted(record.filename, record.sha256, PROMOTED)

    def _copy(self, record: FileRecord) -> None:
        """The file, its .metadata and .provenance, then its sidecar (which makes it part of the index)."""
        storage = self.target.root_storage
        src = storage_key(canonical(record.project), record.filename, self.source.index_name)
        dst = storage_key(canonical(record.project), record.filename, self.target.index_name)
        storage.copy(src, dst, FileMeta(content_type(record.filename), record.sha256))
        if record.core_metadata_sha256:
            storage.copy(src + METADATA_SUFFIX, dst + METADATA_SUFFIX, FileMeta("text/plain; charset=utf-8"))
        if record.provenance_sha256:
            storage.copy(src + PROVENANCE_SUFFIX, dst + PROVENANCE_SUFFIX, FileMeta("application/json"))
        try:
            storage.copy(src + SIDECAR_SUFFIX, dst + SIDECAR_SUFFIX, FileMeta("application/json"))
        except FileNotFoundError:  # a file dropped in by hand and indexed from its bytes: write its sidecar
            storage.put_bytes(dst + SIDECAR_SUFFIX, record.to_json(), FileMeta("application/json"))
