"""One hosted index's part of the storage: its keys under the index's prefix (core.names.index_prefix).

The built-in `default` index is the storage itself (today's `<project>/<filename>` keys); any other hosted
index reads and writes `_indexes/<index>/<project>/<filename>`, so the index service, the upload pipeline
and the rebuild keep speaking `<project>/<filename>` whatever index they serve.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from ..core.names import DEFAULT_INDEX, index_prefix
from . import FileMeta, Storage, StoredFile


class IndexStorage(Storage):
    """The keys of one hosted index, as a Storage whose keys are `<project>/<filename>`."""

    def __init__(self, inner: Storage, index: str) -> None:
        super().__init__(inner.url, **inner.options)
        self.inner = inner
        self.index = index
        self.prefix = index_prefix(index)

    def iter_files(self, prefix: str = "") -> Iterator[StoredFile]:
        cut = len(self.prefix)
        for stored in self.inner.iter_files(self.prefix + prefix):
            if stored.key.startswith(self.prefix):
                yield StoredFile(stored.key[cut:], stored.size, stored.modified)

    def open(self, key: str) -> BinaryIO:
        return self.inner.open(self.prefix + key)

    def put(self, key: str, data: BinaryIO, meta: FileMeta | None = None) -> None:
        self.inner.put(self.prefix + key, data, meta)

    def delete(self, key: str) -> None:
        self.inner.delete(self.prefix + key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(self.prefix + key)

    def stat(self, key: str) -> StoredFile | None:
        found = self.inner.stat(self.prefix + key)
        return None if found is None else StoredFile(key, found.size, found.modified)

    def download_url(self, key: str, expires: int = 300) -> str | None:
        return self.inner.download_url(self.prefix + key, expires)

    def local_path(self, key: str) -> str | None:
        return self.inner.local_path(self.prefix + key)

    def read(self, key: str) -> bytes:
        return self.inner.read(self.prefix + key)

    def put_bytes(self, key: str, data: bytes, meta: FileMeta | None = None) -> None:
        self.inner.put_bytes(self.prefix + key, data, meta)

    def put_unsynced(self, key: str, data: bytes, meta: FileMeta | None = None) -> None:
        self.inner.put_unsynced(self.prefix + key, data, meta)

    def sync(self) -> None:
        self.inner.sync()

    def copy(self, src_key: str, dst_key: str, meta: FileMeta | None = None) -> None:
        self.inner.copy(self.prefix + src_key, self.prefix + dst_key, meta)

    def sweep_temporary(self) -> int:
        return self.inner.sweep_temporary()

    def describe(self) -> str:
        return self.inner.describe() + (f" ({self.prefix.rstrip('/')})" if self.prefix else "")


def index_storage(storage: Storage, index: str = DEFAULT_INDEX) -> Storage:
    """The storage of a hosted index: the storage itself for `default`, else its `_indexes/<index>/` part."""
    if isinstance(storage, IndexStorage):
        storage = storage.inner
    return storage if index_prefix(index) == "" else IndexStorage(storage, index)
