"""The `file` storage plugin: packages on a local filesystem, written atomically, served by sendfile."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

import fsspec

from . import FileMeta, StoredFile
from .base import FsspecStorage, check_digest, copy_hashing


class FileStorage(FsspecStorage):
    """Files under a directory, `<root>/<project>/<filename>`; the directory is created when missing."""

    def make_filesystem(self, url: str, options: dict[str, Any]) -> tuple[fsspec.AbstractFileSystem, str]:
        fs, root = fsspec.core.url_to_fs(url, **options)
        os.makedirs(root, exist_ok=True)
        return fs, root

    def put(self, key: str, data: BinaryIO, meta: FileMeta | None = None) -> None:
        path = self.path(key)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                digest = copy_hashing(data, out)
                out.flush()
                os.fsync(out.fileno())
            check_digest(key, digest, meta)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def iter_files(self, prefix: str = "") -> Iterator[StoredFile]:
        for stored in super().iter_files(prefix):
            if not os.path.basename(stored.key).startswith(".tmp-"):
                yield stored

    def local_path(self, key: str) -> str | None:
        return self.path(key)

    def describe(self) -> str:
        return f"file://{self.root}"
