"""The file cache: fetch an upstream file once, verify it, store it exactly like an upload, stream it meanwhile."""

from __future__ import annotations

import hmac
import io
import logging
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import BinaryIO

from ..core.archives import ArchiveLimits
from ..core.dists import CoreMetadata, content_type, parse_filename, read_core_metadata
from ..core.errors import InvalidDistribution, NotFound, UpstreamError
from ..core.hashes import CHUNK, Digests, digest_stream, sha256_bytes
from ..core.origins import CACHE as CACHE_ORIGIN
from ..core.origins import CACHE_INFO
from ..core.records import METADATA_SUFFIX, PROVENANCE_SUFFIX, SIDECAR_SUFFIX, FileRecord, iso, utcnow
from ..core.upload import build_record
from ..storage import FileMeta, Storage
from . import signals
from .client import UpstreamClient, UpstreamFailure
from .pages import UpstreamFile
from .state import FetchLocks, Health, PgFetchLocks

log = logging.getLogger(__name__)
STREAM_CHUNK = 64 * 1024  # what reaches the client at a time while a file is fetched
TEXT_META = FileMeta(content_type="text/plain; charset=utf-8")
JSON_META = FileMeta(content_type="application/json")

IsCached = Callable[[], bool]
Register = Callable[[FileRecord], None]


class FileCache:
    """Fetches upstream files into storage under a per-file lock shared by the host's workers."""

    def __init__(self, client: UpstreamClient, storage: Storage, health: Health, locks: FetchLocks | PgFetchLocks,
                 tmp_dir: Path, describe: Callable[[], str], limits: ArchiveLimits | None = None) -> None:  # fmt: skip
        self.client = client
        self.storage = storage
        self.health = health
        self.locks = locks
        self.tmp_dir = tmp_dir
        self._describe = describe
        self.limits = limits or ArchiveLimits()
        tmp_dir.mkdir(parents=True, exist_ok=True)

    @property
    def describe(self) -> str:
        """The upstream's URL for logs and messages (never its credentials)."""
        return self._describe()

    # -- distributions ---------------------------------------------------------------------------

    def ensure(self, project: str, file: UpstreamFile, is_cached: IsCached, register: Register) -> None:
        """Fetch, verify and store the file unless it is (or, after waiting, has become) cached."""
        with self.locks.hold(file.filename):
            if not is_cached():
                for _chunk in self._fetch(project, file, register):
                    pass

    def stream(self, project: str, file: UpstreamFile, is_cached: IsCached, register: Register) -> Iterator[bytes]:
        """The file's bytes for a client, fetched and stored at the same pace; a failure ends the stream
        early (the client sees a broken download) and stores nothing."""
        with self.locks.hold(file.filename):
            if is_cached():
                with self.storage.open(f"{project}/{file.filename}") as stored:
                    while chunk := stored.read(CHUNK):
                        yield chunk
                return
            yield from self._fetch(project, file, register)

    def _fetch(self, project: str, file: UpstreamFile, register: Register) -> Iterator[bytes]:
        started = time.monotonic()
        try:
            size = yield from self._fetch_once(project, file, register)
        except UpstreamError as exc:
            signals.file_fetch_failed.send(self, seconds=time.monotonic() - started, size=0, reason=exc.message)
            raise
        signals.file_fetched.send(self, seconds=time.monotonic() - started, size=size)

    def _fetch_once(self, project: str, file: UpstreamFile, register: Register) -> Generator[bytes, None, int]:
        if not self.health.should_try():
            raise UpstreamError(f"The upstream {self.describe} is failing and {file.filename!r} is not cached.")
        log.info("Caching %s from %s", file.filename, self.describe)
        with tempfile.TemporaryFile(dir=self.tmp_dir, prefix="fetch-") as tmp:
            tail = yield from self._download(file, tmp)
            tmp.seek(0)
            digests = digest_stream(tmp)
            self._verify(file, digests)
            yield tail  # only verified bytes are ever complete at the client
            tmp.seek(0)
            record, metadata = self._record(project, file, tmp, digests)
            provenance = self._provenance(file)
            if provenance is not None:
                record.provenance_sha256 = sha256_bytes(provenance)
            tmp.seek(0)
            self._store(record, tmp, metadata, provenance)
        register(record)
        return record.size

    def _download(self, file: UpstreamFile, sink: BinaryIO) -> Generator[bytes, None, bytes]:
        """Copy the upstream file into sink, passing on each chunk but the last, which it returns."""
        try:
            response = self.client.open(file.url)
        except UpstreamFailure as exc:
            self._failed(exc)
            raise UpstreamError(f"Could not fetch {file.filename!r} from {self.describe}: {exc}.")
        import requests  # loaded by the client that opened the response

        with response:
            held = b""
            try:
                for chunk in response.iter_content(STREAM_CHUNK):
                    sink.write(chunk)
                    if held:
                        yield held
                    held = chunk
            except requests.RequestException as exc:
                if isinstance(exc, requests.Timeout | requests.ConnectionError):
                    self.health.failed("timed out" if isinstance(exc, requests.Timeout) else "connection failed")
                log.warning("Fetching %s from %s broke off: %s; nothing was cached", file.filename,
                            self.describe, exc.__class__.__name__)  # fmt: skip
                raise UpstreamError(f"The download of {file.filename!r} from {self.describe} broke off.")
        self.health.ok()
        return held

    def _failed(self, exc: UpstreamFailure) -> None:
        if exc.outage:
            self.health.failed(str(exc))
        else:
            log.warning("The upstream %s refused a file: %s", self.describe, exc)

    def _verify(self, file: UpstreamFile, digests: Digests) -> None:
        problem = None
        if file.size is not None and digests.size != file.size:
            problem = f"got {digests.size} bytes, the upstream lists {file.size}"
        elif not hmac.compare_digest(digests.sha256, file.sha256):
            problem = f"its sha256 is {digests.sha256}, the upstream lists {file.sha256}"
        if problem:
            log.warning("Refusing to cache %s from %s: %s", file.filename, self.describe, problem)
            raise UpstreamError(f"{file.filename!r} from {self.describe} failed verification ({problem}); "
                                "nothing was cached.")  # fmt: skip

    def _record(self, project: str, file: UpstreamFile, stream: BinaryIO,
                digests: Digests) -> tuple[FileRecord, bytes | None]:  # fmt: skip
        """The file's record, as an upload of it would have, with the upstream's facts (upload-time, yank)."""
        dist = parse_filename(file.filename)
        try:
            meta = read_core_metadata(stream, dist, self.limits)
            readable = True
        except InvalidDistribution as exc:
            log.warning("Caching %s without core metadata: %s", file.filename, exc.message)
            meta, readable = CoreMetadata(raw=b"", name=dist.project, version=str(dist.version)), False
        record = build_record(dist, meta, digests, uploader=None, origin=CACHE_ORIGIN)
        metadata = meta.raw if readable and record.core_metadata_sha256 else None
        if metadata is None:
            record.core_metadata_sha256 = None
        elif file.metadata_sha256 and record.core_metadata_sha256 != file.metadata_sha256:
            metadata = self._upstream_metadata(project, file)  # the upstream's own bytes win
            record.core_metadata_sha256 = file.metadata_sha256
        record.upload_time = file.upload_time or utcnow()
        record.requires_python = file.requires_python or record.requires_python
        record.yanked, record.yanked_reason = file.yanked, file.yanked_reason
        record.metadata[CACHE_INFO] = {"at": iso(utcnow()), "from": self.describe}
        return record, metadata

    def _provenance(self, file: UpstreamFile) -> bytes | None:
        """The upstream's PEP 740 provenance, kept beside the file when it offers one."""
        if not file.provenance_url:
            return None
        try:
            return self.client.small(file.provenance_url)
        except UpstreamFailure as exc:
            log.warning("No provenance kept for %s: %s", file.filename, exc)
            return None

    def _store(self, record: FileRecord, stream: BinaryIO, metadata: bytes | None, provenance: bytes | None) -> None:
        """Metadata, provenance and sidecar first, the file last: a storage that holds the file holds all
        its facts (a rebuild never mistakes a cached file for an upload); on failure nothing remains."""
        written: list[str] = []
        try:
            for suffix, data, meta in ((METADATA_SUFFIX, metadata, TEXT_META),
                                       (PROVENANCE_SUFFIX, provenance, JSON_META),
                                       (SIDECAR_SUFFIX, record.to_json(), JSON_META)):  # fmt: skip
                if data is not None:
                    written.append(record.key + suffix)
                    self.storage.put(record.key + suffix, io.BytesIO(data), meta)
            written.append(record.key)
            self.storage.put(record.key, stream, FileMeta(content_type(record.filename), record.sha256))
        except BaseException:
            for key in written:
                self.storage.delete(key)
            raise

    # -- core metadata of files not cached yet ---------------------------------------------------

    def metadata(self, project: str, file: UpstreamFile) -> bytes:
        """The PEP 658 file of an upstream wheel, verified against the listed hash and kept in storage."""
        if not file.metadata_sha256:
            raise NotFound(f"No core metadata file for {file.filename!r}.")
        key = f"{project}/{file.filename}{METADATA_SUFFIX}"
        stored = self._stored_metadata(key, file)
        if stored is not None:
            return stored
        with self.locks.hold(key):
            stored = self._stored_metadata(key, file)
            if stored is not None:
                return stored
            data = self._upstream_metadata(project, file)
            self.storage.put(key, io.BytesIO(data), TEXT_META)
            return data

    def _stored_metadata(self, key: str, file: UpstreamFile) -> bytes | None:
        try:
            data = self.storage.read(key)
        except FileNotFoundError:
            return None
        return data if file.metadata_sha256 == sha256_bytes(data) else None

    def _upstream_metadata(self, project: str, file: UpstreamFile) -> bytes:
        if not self.health.should_try():
            raise UpstreamError(f"The upstream {self.describe} is failing and {file.filename!r} is not cached.")
        try:
            data = self.client.small(file.url + METADATA_SUFFIX)
        except UpstreamFailure as exc:
            self._failed(exc)
            raise UpstreamError(f"Could not fetch the metadata of {file.filename!r} from {self.describe}: {exc}.")
        if sha256_bytes(data) != file.metadata_sha256:
            log.warning("Refusing the metadata of %s from %s: wrong sha256", file.filename, self.describe)
            raise UpstreamError(f"The metadata of {file.filename!r} from {self.describe} failed verification.")
        return data
