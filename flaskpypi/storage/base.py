"""FsspecStorage: the Storage contract over any fsspec filesystem; plugins add configuration and signing."""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, ClassVar, TypeVar

import fsspec
import fsspec.asyn

from ..core.names import validate_key
from . import FileMeta, IntegrityError, Storage, StoredFile

T = TypeVar("T")
COPY_CHUNK = 1024 * 1024
SPOOL_PREFIX = "flaskpypi-put-"


class FsspecStorage(Storage):
    """A storage whose bytes an fsspec filesystem moves; `url_to_fs` turns the URL into that filesystem.

    Subclasses (the cloud plugins) override the hooks: `make_filesystem` (options, class), `list_infos`
    (paginated listing), `head` (one request per key), `put_options` (content type), `sign` (signed URLs)
    and `read_block_size` (streamed reads).
    """

    #: block size for streaming reads (None: the filesystem's default)
    read_block_size: ClassVar[int | None] = None

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.fs, root = self.make_filesystem(url, dict(options))
        self.root = root.rstrip("/")

    def make_filesystem(self, url: str, options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
        """The filesystem and root path for the URL; plugins override to shape options."""
        return fsspec.core.url_to_fs(url, **options)

    def path(self, key: str) -> str:
        """The filesystem path of a validated key."""
        return f"{self.root}/{validate_key(key)}"

    def key_of(self, path: str) -> str:
        """Inverse of path()."""
        path = self.fs._strip_protocol(path)
        root = self.fs._strip_protocol(self.root).rstrip("/")
        return path[len(root) :].lstrip("/")

    # Listing: for rebuilds and migrations only, never on a request path.

    def list_infos(self, base: str) -> Iterator[dict[str, Any]]:
        """fsspec info dicts of every file under base, folder by folder (local and memory filesystems)."""
        if not self.fs.exists(base):
            return
        for _dirpath, _dirs, files in self.fs.walk(base, detail=True):
            for _name, info in sorted(files.items()):
                yield info

    def iter_files(self, prefix: str = "") -> Iterator[StoredFile]:
        base = f"{self.root}/{prefix}".rstrip("/") if prefix else self.root
        for info in self.list_infos(base):
            name = info.get("name") or ""
            if info.get("type", "file") != "file" or name.endswith("/"):
                continue
            key = self.key_of(name)
            if key:
                yield StoredFile(key, info.get("size"), modified_of(info))

    # Single objects.

    def head(self, path: str) -> dict[str, Any] | None:
        """The info dict of one object, or None; plugins override with one request that never lists."""
        self.fs.invalidate_cache(path)
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        return info if info.get("type", "file") == "file" else None

    def stat(self, key: str) -> StoredFile | None:
        info = self.head(self.path(key))
        return None if info is None else StoredFile(key, info.get("size"), modified_of(info))

    def exists(self, key: str) -> bool:
        return self.head(self.path(key)) is not None

    def open(self, key: str) -> BinaryIO:
        path = self.path(key)
        if self.read_block_size is None:
            return self.fs.open(path, "rb")
        info = self.head(path)
        if info is None:
            raise FileNotFoundError(key)
        return self.fs.open(path, "rb", block_size=self.read_block_size, cache_type="readahead",
                            size=info.get("size"))  # fmt: skip

    def read(self, key: str) -> bytes:
        """The whole object in one request (a GET on object stores; no HEAD first)."""
        return self.fs.cat_file(self.path(key))

    def put(self, key: str, data: BinaryIO, meta: FileMeta | None = None) -> None:
        """Spool the stream to a temporary file, check its hash, then hand it over in one upload.

        Object stores publish an object only when its upload completes (PUT, multipart or block
        commit), so a reader never sees a part; a stream that fails midway stores nothing.
        """
        path = self.path(key)
        with held_tempfile(tempfile.gettempdir(), SPOOL_PREFIX) as tmp:
            digest = copy_hashing(data, tmp.file)
            tmp.file.flush()
            check_digest(key, digest, meta)
            self.fs.put_file(tmp.path, path, **self.put_options(meta or FileMeta()))

    def copy(self, src_key: str, dst_key: str, meta: FileMeta | None = None) -> None:
        """A server-side copy (fsspec `cp_file`: S3 CopyObject, GCS rewrite, Azure copy blob): the bytes do not
        pass through this host, and the object appears whole. `meta` is not needed: the copy keeps the source's."""
        src = self.path(src_key)
        if self.head(src) is None:
            raise FileNotFoundError(src_key)
        self.fs.cp_file(src, self.path(dst_key))
        self.fs.invalidate_cache(self.path(dst_key))

    def sweep_temporary(self) -> int:
        """Remove the upload spools of writers that died (kill -9) from the system's temporary folder."""
        folder = tempfile.gettempdir()
        try:
            names = [n for n in os.listdir(folder) if n.startswith(SPOOL_PREFIX)]
        except OSError:
            return 0
        return sweep_abandoned(os.path.join(folder, n) for n in names)

    def put_options(self, meta: FileMeta) -> dict[str, Any]:
        """Backend-specific keyword arguments for put_file (content type)."""
        return {}

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self.path(key))
        except FileNotFoundError:
            pass

    # Downloads.

    def download_url(self, key: str, expires: int = 300) -> str | None:
        return self.sign(self.path(key), expires)

    def sign(self, path: str, expires: int) -> str | None:
        """A signed URL for path, or None when this backend or its credentials cannot sign."""
        return None


@dataclass
class HeldTemp:
    """A temporary file its writer holds an flock on; `kept` once renamed into place."""

    file: BinaryIO
    path: str
    kept: bool = False


@contextmanager
def held_tempfile(folder: str, prefix: str) -> Iterator[HeldTemp]:
    """A new temporary file, flock-ed for as long as it is open so that a sweep can tell it from one left
    by a dead writer (the kernel drops the lock with its holder); removed at the end unless `kept`."""
    for _attempt in range(5):
        fd, path = tempfile.mkstemp(dir=folder, prefix=prefix)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink:
            break
        os.close(fd)  # a sweep removed it between its creation and the lock: make another
    else:
        raise OSError(f"temporary files in {folder} keep vanishing")
    held = HeldTemp(os.fdopen(fd, "w+b"), path)
    try:
        yield held
    finally:
        try:
            if not held.kept:
                os.unlink(path)
        except FileNotFoundError:
            pass
        finally:
            held.file.close()


def sweep_abandoned(paths: Iterable[str]) -> int:
    """Remove the temporary files among `paths` whose writer is gone (nobody holds their flock)."""
    removed = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path).st_ino == os.fstat(fd).st_ino:  # still the file we locked, not a new one
                os.unlink(path)
                removed += 1
        except OSError:  # a live writer holds it, or it was renamed into place meanwhile
            pass
        finally:
            os.close(fd)
    return removed


def copy_hashing(source: BinaryIO, target: BinaryIO) -> str:
    """Copy a stream in chunks and return the sha256 of what was copied."""
    sha = hashlib.sha256()
    while chunk := source.read(COPY_CHUNK):
        sha.update(chunk)
        target.write(chunk)
    return sha.hexdigest()


def check_digest(key: str, digest: str, meta: FileMeta | None) -> None:
    """Refuse bytes whose sha256 is not the one they were announced with."""
    if meta is not None and meta.sha256 and meta.sha256 != digest:
        raise IntegrityError(f"{key}: sha256 of the bytes is {digest}, expected {meta.sha256}; nothing stored")


def iter_async(fs: fsspec.AbstractFileSystem, agen: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async generator on an async filesystem's loop, one item at a time (one page in memory)."""
    try:
        while True:
            try:
                yield fsspec.asyn.sync(fs.loop, agen.__anext__)
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            fsspec.asyn.sync(fs.loop, aclose)


def modified_of(info: dict[str, Any]) -> datetime | None:
    """The modification time in an fsspec info dict, whatever the backend calls it, as aware UTC."""
    value = (
        info.get("mtime")
        or info.get("LastModified")
        or info.get("last_modified")
        or info.get("updated")
        or info.get("created")
    )
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            return None
    return None


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (with Z or an offset) as aware UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
