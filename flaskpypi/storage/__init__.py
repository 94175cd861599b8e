"""The Storage contract, and the loader that turns a URL into a storage plugin by its scheme."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from ..core.plugins import STORAGE_GROUP, load_plugin

CONTRACT_VERSION = 1


@dataclass(frozen=True)
class StoredFile:
    """One object found while listing storage."""

    key: str
    size: int | None = None
    modified: datetime | None = None


@dataclass(frozen=True)
class FileMeta:
    """What a backend may record beside the bytes (content type, checksum)."""

    content_type: str = "application/octet-stream"
    sha256: str | None = None


class IntegrityError(OSError):
    """Bytes that do not match the hash they were announced with; nothing was stored."""


class Storage(ABC):
    """Where distribution files and their sidecars live; the source of truth of the index.

    Keys are validated `project/filename` strings. Implementations must make `put` atomic: a reader
    sees the old object, no object, or the complete new one, never a part.
    """

    contract_version = CONTRACT_VERSION

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = options

    @abstractmethod
    def iter_files(self, prefix: str = "") -> Iterator[StoredFile]:
        """Every object under prefix, listed page by page; used for rebuilds, never per request."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary stream; FileNotFoundError when the key is absent."""

    @abstractmethod
    def put(self, key: str, data: BinaryIO, meta: FileMeta | None = None) -> None:
        """Store the stream's bytes under key, atomically; IntegrityError (nothing stored) if they miss meta.sha256."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the key; a missing key is not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether the key holds an object now."""

    def stat(self, key: str) -> StoredFile | None:
        """The object's size and time, or None when absent; one request, never a listing."""
        return StoredFile(key) if self.exists(key) else None

    def download_url(self, key: str, expires: int = 300) -> str | None:
        """A short-lived URL the client can be redirected to, or None to stream through the app."""
        return None

    def local_path(self, key: str) -> str | None:
        """A path on this host for sendfile, or None."""
        return None

    def read(self, key: str) -> bytes:
        """The whole object (small objects: sidecars, metadata)."""
        with self.open(key) as stream:
            return stream.read()

    def put_bytes(self, key: str, data: bytes, meta: FileMeta | None = None) -> None:
        """put() for a small byte string."""
        self.put(key, io.BytesIO(data), meta)

    def put_unsynced(self, key: str, data: bytes, meta: FileMeta | None = None) -> None:
        """put_bytes() that may leave durability to the next sync(): for many small writes in a row (the
        sidecars a rebuild regenerates), which then cost one flush instead of one each.

        Atomic as put() (a reader sees the old object, none, or the whole new one). Until sync() returns, a
        crash of the host may lose the write (the old object, none, or an empty one is found after it): a
        caller records nothing elsewhere (database rows) that relies on the object before sync(). This
        default is put_bytes(), durable at once.
        """
        self.put_bytes(key, data, meta)

    def sync(self) -> None:
        """Make every put_unsynced() that returned before this call durable; OSError when it cannot. This
        default does nothing (its put_unsynced() is durable at once)."""
        return None

    def copy(self, src_key: str, dst_key: str, meta: FileMeta | None = None) -> None:
        """Copy an object to another key, atomically as put() (a server-side copy where the backend has
        one); FileNotFoundError when src_key is absent. This fallback streams the bytes through open() and
        put() with `meta` (its sha256, when given, is checked)."""
        with self.open(src_key) as stream:
            self.put(dst_key, stream, meta)

    def sweep_temporary(self) -> int:
        """Remove temporary files that writers which died (kill -9) left behind; returns how many.

        Safe while other processes write: a file whose writer is alive is left alone. Run at start-up
        and by `reindex`; temporary files are never listed by `iter_files`.
        """
        return 0

    def describe(self) -> str:
        """Where the files are, for logs (never credentials)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


def scheme_of(url: str) -> str:
    """The entry-point name for a storage URL: its scheme, `file` for a bare path."""
    scheme = urlsplit(url).scheme
    return scheme if len(scheme) > 1 else "file"


def load_storage(url: str, options: dict[str, Any] | None = None) -> Storage:
    """Build the storage plugin the URL's scheme names, with options from the config."""
    cls = load_plugin(STORAGE_GROUP, scheme_of(url))
    return cls(url, **(options or {}))
