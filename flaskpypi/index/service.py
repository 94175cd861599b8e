"""The index service: reads and changes projects and files, keeping storage (the truth) and SQL in step."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version
from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..core.archives import ArchiveLimits
from ..core.errors import Conflict, NotFound
from ..core.names import DEFAULT_INDEX, canonical
from ..core.records import (
    METADATA_SUFFIX,
    PROJECT_FILE,
    PROJECT_STATUSES,
    PROVENANCE_SUFFIX,
    SIDECAR_SUFFIX,
    FileRecord,
    ProjectState,
    utcnow,
)
from ..sql import upsert_insert
from ..storage import FileMeta, Storage
from ..storage.scoped import IndexStorage, index_storage
from . import search, signals
from .claims import claim_lock
from .models import DELETED, LIVE, PENDING, Counter, File, Project, listed

log = logging.getLogger(__name__)
__all__ = ["IndexService", "Policy", "search", "sort_key"]  # search: its session events keep the FTS index in step
JSON_META = FileMeta(content_type="application/json")


def sort_key(version: str) -> tuple[int, Version | str]:
    """Order versions by PEP 440; unparsable ones first, by text."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


@dataclass(frozen=True)
class FileFacts:
    """What a download needs of a live file and its project, read in one query and kept per serial."""

    project: str
    display_name: str
    status: str
    filename: str
    size: int
    sha256: str
    core_metadata_sha256: str | None
    provenance_sha256: str | None

    @classmethod
    def of(cls, row: File) -> FileFacts:
        """The facts of a row (e.g. one the upstream fallback just cached)."""
        project = row.project
        return cls(project.name, project.display_name, project.status, row.filename, row.size, row.sha256,
                   row.core_metadata_sha256, row.provenance_sha256)  # fmt: skip


FACT_COLUMNS = (Project.name, Project.display_name, Project.status, File.filename, File.size, File.sha256,
                File.core_metadata_sha256, File.provenance_sha256)  # fmt: skip


@dataclass
class Policy:
    """Index rules from the settings that the service enforces."""

    allow_overwrite: bool = False
    allow_delete: bool = True
    max_upload_size: int = 100 * 1024 * 1024
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    upload_wait: float = 60.0  # seconds an upload waits for another upload of the same filename


class IndexService:
    """One request's (or command's) view of one hosted index: a SQL session and the index's storage.

    `index` names the hosted index (`default`, the built-in one, unless told); `storage` is the whole storage,
    and `self.storage` the index's part of it (`<project>/<filename>` keys, see storage.scoped)."""

    def __init__(self, session: Session, storage: Storage, policy: Policy | None = None,
                 index: str = DEFAULT_INDEX) -> None:  # fmt: skip
        self.session = session
        self.index_name = index
        self.root_storage = storage.inner if isinstance(storage, IndexStorage) else storage
        self.storage = index_storage(storage, index)
        self.policy = policy or Policy()

    def here(self) -> ColumnElement[bool]:
        """The condition for this index's projects."""
        return Project.index_name == self.index_name

    def in_index(self, name: str) -> ColumnElement[bool]:
        """The condition for this index's project of that (normalised) name."""
        return self.here() & (Project.name == name)

    def where(self) -> dict[str, str]:
        """What signals (and so the audit log) say of the index: nothing for the built-in one."""
        return {} if self.index_name == DEFAULT_INDEX else {"index": self.index_name}

    def for_index(self, index: str) -> IndexService:
        """The same session and policy, on another hosted index."""
        return IndexService(self.session, self.root_storage, self.policy, index)

    # -- serials -------------------------------------------------------------------------------

    def serial(self) -> int:
        """The index-wide change counter."""
        value = self.session.scalar(select(Counter.value).where(Counter.name == "serial"))
        return value or 0

    def ensure_serial(self) -> None:
        """Create the serial counter; its presence marks an index that was built at least once. Two
        processes (hosts) creating it at once both succeed."""
        if self.session.get(Counter, "serial") is None:
            upsert = upsert_insert(self.session.get_bind().dialect.name)
            if upsert is not None:
                self.session.execute(upsert(Counter).values(name="serial", value=0).on_conflict_do_nothing())
            else:
                self.session.add(Counter(name="serial", value=0))
                self.session.flush()

    def advance(self, count: int) -> int:
        """Advance the serial by `count` and return the new value (serials value-count+1 .. value are this
        transaction's to hand out). The counter row is the LAST lock a writer takes (project rows, then
        file rows, then the counter), so writers never wait on each other in a cycle; it is held to commit."""
        self.ensure_serial()
        self.session.flush()  # every row this transaction changes is locked before the counter
        stmt = update(Counter).where(Counter.name == "serial").values(value=Counter.value + count)
        self.session.execute(stmt)
        return self.serial()

    def bump(self, project: Project) -> int:
        """Advance the global serial and stamp the project with it."""
        value = self.advance(1)
        project.serial = value
        project.last_update = utcnow()
        return value

    def lock_project(self, name: str) -> Project | None:
        """Start a write transaction on a project: its row locked to commit (PostgreSQL's row lock; SQLite's
        database write lock), re-read past any snapshot. Every writer locks the project first, changes its
        files and storage (sidecars, _project.json) under that lock, and advances the serial last: two
        writers of one project take turns, and storage ends as the database commits."""
        self.session.rollback()  # SQLite: a write lock cannot be taken from a stale read snapshot
        key = canonical(name)
        self.session.execute(update(Project).where(self.in_index(key)).values(serial=Project.serial))
        return self.session.scalar(select(Project).where(self.in_index(key)).execution_options(populate_existing=True))

    # -- reading -------------------------------------------------------------------------------

    def project(self, name: str) -> Project | None:
        """The project by any spelling of its name."""
        return self.session.scalar(select(Project).where(self.in_index(canonical(name))))

    def require_project(self, name: str) -> Project:
        """The project, or NotFound."""
        project = self.project(name)
        if project is None:
            raise NotFound(f"No project named {name!r}.")
        return project

    def project_names_query(self) -> Select:
        """The query behind project_names (EXPLAINed by the tests)."""
        return select(Project.name, Project.display_name).where(self.here(), listed()).order_by(Project.name)

    def project_names(self) -> list[tuple[str, str]]:
        """(canonical, display) of every project with a live file or an explicit state, by name."""
        rows = self.session.execute(self.project_names_query())
        return [tuple(r) for r in rows]  # type: ignore[misc]

    def live_files(self, project: Project) -> list[File]:
        """A project's downloadable files, oldest version first."""
        files = self.session.scalars(select(File).where(File.project_id == project.id, File.state == LIVE)).all()
        return sorted(files, key=lambda f: (sort_key(f.version), f.filename))

    def holds(self, project: Project) -> bool:
        """Whether the index lists the project: a live file, or a status or settings an admin gave it (a
        project whose files were all deleted is gone, as `models.listed()` says for listings)."""
        return project.status != "active" or bool(project.settings) or self.has_live(project)

    def has_live(self, project: Project) -> bool:
        """Whether the project has a downloadable file (one index probe)."""
        query = select(File.id).where(File.project_id == project.id, File.state == LIVE).limit(1)
        return self.session.scalar(query) is not None

    def file(self, project_name: str, filename: str) -> File | None:
        """A live file of a project."""
        return self.session.scalar(
            select(File)
            .join(Project)
            .where(self.in_index(canonical(project_name)), File.filename == filename, File.state == LIVE)
            .options(selectinload(File.project))
        )

    def file_facts_query(self, project_name: str, filename: str) -> Select:
        """The query behind file_facts (EXPLAINed by the tests): the (index, filename) unique index finds it."""
        return (
            select(*FACT_COLUMNS)
            .join(Project, File.project_id == Project.id)
            .where(
                File.index_name == self.index_name,
                File.filename == filename,
                File.state == LIVE,
                Project.name == canonical(project_name),
            )
        )

    def file_facts(self, project_name: str, filename: str) -> FileFacts | None:
        """A live file of a project, as a download needs it: one SELECT over the two tables."""
        row = self.session.execute(self.file_facts_query(project_name, filename)).first()
        return FileFacts(*row) if row is not None else None

    def require_file(self, project_name: str, filename: str) -> File:
        """A live file, or NotFound."""
        found = self.file(project_name, filename)
        if found is None:
            raise NotFound(f"No file {filename!r} in project {project_name!r}.")
        return found

    def counts(self) -> tuple[int, int]:
        """(projects, live files) of this index, for the start-up summary and `index list`."""
        projects = self.session.scalar(select(func.count(Project.id)).where(self.here()))
        files = self.session.scalar(
            select(func.count(File.id)).where(File.index_name == self.index_name, File.state == LIVE)
        )
        return projects or 0, files or 0

    def is_empty(self) -> bool:
        """True before the first file or rebuild: the signal to rebuild at start."""
        return self.session.get(Counter, "serial") is None

    # -- claims of uploads whose writer is gone -------------------------------------------------

    def stored_record(self, project: str, filename: str) -> FileRecord | None:
        """The file's record as storage holds it now: its sidecar, when the file it describes is there too."""
        key = f"{project}/{filename}"
        try:
            record = FileRecord.from_json(self.storage.read(key + SIDECAR_SUFFIX))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("Ignoring unreadable sidecar of %s: %s", key, exc)
            return None
        if record.filename != filename or not (record.deleted or self.storage.exists(key)):
            return None
        return record

    def recover(self, row: File) -> None:
        """Settle a pending row whose writer is gone (the caller holds its claim lock): storage decides.

        The sidecar is stored last, so with it the file is complete and the row takes its facts; without
        it the writer did not finish, and every key it may have written goes with the claim.
        """
        if row.index_name != self.index_name:
            self.for_index(row.index_name).recover(row)
            return
        project = row.project
        record = self.stored_record(project.name, row.filename)
        if record is not None:
            row.update_from(record)
            log.warning("Recovered %s: its interrupted upload had stored it completely", row.filename)
        else:
            key = f"{project.name}/{row.filename}"
            for suffix in ("", METADATA_SUFFIX, PROVENANCE_SUFFIX):
                self.storage.delete(key + suffix)
            self.session.delete(row)
            log.warning("Removed the claim of an interrupted upload of %s and what it had stored", row.filename)
        self.bump(project)
        self.session.commit()

    def file_named(self, filename: str) -> File | None:
        """This index's row of a filename in any state (pending, live or deleted: names are not reused)."""
        return self.session.scalar(select(File).where(File.index_name == self.index_name, File.filename == filename))

    def abandon_claim(self, row_id: int) -> None:
        """After a failed write (an upload, a promotion): settle its claim now, as a dead writer's would be
        (the caller still holds the filename's lock)."""
        try:
            self.session.rollback()
            row = self.session.get(File, row_id)
            if row is not None and row.state == PENDING:
                self.recover(row)
        except Exception:  # the database may be what failed: the next writer or start-up recovers it
            self.session.rollback()
            log.exception("Could not settle the claim of a write that failed")

    def recover_dead_claims(self, project_id: int | None = None) -> set[str]:
        """Recover every pending row (of one project, or all of every index) whose writer is gone; returns the
        filenames still claimed by live writers."""
        self.session.rollback()
        query = select(File.id, File.filename, File.index_name).where(File.state == PENDING)
        if project_id is not None:
            query = query.where(File.project_id == project_id)
        in_flight: set[str] = set()
        for file_id, filename, index in self.session.execute(query).all():
            lock = claim_lock(self.session, filename, index)
            if not lock.try_acquire():
                in_flight.add(filename)
                continue
            try:
                self.session.rollback()
                row = self.session.get(File, file_id)
                if row is not None and row.state == PENDING:
                    self.recover(row)
            finally:
                self.session.rollback()
                lock.release()
        return in_flight

    # -- changing ------------------------------------------------------------------------------

    def write_sidecar(self, file: File) -> None:
        """Persist the file's facts next to it in storage (before the database commit)."""
        self.storage.put_bytes(file.project.name + "/" + file.filename + SIDECAR_SUFFIX,
                               file.to_record().to_json(), JSON_META)  # fmt: skip

    def set_yanked(self, project_name: str, filename: str | None, version: str | None,
                   yanked: bool, reason: str = "") -> list[File]:  # fmt: skip
        """Yank or un-yank one file, or every file of a version (PEP 592), under the project's lock."""
        files = self._select(project_name, filename, version)
        for f in files:
            f.yanked, f.yanked_reason = yanked, (reason if yanked else "")
            self.write_sidecar(f)
        self.bump(files[0].project)
        self.session.commit()
        log.info("%s %s", "Yanked" if yanked else "Un-yanked", ", ".join(f.filename for f in files))
        signals.files_yanked.send(self, project=files[0].project.name, filenames=[f.filename for f in files],
                                  yanked=yanked, reason=reason, **self.where())  # fmt: skip
        return files

    def delete(self, project_name: str, filename: str | None = None, version: str | None = None) -> list[File]:
        """Delete one file, a version or a whole project; a tombstone keeps the filename from reuse."""
        files = self._select(project_name, filename, version)
        project = files[0].project
        for f in files:
            f.state = DELETED
            if self.policy.allow_overwrite:
                self.storage.delete(f"{project.name}/{f.filename}{SIDECAR_SUFFIX}")
            else:
                self.write_sidecar(f)
            for suffix in ("", METADATA_SUFFIX, PROVENANCE_SUFFIX):
                self.storage.delete(f"{project.name}/{f.filename}{suffix}")
            if self.policy.allow_overwrite:
                self.session.delete(f)
        self.bump(project)
        self.session.commit()
        log.info("Deleted %s", ", ".join(f.filename for f in files))
        signals.files_deleted.send(self, project=project.name, filenames=[f.filename for f in files], **self.where())
        return files

    def _select(self, project_name: str, filename: str | None, version: str | None) -> list[File]:
        """The live files a yank or delete acts on, with the project locked and the rows read fresh."""
        project = self.lock_project(project_name)
        if project is None:
            self.session.rollback()
            raise NotFound(f"No project named {project_name!r}.")
        files = list(
            self.session.scalars(
                select(File)
                .where(File.project_id == project.id, File.state == LIVE)
                .execution_options(populate_existing=True)
            )
        )
        files.sort(key=lambda f: (sort_key(f.version), f.filename))
        if filename:
            files = [f for f in files if f.filename == filename]
        elif version:
            wanted = sort_key(version)
            files = [f for f in files if sort_key(f.version) == wanted]
        if not files:
            self.session.rollback()
            what = filename or (f"version {version}" if version else "files")
            raise NotFound(f"No {what} in project {project.display_name!r}.")
        return files

    def ensure_project(self, record: FileRecord) -> Project:
        """The project of a file's record, created with its first file (a concurrent creation wins quietly)."""
        project = self.project(record.project)
        if project is not None:
            return project
        project = Project(index_name=self.index_name, name=record.project, display_name=record.name,
                          summary=record.summary, settings={})  # fmt: skip
        self.session.add(project)
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            project = self.require_project(record.project)
        return project

    def write_state(self, project: Project) -> None:
        """Store the project's status and settings in storage (the truth), before the database commit."""
        state = ProjectState(status=project.status, status_reason=project.status_reason,
                             settings=dict(project.settings or {}))  # fmt: skip
        self.storage.put_bytes(f"{project.name}/{PROJECT_FILE}", state.to_json(), JSON_META)

    def set_status(self, project_name: str, status: str, reason: str = "") -> Project:
        """Set a project's PEP 792 status, stored in storage first (under the project's lock)."""
        if status not in PROJECT_STATUSES:
            raise Conflict(f"Unknown project status {status!r}; use one of {', '.join(PROJECT_STATUSES)}.")
        project = self.lock_project(project_name)
        if project is None:
            self.session.rollback()
            raise NotFound(f"No project named {project_name!r}.")
        project.status, project.status_reason = status, reason
        self.write_state(project)
        self.bump(project)
        self.session.commit()
        signals.project_status_changed.send(self, project=project.name, status=status, reason=reason)
        return project
