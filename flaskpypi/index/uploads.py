"""The upload pipeline ("forklift"): small steps from a received file to a stored, indexed one."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.exc import IntegrityError

from ..core.dists import DistName, content_type, parse_filename, read_core_metadata
from ..core.errors import Conflict, FileExists, InvalidDistribution, TooLarge
from ..core.hashes import Digests, check_claimed, digest_stream, sha256_bytes
from ..core.records import METADATA_SUFFIX, PROVENANCE_SUFFIX, SIDECAR_SUFFIX, FileRecord
from ..core.upload import UploadForm, build_record, check_agreement, normalise_form
from ..storage import FileMeta
from . import signals
from .claims import claim_lock, holding
from .models import DELETED, LIVE, PENDING, File, Project
from .service import IndexService

log = logging.getLogger(__name__)
TEXT_META = FileMeta(content_type="text/plain; charset=utf-8")
CLAIM_ATTEMPTS = 5

# Verifies PEP 740 attestations for (project, record, attestations JSON, file); raises to refuse.
AttestationVerifier = Callable[[str, FileRecord, str, BinaryIO], bytes]


@dataclass
class UploadResult:
    """What happened: the file's record, and whether anything changed (byte-identical re-upload)."""

    record: FileRecord
    created: bool


def refuse_attestations(project: str, record: FileRecord, attestations: str, stream: BinaryIO) -> bytes:
    """The default verifier: attestations cannot be verified without a trusted publisher, so refuse."""
    raise InvalidDistribution(
        f"Attestations (PEP 740) for {record.filename!r} cannot be verified: no trusted publisher is "
        f"configured for project {project!r}; upload without attestations."
    )


class Uploader(IndexService):
    """The legacy-API upload: validate, claim the filename, store atomically, then index."""

    verify_attestations: AttestationVerifier = staticmethod(refuse_attestations)  # type: ignore[assignment]

    def upload(self, filename: str, stream: BinaryIO, fields: Mapping[str, Sequence[str]],
               uploader: str | None) -> UploadResult:  # fmt: skip
        form = normalise_form(fields)
        dist = parse_filename(filename)
        check_agreement(form, dist)
        digests = self._digest(stream, form)
        settled = self._settled(self.file_named(dist.filename), dist, digests)
        if settled is not None:
            return settled
        stream.seek(0)
        meta = read_core_metadata(stream, dist, self.policy.limits)
        record = build_record(dist, meta, digests, uploader)
        provenance = None
        if form.attestations:
            stream.seek(0)
            provenance = self.verify_attestations(dist.project, record, form.attestations, stream)
        with holding(claim_lock(self.session, dist.filename, self.index_name), self.policy.upload_wait):
            claimed = self._claim_held(record, dist, digests)
            if isinstance(claimed, UploadResult):
                return claimed
            project, row, replacing = claimed
            try:
                if replacing:  # the old sidecar goes first: a crash from here on leaves no sidecar that lies
                    self.storage.delete(record.key + SIDECAR_SUFFIX)
                self._store(record, stream, meta.raw if record.core_metadata_sha256 else None, provenance)
                row.update_from(record)
                row.state = LIVE
                if not project.summary or record.summary:
                    project.summary = record.summary
                self.bump(project)
                signals.file_uploading.send(self, project=project.name, filenames=[record.filename],
                                            session=self.session, index=self.index_name)  # fmt: skip
                self.session.commit()
            except BaseException:
                self.abandon_claim(row.id)
                raise
        log.info("Uploaded %s (%d bytes) by %s", record.filename, record.size, uploader or "anonymous")
        signals.file_uploaded.send(self, project=project.name, filenames=[record.filename], size=record.size)
        return UploadResult(record, created=True)

    def _settled(self, existing: File | None, dist: DistName, digests: Digests) -> UploadResult | None:
        """The answer when a settled row decides it: these bytes are there already (200), or refused (400)."""
        if existing is None or existing.state == PENDING:
            return None
        if existing.state == LIVE and existing.sha256 == digests.sha256:
            return UploadResult(existing.to_record(), created=False)
        if existing.state == DELETED or not self.policy.allow_overwrite:
            raise self._exists_error(existing, dist)
        return None

    def _claim_held(self, record: FileRecord, dist: DistName,
                    digests: Digests) -> UploadResult | tuple[Project, File, bool]:  # fmt: skip
        """With the filename's lock held: the answer if the file landed meanwhile, else a pending row.

        A pending row seen while holding the lock has no live writer: it is recovered first. A project
        removed under us (a rebuild reconciling an empty one) makes the row's insert fail: try again.
        """
        for _attempt in range(CLAIM_ATTEMPTS):
            self.session.rollback()  # see what other writers committed while this one waited
            existing = self.file_named(dist.filename)
            if existing is not None and existing.state == PENDING:
                self.recover(existing)
                continue
            settled = self._settled(existing, dist, digests)
            if settled is not None:
                return settled
            project = self._project_for(record)
            try:
                row = self._claim(project, record, existing)
            except IntegrityError:
                self.session.rollback()
                continue
            return project, row, existing is not None
        raise Conflict(f"The index changed under the upload of {dist.filename!r} several times; retry.")

    def _digest(self, stream: BinaryIO, form: UploadForm) -> Digests:
        stream.seek(0)
        digests = digest_stream(stream)
        if digests.size > self.policy.max_upload_size:
            raise TooLarge(f"File too large: {digests.size} bytes, the limit is {self.policy.max_upload_size}.")
        if digests.size == 0:
            raise InvalidDistribution("The uploaded file is empty.")
        check_claimed(digests, form.digests)
        return digests

    @staticmethod
    def _exists_error(existing: File, dist: DistName) -> FileExists:
        if existing.state == DELETED:
            return FileExists(
                f"File already exists ({dist.filename!r}): this filename was used by a deleted file "
                "and cannot be reused; use a different version."
            )
        return FileExists(
            f"File already exists ({dist.filename!r}, with blake2_256 hash {existing.blake2b_256!r}): "
            "other bytes cannot be uploaded under the same filename."
        )

    def _project_for(self, record: FileRecord) -> Project:
        project = self.ensure_project(record)
        if project.status in ("archived", "quarantined"):
            raise Conflict(f"Project {project.display_name!r} is {project.status}: uploads are closed (PEP 792).")
        return project

    def _claim(self, project: Project, record: FileRecord, existing: File | None) -> File:
        """Commit the pending row that tells readers and recoveries that keys of this file may be half-written."""
        row = existing if existing is not None else File(project=project, index_name=self.index_name,
                                                         filename=record.filename)  # fmt: skip
        if existing is None:
            row.update_from(record)
            self.session.add(row)
        row.state = PENDING
        self.session.commit()
        return row

    def _store(self, record: FileRecord, stream: BinaryIO, metadata: bytes | None, provenance: bytes | None) -> None:
        """Write the file, then its metadata files, then the sidecar that makes it part of the index."""
        stream.seek(0)
        self.storage.put(record.key, stream, FileMeta(content_type=content_type(record.filename), sha256=record.sha256))
        if metadata is not None:
            self.storage.put(record.key + METADATA_SUFFIX, io.BytesIO(metadata), TEXT_META)
        if provenance is not None:
            record.provenance_sha256 = sha256_bytes(provenance)
            self.storage.put(record.key + PROVENANCE_SUFFIX, io.BytesIO(provenance), FileMeta("application/json"))
        self.storage.put_bytes(record.key + SIDECAR_SUFFIX, record.to_json(), FileMeta("application/json"))
