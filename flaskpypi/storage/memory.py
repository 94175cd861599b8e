"""The `memory` storage plugin: fsspec's in-process memory filesystem, for tests and throwaway servers."""

from __future__ import annotations

from .base import FsspecStorage


class MemoryStorage(FsspecStorage):
    """Files in this process's memory (`memory://name`); gone when the process ends."""
