"""The `file` storage plugin: packages on a local filesystem, written atomically, served by sendfile."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, BinaryIO

import fsspec

from . import FileMeta, Storage, StoredFile
from .base import FsspecStorage, HeldTemp, check_digest, copy_hashing, held_tempfile, sweep_abandoned

TEMP_PREFIX = ".tmp-"
TEMP_FOLDER = ".tmp"  # under the root: the same filesystem, so the rename into place stays atomic


class FileStorage(FsspecStorage):
    """Files under a directory, `<root>/<project>/<filename>`; the directory is created when missing.

    Partial files are written in `<root>/.tmp/` and renamed into place when complete, so the start-up sweep
    of those a dead writer left reads one folder, never the whole tree; listings skip dot-folders.
    """

    unsynced = False  # whether put_unsynced() wrote since the last sync()

    def make_filesystem(self, url: str, options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
        fs, root = fsspec.core.url_to_fs(url, **options)
        os.makedirs(root, exist_ok=True)
        return fs, root

    def put(self, key: str, data: BinaryIO, meta: FileMeta | None = None) -> None:
        self._write(key, data, meta, durable=True)

    def open(self, key: str) -> BinaryIO:
        """The file, opened with the built-in open(): fsspec's local file object adds a Python layer to every
        open, read and close (a third of a rebuild's reading time, which reads a sidecar per file and every
        bare wheel whole); FileNotFoundError when it is missing."""
        return open(self.path(key), "rb")

    read = Storage.read  # the whole file through open() above, not FsspecStorage's fsspec cat_file

    def put_unsynced(self, key: str, data: bytes, meta: FileMeta | None = None) -> None:
        """Written in the partial-file folder and renamed into place as put() does, without its fsync: sync() flushes
        them all with one syncfs."""
        self._write(key, io.BytesIO(data), meta, durable=False)
        self.unsynced = True

    def sync(self) -> None:
        """One syncfs(2) of the file system that holds the root (every write of this host to it, ours
        included), if put_unsynced() wrote since the last one; os.sync() where the C library has no syncfs."""
        if self.unsynced:
            self.unsynced = False  # before the flush: a write that returns during it is flushed by the next
            syncfs(self.root)

    def _write(self, key: str, data: BinaryIO, meta: FileMeta | None, *, durable: bool) -> None:
        path = self.path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with self.temporary() as tmp:
            digest = copy_hashing(data, tmp.file)
            tmp.file.flush()
            if durable:
                os.fsync(tmp.file.fileno())
            check_digest(key, digest, meta)
            os.chmod(tmp.path, 0o644)
            os.replace(tmp.path, path)
            tmp.kept = True

    def copy(self, src_key: str, dst_key: str, meta: FileMeta | None = None) -> None:
        """Copy beside the target, then rename into place (fsspec's local cp_file writes the target in place)."""
        with open(self.path(src_key), "rb") as stream:
            self.put(dst_key, stream, meta)

    @property
    def temp_folder(self) -> str:
        """Where partial files are written: `<root>/.tmp`."""
        return os.path.join(self.root, TEMP_FOLDER)

    def temporary(self) -> AbstractContextManager[HeldTemp]:
        """A new partial file in temp_folder (created when missing), flock-ed while its writer lives."""
        os.makedirs(self.temp_folder, exist_ok=True)
        return held_tempfile(self.temp_folder, TEMP_PREFIX)

    def sweep_temporary(self) -> int:
        """Remove the partial files of writers that died: those in temp_folder, a listing of one folder.

        Until temp_folder exists (a storage that versions before it wrote), partial files sat beside their
        targets: that one sweep walks the tree, then creates the folder, so later starts never do.
        """
        try:
            names = os.listdir(self.temp_folder)
        except FileNotFoundError:
            removed = 0
            for folder, _dirs, files in os.walk(self.root):
                removed += sweep_abandoned(os.path.join(folder, n) for n in files if n.startswith(TEMP_PREFIX))
            os.makedirs(self.temp_folder, exist_ok=True)
            return removed
        return sweep_abandoned(os.path.join(self.temp_folder, n) for n in names if n.startswith(TEMP_PREFIX))

    def list_infos(self, base: str) -> Iterator[dict[str, Any]]:
        """Every file under base, folder by folder in name order; a folder's files are stat-ed as they are
        reached, and of its subfolders only the names are held (fsspec's walk holds an info dict for every
        entry of a folder: ~0.8 KB a project at the root, 80 MB at 100,000 projects)."""
        try:
            entries = os.scandir(base)
        except (FileNotFoundError, NotADirectoryError):
            return
        files: list[str] = []
        folders: list[str] = []
        with entries:
            for entry in entries:
                if entry.is_dir():
                    if not entry.name.startswith("."):  # temp_folder: partial files are not stored files
                        folders.append(entry.name)
                else:
                    files.append(entry.name)
        for name in sorted(files):
            path = f"{base}/{name}"
            try:
                info = os.stat(path)
            except FileNotFoundError:  # removed since the folder was read
                continue
            yield {"name": path, "size": info.st_size, "mtime": info.st_mtime, "type": "file"}
        for name in sorted(folders):
            yield from self.list_infos(f"{base}/{name}")

    def iter_files(self, prefix: str = "") -> Iterator[StoredFile]:
        """list_infos() as keys, cut from the paths it builds (no fsspec path parsing per file); names that
        start with a dot are never keys (temporary files and folders), so they are passed over."""
        base = f"{self.root}/{prefix}".rstrip("/") if prefix else self.root
        cut = len(self.root) + 1
        for info in self.list_infos(base):
            key = info["name"][cut:]
            if key and not key.startswith(".") and "/." not in key:
                yield StoredFile(key, info["size"], datetime.fromtimestamp(info["mtime"], UTC))

    def local_path(self, key: str) -> str | None:
        return self.path(key)

    def describe(self) -> str:
        return f"file://{self.root}"


def syncfs(folder: str) -> None:
    """Flush the file system that holds `folder` to disk (Linux syncfs(2)); os.sync() elsewhere. OSError
    (with the errno) when the flush fails."""
    import ctypes  # here: only rebuilds sync, and the server's start-up imports this module

    call = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if call is None:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if call(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs of {folder}: {os.strerror(errno)}")
    finally:
        os.close(fd)
