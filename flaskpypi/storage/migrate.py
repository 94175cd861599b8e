"""Copy every object from one storage to another: hash-checked, resumable and idempotent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import BinaryIO

from ..core.records import METADATA_SUFFIX, PROVENANCE_SUFFIX, SIDECAR_SUFFIX, FileRecord
from . import FileMeta, IntegrityError, Storage, StoredFile

CHUNK = 1024 * 1024
COPIED, SKIPPED = "copied", "skipped"
CONTENT_TYPES = {
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".tar.gz": "application/gzip",
    SIDECAR_SUFFIX: "application/json",
    PROVENANCE_SUFFIX: "application/json",
    METADATA_SUFFIX: "text/plain",
}


class HashingReader:
    """A read-only stream that hashes and counts what passes through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.stream.read(n)
        self.sha.update(chunk)
        self.size += len(chunk)
        return chunk


@dataclass
class Report:
    """What a migration did."""

    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def digest(storage: Storage, key: str) -> tuple[str, int]:
    """(sha256, size) of an object, read as a stream."""
    with storage.open(key) as stream:
        reader = HashingReader(stream)
        while reader.read(CHUNK):
            pass
    return reader.sha.hexdigest(), reader.size


def content_type(key: str) -> str:
    """The content type an object is stored with, from its name."""
    return next((ct for suffix, ct in CONTENT_TYPES.items() if key.endswith(suffix)), "application/octet-stream")


class Migration:
    """Copies objects from `source` to `target`; objects the target already holds byte for byte are skipped."""

    def __init__(self, source: Storage, target: Storage) -> None:
        self.source = source
        self.target = target

    def expected_sha256(self, key: str) -> str | None:
        """The sha256 a distribution file's sidecar promises, if it has one."""
        if key.endswith((SIDECAR_SUFFIX, METADATA_SUFFIX, PROVENANCE_SUFFIX)):
            return None
        try:
            return FileRecord.from_json(self.source.read(key + SIDECAR_SUFFIX)).sha256
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None  # no sidecar, or one the rebuild would also ignore

    def copy(self, stored: StoredFile) -> str:
        """Copy one object unless the target holds the same bytes; returns COPIED or SKIPPED.

        Raises IntegrityError when the source disagrees with its sidecar or the copy with the source.
        """
        key = stored.key
        expected = self.expected_sha256(key)
        there = self.target.stat(key)
        if there is not None and (there.size is None or stored.size is None or there.size == stored.size):
            source_sha, _ = digest(self.source, key)
            if expected and source_sha != expected:
                raise IntegrityError(f"{key}: sha256 {source_sha} in the source, its sidecar says {expected}")
            if digest(self.target, key)[0] == source_sha:
                return SKIPPED
        with self.source.open(key) as stream:
            reader = HashingReader(stream)
            self.target.put(key, reader, FileMeta(content_type(key), expected))  # type: ignore[arg-type]
        copied_sha, copied_size = digest(self.target, key)
        if (copied_sha, copied_size) != (reader.sha.hexdigest(), reader.size):
            self.target.delete(key)
            raise IntegrityError(f"{key}: the copy reads back as sha256 {copied_sha} ({copied_size} bytes), "
                                 f"the source as {reader.sha.hexdigest()} ({reader.size} bytes)")  # fmt: skip
        return COPIED
