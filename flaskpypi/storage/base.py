"""FsspecStorage: the Storage contract over any fsspec filesystem; plugins add configuration and signing."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

import fsspec

from ..core.names import validate_key
from . import FileMeta, Storage, StoredFile


class FsspecStorage(Storage):
    """A storage whose bytes an fsspec filesystem moves; `url_to_fs` turns the URL into that filesystem."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.fs, root = self.make_filesystem(url, options)
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

    def iter_files(self, prefix: str = "") -> Iterator[StoredFile]:
        base = f"{self.root}/{prefix}".rstrip("/") if prefix else self.root
        if not self.fs.exists(base):
            return
        for dirpath, _dirs, files in self.fs.walk(base, detail=True):
            for name, info in sorted(files.items()):
                if info.get("type", "file") != "file":
                    continue
                path = info.get("name") or f"{dirpath}/{name}"
                yield StoredFile(self.key_of(path), info.get("size"), _modified(info))

    def open(self, key: str) -> BinaryIO:
        return self.fs.open(self.path(key), "rb")

    def put(self, key: str, data: BinaryIO, meta: FileMeta | None = None) -> None:
        path = self.path(key)
        with tempfile.NamedTemporaryFile(prefix="flaskpypi-") as tmp:
            shutil.copyfileobj(data, tmp)
            tmp.flush()
            self.fs.put_file(tmp.name, path)

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self.path(key))
        except FileNotFoundError:
            pass

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))


def _modified(info: dict[str, Any]) -> datetime | None:
    value = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("updated")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None
