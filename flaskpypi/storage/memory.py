"""The `memory` storage plugin: fsspec's in-process memory filesystem, for tests and throwaway servers."""

from __future__ import annotations

import io
from typing import BinaryIO

from fsspec.implementations.memory import MemoryFile

from . import FileMeta
from .base import FsspecStorage, check_digest, copy_hashing


class MemoryStorage(FsspecStorage):
    """Files in this process's memory (`memory://name`); gone when the process ends."""

    def open(self, key: str) -> BinaryIO:
        # fsspec hands out the stored buffer itself; a copy keeps readers from moving each other's position.
        return io.BytesIO(self.fs.cat_file(self.path(key)))

    def put(self, key: str, data: BinaryIO, meta: FileMeta | None = None) -> None:
        # fsspec's memory files are visible from the moment they are opened for writing: build the
        # whole object first, then publish it with one dict assignment.
        path = self.fs._strip_protocol(self.path(key))
        buffer = io.BytesIO()
        check_digest(key, copy_hashing(data, buffer), meta)
        self.fs.store[path] = MemoryFile(self.fs, path, buffer.getvalue())
        self.fs.invalidate_cache(self.fs._parent(path))
