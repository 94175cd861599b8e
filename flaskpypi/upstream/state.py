"""State shared by the workers of one host, kept in the instance folder: pages, health, fetch locks.

Why the instance folder: the workers of a host share it and read it in microseconds (a page is read on
every project request), it needs no schema, and losing it costs only refetches: the files themselves
are in storage and the database. Several hosts each keep their own copy and revalidate with ETags.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import UpstreamError
from ..core.names import canonical
from .pages import UpstreamPage

log = logging.getLogger(__name__)
LOCK_SLOTS = 256


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class PageStore:
    """Upstream project pages as JSON files, with a per-process memo keyed by the file's mtime."""

    def __init__(self, folder: Path, memo_size: int = 512) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._memo: OrderedDict[str, tuple[int, UpstreamPage]] = OrderedDict()
        self._memo_size = memo_size
        self._lock = threading.Lock()

    def _path(self, name: str) -> Path:
        return self.folder / f"{canonical(name)}.json"

    def read(self, name: str) -> UpstreamPage | None:
        """The page last kept for a project, or None."""
        path = self._path(name)
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        with self._lock:
            memo = self._memo.get(path.name)
            if memo and memo[0] == stamp:
                self._memo.move_to_end(path.name)
                return memo[1]
        try:
            page = UpstreamPage.from_json(path.read_bytes())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("Ignoring unreadable upstream page %s: %s", path, exc)
            return None
        with self._lock:
            self._memo[path.name] = (stamp, page)
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return page

    def write(self, page: UpstreamPage) -> UpstreamPage:
        """Keep a page (atomically); returns it with its digest."""
        atomic_write(self._path(page.name), page.to_json())
        return UpstreamPage.from_json(page.to_json())

    def delete(self, name: str) -> None:
        """Forget a project's page."""
        self._path(name).unlink(missing_ok=True)


class Health:
    """Whether the upstream is failing, shared by the workers: a marker file whose creation is logged
    once, whose age spaces out retries, and whose removal says the upstream is back."""

    def __init__(self, folder: Path, retry: int, describe: str) -> None:
        self.marker = folder / "failing"
        self.retry = retry
        self.describe = describe
        folder.mkdir(parents=True, exist_ok=True)

    def failing(self) -> bool:
        """True while a failure is recorded."""
        return self.marker.exists()

    def should_try(self) -> bool:
        """False while a recent failure stands; after `retry` seconds one caller probes the upstream."""
        try:
            age = time.time() - self.marker.stat().st_mtime
        except FileNotFoundError:
            return True
        if age < self.retry:
            return False
        os.utime(self.marker)  # this caller probes; the others keep serving what is cached
        return True

    def failed(self, reason: str) -> None:
        """Record a failure; only the first one (across workers) is logged."""
        try:
            fd = os.open(self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            os.utime(self.marker)
            return
        with os.fdopen(fd, "w") as out:
            out.write(reason + "\n")
        log.warning("Upstream %s is failing (%s): serving cached pages and files until it answers again",
                    self.describe, reason)  # fmt: skip

    def ok(self) -> None:
        """Clear a recorded failure, saying so once."""
        try:
            self.marker.unlink()
        except FileNotFoundError:
            return
        log.info("Upstream %s answers again", self.describe)


class FetchLocks:
    """File locks that let one worker (of any process on the host) fetch a given file at a time.

    A fixed set of slots keeps the folder small; two files that share a slot merely wait for each other.
    """

    def __init__(self, folder: Path, wait: float) -> None:
        self.folder = folder
        self.wait = wait
        folder.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def hold(self, key: str) -> Iterator[bool]:
        """Hold the lock for key; yields whether someone else held it first (so the work may be done)."""
        slot = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % LOCK_SLOTS
        fd = os.open(self.folder / f"{slot:03d}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            waited = self._acquire(fd, key)
            try:
                yield waited
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _acquire(self, fd: int, key: str) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            pass
        deadline = time.monotonic() + self.wait
        while time.monotonic() < deadline:
            time.sleep(0.02)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                continue
        raise UpstreamError(f"{key.rsplit('/', 1)[-1]} is still being fetched from upstream; try again shortly.")
