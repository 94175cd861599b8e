"""Rebuild the SQL index from storage alone: storage is the truth, the database a cache of it."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

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
    utcnow,
)
from ..core.upload import build_record
from ..sql import allow_long_statements, unflushed_commits
from ..storage import StoredFile
from . import search
from .models import LIVE, PENDING, Counter, File, Project, record_values
from .service import JSON_META, IndexService

log = logging.getLogger(__name__)
DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")
REBUILD_MARKER = "rebuild-running"
RECONCILE_ATTEMPTS = 5
BATCH = 500  # files (and at most as many projects) reconciled in one short transaction
READERS = 16  # storage reads in flight (one request per object); two batches are held at a time at most
PG_LOCK_TIMEOUT_MS = 100
STATE_FOLDERS = "_"  # folders of shared state (upstream pages), not projects


@dataclass
class ProjectKeys:
    """The keys storage holds for one project folder."""

    name: str
    dists: dict[str, StoredFile] = field(default_factory=dict)
    sidecars: set[str] = field(default_factory=set)
    extras: set[str] = field(default_factory=set)
    torn: set[str] = field(default_factory=set)  # files whose .metadata is empty (a crash before a sync)
    has_state: bool = False


def group_by_project(listing: Iterator[StoredFile]) -> Iterator[ProjectKeys]:
    """Group a listing (which walks folder by folder) into projects, holding one project at a time."""
    current: ProjectKeys | None = None
    for stored in listing:
        if "/" not in stored.key:
            continue
        project, name = stored.key.split("/", 1)
        if project.startswith(STATE_FOLDERS):
            continue
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
        elif name.endswith(METADATA_SUFFIX) and stored.size == 0:
            current.torn.add(name[: -len(METADATA_SUFFIX)])
        elif name.endswith((METADATA_SUFFIX, PROVENANCE_SUFFIX)):
            current.extras.add(name)
    if current is not None:
        yield current


def _take(groups: Iterator[ProjectKeys], files: int) -> list[ProjectKeys]:
    """The next projects of the listing, up to about `files` keys (at least one project)."""
    taken: list[ProjectKeys] = []
    count = 0
    for keys in groups:
        taken.append(keys)
        count += len(keys.dists) + len(keys.sidecars) + 1
        if count >= files:
            break
    return taken


def _newest_live(records: dict[str, FileRecord]) -> FileRecord | None:
    """The project's newest live file (by upload time), whose name and summary the project shows; None when
    every file is deleted."""
    return max((r for r in records.values() if not r.deleted), key=lambda r: r.upload_time, default=None)


READ, STATE, VANISHED = "read", "state", "vanished"


@dataclass(frozen=True)
class Job:
    """One storage read of a batch: a file's record (READ), the project's state (STATE), or whether a row's
    file is gone (VANISHED)."""

    kind: str
    keys: ProjectKeys
    filename: str = ""


@dataclass
class Batch:
    """Projects being reconciled together: the rows noted before reading storage, and the reads in flight."""

    keys: list[ProjectKeys]
    projects: dict[str, tuple[int, int]]  # name -> (id, serial) as noted
    rows: dict[str, dict[str, str]]  # name -> filename -> state as noted
    jobs: list[Job] = field(default_factory=list)
    tasks: list[Future] = field(default_factory=list)  # each runs a run of `jobs`, in order
    alone: set[str] = field(default_factory=set)


class Moved(Exception):
    """A writer changed the project while the rebuild read its storage: read it again."""


class Rebuilder(IndexService):
    """Reconcile the projects and files tables with storage, one project per short transaction.

    Safe under a live server: rows are inserted, updated and removed in place, never dropped and
    re-created (so ids stay put under writers). Each project is read from storage after noting its
    serial and written only if that serial did not move meanwhile (every writer bumps it), holding the
    project's row (PostgreSQL) or the database (SQLite) for the short write; pending rows of live
    uploads are left to their writers, those of dead ones are recovered.
    """

    def rebuild(self, listing: Iterable[StoredFile] | None = None) -> tuple[int, int]:
        """Returns (projects, live files) indexed; `listing` (storage's, maybe wrapped in a progress bar).

        Projects are reconciled in batches of about BATCH files: the database's rows of a batch are read
        first (noting serials), then the batch's objects are read with READERS requests in flight (one
        request per object: the sidecar), while the previous batch is written in one short transaction
        that numbers serials in memory and writes the counter once. A project that a writer changed
        meanwhile, or that needs care (a pending upload, a file filed under another project), is
        reconciled alone afterwards. PostgreSQL gets ANALYZE at the end. The rebuild of an empty index does
        not flush each commit to disk on SQLite (sql.unflushed_commits: a lost commit loses the end marker
        too, and the next start rebuilds again).
        """
        self.session.rollback()
        empty = self.is_empty()
        self.session.rollback()
        with unflushed_commits(self.session.get_bind()) if empty else nullcontext():
            totals = self._reconcile_all(listing)
        self.analyze()
        log.info("Rebuilt the index from %s: %d projects, %d files", self.storage.describe(), *totals)
        return totals[0], totals[1]

    def _reconcile_all(self, listing: Iterable[StoredFile] | None) -> list[int]:
        """rebuild()'s work, between its markers; [projects, live files]."""
        self.ensure_serial()
        self._set_marker(True)
        self.session.commit()
        totals = [0, 0]
        seen: set[str] = set()
        groups = group_by_project(iter(listing if listing is not None else self.storage.iter_files()))
        with ThreadPoolExecutor(READERS, thread_name_prefix="flaskpypi-rebuild") as pool:
            ahead: Batch | None = None
            while True:
                keys = _take(groups, BATCH)
                seen.update(k.name for k in keys)
                batch = self._prepare(keys, pool) if keys else None
                if ahead is not None:
                    self._finish(ahead, totals)
                if batch is None:
                    break
                ahead = batch
        self.session.rollback()
        for name in sorted(set(self.session.scalars(select(Project.name).where(self.here()))) - seen):
            keys = next(group_by_project(self.storage.iter_files(name + "/")), None) or ProjectKeys(name)
            self._count(totals, self._reconcile(keys))
        self._set_marker(False)
        self.session.commit()
        return totals

    def analyze(self) -> None:
        """Refresh the planner's statistics (PostgreSQL), so pages use their indexes after a bulk load."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        allow_long_statements(self.session)
        self.session.execute(text("ANALYZE projects"))
        self.session.execute(text("ANALYZE files"))
        self.session.commit()

    @staticmethod
    def _count(totals: list[int], live: int) -> None:
        totals[0] += bool(live)
        totals[1] += live

    def _prepare(self, keys: list[ProjectKeys], pool: ThreadPoolExecutor) -> Batch:
        """Note the batch's rows and serials, then start reading its objects (no transaction stays open)."""
        self.session.rollback()
        names = [k.name for k in keys]
        projects = {
            name: (pid, serial)
            for pid, name, serial in self.session.execute(
                select(Project.id, Project.name, Project.serial).where(self.here(), Project.name.in_(names))
            )
        }
        rows: dict[str, dict[str, str]] = {name: {} for name in names}
        by_id = {pid: name for name, (pid, _) in projects.items()}
        if by_id:
            query = select(File.project_id, File.filename, File.state).where(File.project_id.in_(list(by_id)))
            for pid, filename, state in self.session.execute(query):
                rows[by_id[pid]][filename] = state
        self.session.rollback()
        batch = Batch(keys, projects, rows)
        for k in keys:
            pending = {f for f, st in rows[k.name].items() if st == PENDING}
            if pending:
                batch.alone.add(k.name)  # claims to settle first: the careful path
                continue
            listed = set(k.dists) | k.sidecars
            batch.jobs.extend(Job(READ, k, filename) for filename in sorted(listed))
            if k.has_state:
                batch.jobs.append(Job(STATE, k))
            batch.jobs.extend(Job(VANISHED, k, filename) for filename in rows[k.name] if filename not in listed)
        # READERS tasks, each a run of the jobs: as many requests in flight as one task per job would keep, for
        # a few futures and thread hand-offs a batch instead of one per object
        size = max(1, -(-len(batch.jobs) // READERS))
        batch.tasks = [pool.submit(self._run, batch.jobs[i : i + size]) for i in range(0, len(batch.jobs), size)]
        return batch

    def _run(self, jobs: list[Job]) -> list[object]:
        """The jobs' results, in order."""
        out: list[object] = []
        for job in jobs:
            if job.kind == READ:
                out.append(self._record(job.keys, job.filename))
            elif job.kind == STATE:
                out.append(self._state(job.keys))
            else:
                out.append(self._vanished(job.keys.name, job.filename))
        return out

    def _vanished(self, name: str, filename: str) -> bool:
        key = f"{name}/{filename}"
        return not self.storage.exists(key + SIDECAR_SUFFIX) and not self.storage.exists(key)

    def _finish(self, batch: Batch, totals: list[int]) -> None:
        """Write a prepared batch; projects it could not settle are reconciled one by one. The objects its
        reads wrote (put_unsynced) are made durable by one sync() before any row that lists them commits."""
        outcome = self._results(batch)
        self.storage.sync()
        for attempt in range(RECONCILE_ATTEMPTS):
            try:
                later = self._apply_batch(batch, outcome, totals)
                break
            except (IntegrityError, OperationalError) as exc:
                self.session.rollback()
                log.debug("Writing a batch again (%s)", type(exc).__name__)
                time.sleep(0.02 * 2**attempt)
        else:
            later = [k.name for k in batch.keys if k.name not in batch.alone]
        for k in batch.keys:
            if k.name in batch.alone or k.name in later:
                self._count(totals, self._reconcile(k))

    @staticmethod
    def _results(batch: Batch) -> dict[str, tuple[dict[str, FileRecord], ProjectState | None, set[str]]]:
        """Each project's records, state and vanished rows, as the reads found them."""
        out: dict[str, tuple[dict[str, FileRecord], ProjectState | None, set[str]]] = {}
        states: dict[str, ProjectState | None] = {}
        results = [result for task in batch.tasks for result in task.result()]
        for k in batch.keys:
            if k.name not in batch.alone:
                out[k.name] = ({}, None, set())
        for job, result in zip(batch.jobs, results, strict=True):
            name = job.keys.name
            if job.kind == READ and result is not None:
                out[name][0][job.filename] = result  # type: ignore[assignment]
            elif job.kind == STATE:
                states[name] = result  # type: ignore[assignment]
            elif job.kind == VANISHED and result:
                out[name][2].add(job.filename)
        return {name: (records, states.get(name), gone) for name, (records, _none, gone) in out.items()}

    def _apply_batch(self, batch: Batch, outcome: dict[str, tuple[dict[str, FileRecord], ProjectState | None,
                     set[str]]], totals: list[int]) -> list[str]:  # fmt: skip
        """One transaction for the batch: lock its projects (by id), check their serials, write rows, number
        the changed projects' serials from one counter write, commit. Returns the projects left for later."""
        self.session.rollback()
        names = sorted(outcome)
        later: list[str] = []
        if not names:
            return later
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text(f"SET LOCAL lock_timeout = '{PG_LOCK_TIMEOUT_MS}ms'"))
        self.session.execute(update(Project).where(self.here(), Project.name.in_(names)).values(serial=Project.serial))
        locked = {
            p.name: p
            for p in self.session.scalars(
                select(Project).where(self.here(), Project.name.in_(names)).execution_options(populate_existing=True)
            )  # locked by the UPDATE above (FOR NO KEY UPDATE: inserts of new file rows go on)
        }
        files: dict[int, dict[str, File]] = {}
        ids = [p.id for p in locked.values()]
        for i in range(0, len(ids), BATCH):
            query = select(File).where(File.project_id.in_(ids[i : i + BATCH])).order_by(File.id).with_for_update()
            for f in self.session.scalars(query):
                files.setdefault(f.project_id, {})[f.filename] = f
        wanted = [f for n in names for f in outcome[n][0]]
        owners: dict[str, int] = {}  # filename -> project id, for the files storage lists in this batch
        for i in range(0, len(wanted), BATCH):
            query = select(File.filename, File.project_id).where(File.index_name == self.index_name,
                                                                 File.filename.in_(wanted[i : i + BATCH]))  # fmt: skip
            owners.update((filename, pid) for filename, pid in self.session.execute(query))
        changed: list[Project] = []
        fresh: list[tuple[str, dict[str, FileRecord], ProjectState | None]] = []
        live_counts: list[int] = []
        for name in names:
            records, state, gone = outcome[name]
            project = locked.get(name)
            noted = batch.projects.get(name)
            pid = project.id if project is not None else None
            moved = (project.serial if project else None) != (noted[1] if noted else None)
            if moved or any(owners.get(f, pid) != pid for f in records):
                later.append(name)  # a writer moved it, or a file is filed elsewhere: the careful path
                continue
            if project is None:
                if records:  # a new project: inserted in bulk below
                    fresh.append((name, records, state))
                elif state is not None:
                    fresh.append((name, {}, state))
                continue
            rows = files.get(project.id, {})
            dirty = self._write_rows(project, rows, records, gone)
            dirty = self._update_project(project, records, state) or dirty
            if not rows and state is None:
                self.session.delete(project)
                continue
            if dirty:
                changed.append(project)
            live_counts.append(sum(1 for r in rows.values() if r.state == LIVE))
        if changed or fresh:
            top = self.advance(len(changed) + len(fresh))  # one counter write; serials numbered here
            now = utcnow()
            serials = iter(range(top - len(changed) - len(fresh) + 1, top + 1))
            for project in changed:
                project.serial, project.last_update = next(serials), now
            self.session.flush()
            live_counts.extend(self._insert_new(fresh, serials, now))
        self.session.commit()
        for live in live_counts:
            self._count(totals, live)
        return later

    def _insert_new(self, fresh: list[tuple[str, dict[str, FileRecord], ProjectState | None]],
                    serials: Iterator[int], now: datetime) -> list[int]:  # fmt: skip
        """Bulk-insert projects new to the index, their files and their search documents (Core executemany:
        no ORM object per row; the documents come from the records, as search.refresh would find them);
        their live counts."""
        if not fresh:
            return []
        values = [{"index_name": self.index_name, "name": name, "display_name": name, "summary": "",
                   **self._project_values(records, state), "created": now, "last_update": now,
                   "serial": next(serials)} for name, records, state in fresh]  # fmt: skip
        conn = self.session.connection()
        projects, files = Project.__table__, File.__table__
        ids = dict(conn.execute(insert(projects).returning(projects.c.name, projects.c.id), values).all())
        rows = []
        docs = {}  # written here: Core inserts pass by the session's events
        for (name, records, _state), project in zip(fresh, values, strict=True):
            for filename, record in records.items():
                row = record_values(record)
                row["metadata"] = row.pop("meta")  # the column's name (`meta` is the attribute's)
                rows.append({"project_id": ids[name], "index_name": self.index_name, "filename": filename, **row})
            newest = _newest_live(records)
            docs[ids[name]] = search.document(name, project["display_name"], newest.summary if newest else "",
                                              newest.metadata if newest else {})  # fmt: skip
        if rows:
            conn.execute(insert(files), rows)
        search.add(conn, docs)
        return [sum(1 for r in records.values() if not r.deleted) for _name, records, _state in fresh]

    def interrupted(self) -> bool:
        """Whether a rebuild started and never finished (killed): the next start-up finishes the job."""
        return self.session.get(Counter, REBUILD_MARKER) is not None

    def _set_marker(self, on: bool) -> None:
        marker = self.session.get(Counter, REBUILD_MARKER)
        if on and marker is None:
            self.session.add(Counter(name=REBUILD_MARKER, value=1))
        elif not on and marker is not None:
            self.session.delete(marker)

    def _reconcile(self, keys: ProjectKeys) -> int:
        """Bring one project's rows in line with its keys; returns its live files."""
        for attempt in range(RECONCILE_ATTEMPTS):
            self.session.rollback()
            project_id = self.session.scalar(select(Project.id).where(self.in_index(keys.name)))
            in_flight = self.recover_dead_claims(project_id) if project_id is not None else set()
            self.session.rollback()
            serial = self.session.scalar(select(Project.serial).where(self.in_index(keys.name)))
            names = sorted((set(keys.dists) | keys.sidecars) - in_flight)
            records = {r.filename: r for r in (self._record(keys, n) for n in names) if r is not None}
            state = self._state(keys)
            gone = self._gone(keys.name, records, in_flight)
            self.storage.sync()
            try:
                return self._apply(keys.name, serial, records, state, gone)
            except (Moved, IntegrityError, OperationalError) as exc:
                self.session.rollback()
                log.debug("Reconciling %s again (%s)", keys.name, type(exc).__name__)
                time.sleep(0.02 * 2**attempt)  # let the writer that holds the project finish
        log.warning("Project %s kept changing during the rebuild: its rows were left as its writers made them",
                    keys.name)  # fmt: skip
        return 0

    def _gone(self, name: str, records: dict[str, FileRecord], in_flight: set[str]) -> set[str]:
        """Settled rows of the project that storage no longer holds (asked one key at a time, outside any
        transaction: they are few, and the listing may predate a writer that finished since)."""
        rows = self.session.execute(select(File.filename, File.state).join(Project).where(self.in_index(name))).all()
        self.session.rollback()
        candidates = [f for f, st in rows if f not in records and f not in in_flight and st != PENDING]
        key = f"{name}/"
        return {
            f
            for f in candidates
            if not self.storage.exists(key + f + SIDECAR_SUFFIX) and not self.storage.exists(key + f)
        }

    def _apply(self, name: str, serial: int | None, records: dict[str, FileRecord], state: ProjectState | None,
               gone: set[str]) -> int:  # fmt: skip
        """One short transaction: lock the project, check its serial, insert/update/remove rows, commit."""
        project = self._lock(name, serial)
        if project is None:
            if not records and state is None:
                self.session.rollback()
                return 0
            project = Project(index_name=self.index_name, name=name, display_name=name, summary="", settings={})
            self.session.add(project)
            self.session.flush()
        rows = {
            f.filename: f
            for f in self.session.scalars(
                select(File).where(File.project_id == project.id).order_by(File.id).with_for_update()
            )
        }
        rows.update(self._rows_elsewhere([n for n in records if n not in rows]))
        changed = self._write_rows(project, rows, records, gone)
        changed = self._update_project(project, records, state) or changed
        self.session.flush()
        left = self.session.scalar(select(func.count(File.id)).where(File.project_id == project.id)) or 0
        if not left and state is None:
            self.session.delete(project)
            self.session.commit()
            return 0
        if changed:
            self.bump(project)
        search.note(self.session, project)  # the document is rewritten even when the rows were right
        self.session.commit()
        return self.session.scalar(select(func.count(File.id)).where(File.project_id == project.id,
                                                                     File.state == LIVE)) or 0  # fmt: skip

    def _write_rows(self, project: Project, rows: dict[str, File], records: dict[str, FileRecord],
                    gone: set[str]) -> bool:  # fmt: skip
        """Insert, update and remove the project's file rows (`rows`: filename -> row, locked; it is updated)
        to match storage's `records` and `gone`; whether any row changed. A row filed under another project
        moves here; a pending row (a live upload, claimed since the claims were checked) is left to its
        writer, which lands it by itself."""
        changed = False
        for filename, record in records.items():
            row = rows.get(filename)
            if row is None:
                row = File(project=project, index_name=self.index_name, filename=filename)
                self.session.add(row)
                rows[filename] = row
                changed = True
            elif row.state == PENDING:
                continue
            elif row.project_id != project.id:
                row.project = project
                changed = True
            row.update_from(record)
            changed = changed or self.session.is_modified(row)
        for filename in gone:
            row = rows.get(filename)
            if row is not None and row.state != PENDING and row.project_id == project.id:
                del rows[filename]
                self.session.delete(row)
                changed = True
        return changed

    def _lock(self, name: str, serial: int | None) -> Project | None:
        """The project row, locked until commit, if its serial is still `serial`; Moved otherwise.

        SQLite: the first write takes the database's write lock. PostgreSQL: the project, then its file
        rows, then (at commit) the serial counter: the order every writer keeps; a short lock_timeout
        means the rebuild gives way (and retries) rather than make a writer wait long.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text(f"SET LOCAL lock_timeout = '{PG_LOCK_TIMEOUT_MS}ms'"))
        self.session.execute(update(Project).where(self.in_index(name)).values(serial=Project.serial))
        project = self.session.scalar(select(Project).where(self.in_index(name)).with_for_update())
        current = project.serial if project is not None else None
        if current != serial:
            raise Moved(name)
        return project

    def _rows_elsewhere(self, filenames: list[str]) -> dict[str, File]:
        """Rows of these filenames filed under another project (or not at all), locked, in batches."""
        found: dict[str, File] = {}
        for i in range(0, len(filenames), BATCH):
            query = select(File).where(File.index_name == self.index_name, File.filename.in_(filenames[i : i + BATCH]))
            query = query.order_by(File.id)
            found.update((f.filename, f) for f in self.session.scalars(query.with_for_update()))
        return found

    @staticmethod
    def _project_values(records: dict[str, FileRecord], state: ProjectState | None) -> dict[str, object]:
        """The project columns storage decides: display name and summary (of the newest live file; none
        without files), status and settings (its state file)."""
        newest = _newest_live(records)
        wanted: dict[str, object] = {}
        if records:
            wanted["display_name"] = newest.name if newest else min(records.values(), key=lambda r: r.filename).name
            wanted["summary"] = newest.summary if newest else ""
        state = state or ProjectState()
        wanted.update(status=state.status, status_reason=state.status_reason, settings=dict(state.settings))
        return wanted

    @classmethod
    def _update_project(cls, project: Project, records: dict[str, FileRecord], state: ProjectState | None) -> bool:
        changed = False
        for attr, value in cls._project_values(records, state).items():
            if getattr(project, attr) != value:
                setattr(project, attr, value)
                changed = True
        return changed

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
                if filename in keys.torn and has_file and record.core_metadata_sha256:
                    self._read_dist(keys, filename, metadata_only=True)
                return record
        if not has_file:
            return None
        return self._read_dist(keys, filename)

    def _read_dist(self, keys: ProjectKeys, filename: str, metadata_only: bool = False) -> FileRecord | None:
        """The record read from the file itself; its sidecar and .metadata written (put_unsynced: the caller
        syncs before it commits rows), or only the .metadata when `metadata_only`."""
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
            self.storage.put_unsynced(key + METADATA_SUFFIX, meta.raw)
        if not metadata_only:
            self.storage.put_unsynced(key + SIDECAR_SUFFIX, record.to_json(), JSON_META)
        return record
