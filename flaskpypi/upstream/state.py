"""Upstream state every worker and host shares: pages and health in the storage, fetch locks in PostgreSQL.

Pages and the health marker are small JSON objects under `_upstream/` in the package storage (no project
can be named so), so every host lists the same upstream versions and spaces out retries alike; each
process keeps a memo of a page until its TTL runs out, so a page costs one storage read per TTL. Fetch
locks are PostgreSQL advisory locks when the database is PostgreSQL (once per file across hosts), else
file locks in the instance folder (one host, as SQLite itself).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from ..core.errors import UpstreamError
from ..core.names import canonical
from ..sql import PgLock
from ..storage import FileMeta, Storage
from .pages import UpstreamPage

log = logging.getLogger(__name__)
LOCK_SLOTS = 256
STATE_PREFIX = "_upstream"  # storage keys of shared state; project folders are canonical names, never "_..."
JSON_META = FileMeta(content_type="application/json")
HEALTH_MEMO = 1.0  # seconds a process trusts its last read of the shared health marker


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
    """Upstream project pages in the shared storage, with a per-process memo used while a page is fresh."""

    def __init__(self, storage: Storage, ttl: float, memo_size: int = 512, prefix: str = STATE_PREFIX) -> None:
        self.storage = storage
        self.ttl = ttl
        self.prefix = prefix  # each upstream index keeps its pages under its own prefix
        self._memo: OrderedDict[str, UpstreamPage] = OrderedDict()
        self._memo_size = memo_size
        self._lock = threading.Lock()

    def key(self, name: str) -> str:
        """The storage key of a project's page."""
        return f"{self.prefix}/page-{canonical(name)}.json"

    def read(self, name: str) -> UpstreamPage | None:
        """The page last kept for a project by any host, or None: from the memo while it is fresh."""
        key = self.key(name)
        with self._lock:
            memo = self._memo.get(key)
            if memo is not None and time.time() - memo.checked < self.ttl:
                self._memo.move_to_end(key)
                return memo
        try:
            page = UpstreamPage.from_json(self.storage.read(key))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("Ignoring unreadable upstream page %s: %s", key, exc)
            return None
        self._remember(key, page)
        return page

    def write(self, page: UpstreamPage) -> UpstreamPage:
        """Keep a page for every host (one object, replaced whole); returns it with its digest."""
        data = page.to_json()
        self.storage.put_bytes(self.key(page.name), data, JSON_META)
        kept = UpstreamPage.from_json(data)
        self._remember(self.key(page.name), kept)
        return kept

    def delete(self, name: str) -> None:
        """Forget a project's page."""
        with self._lock:
            self._memo.pop(self.key(name), None)
        self.storage.delete(self.key(name))

    def _remember(self, key: str, page: UpstreamPage) -> None:
        with self._lock:
            self._memo[key] = page
            self._memo.move_to_end(key)
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)


class Health:
    """Whether the upstream is failing, shared by every host: a marker object in the storage whose
    creation is logged once, whose `tried` time spaces out retries, and whose removal says it is back."""

    def __init__(self, storage: Storage, retry: int, describe: Callable[[], str], prefix: str = STATE_PREFIX) -> None:
        """`describe` names the upstream for logs (called only when one is written); `prefix` is the storage
        folder of this upstream's state."""
        self.key = f"{prefix}/health.json"
        self.storage = storage
        self.retry = retry
        self.describe = describe
        self._memo: tuple[float, dict | None] = (0.0, None)  # (read at, marker)

    def _marker(self, fresh: bool = False) -> dict | None:
        read_at, marker = self._memo
        if not fresh and time.monotonic() - read_at < HEALTH_MEMO:
            return marker
        try:
            marker = json.loads(self.storage.read(self.key))
        except FileNotFoundError:
            marker = None
        except (OSError, ValueError) as exc:
            log.warning("Ignoring an unreadable upstream health marker: %s", exc)
            marker = None
        self._memo = (time.monotonic(), marker)
        return marker

    def _write(self, marker: dict) -> None:
        self.storage.put_bytes(self.key, json.dumps(marker).encode(), JSON_META)
        self._memo = (time.monotonic(), marker)

    def failing(self) -> bool:
        """True while a failure is recorded."""
        return self._marker() is not None

    def should_try(self) -> bool:
        """False while a recent failure stands; after `retry` seconds one caller probes the upstream."""
        marker = self._marker()
        if marker is None:
            return True
        if time.time() - float(marker.get("tried", 0)) < self.retry:
            return False
        self._write({**marker, "tried": time.time()})  # this caller probes; the others serve what is cached
        return True

    def failed(self, reason: str) -> None:
        """Record a failure; only the first one (across hosts, give or take a race) is logged."""
        marker = self._marker(fresh=True)
        now = time.time()
        self._write({"since": marker.get("since", now) if marker else now, "tried": now, "reason": reason})
        if marker is None:
            log.warning("Upstream %s is failing (%s): serving cached pages and files until it answers again",
                        self.describe(), reason)  # fmt: skip

    def ok(self) -> None:
        """Clear a recorded failure, saying so once."""
        if self._marker() is None:
            return
        self.storage.delete(self.key)
        self._memo = (time.monotonic(), None)
        log.info("Upstream %s answers again", self.describe())


class FetchLocks:
    """File locks that let one worker (of any process on the host) fetch a given file at a time (SQLite).

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


class PgFetchLocks:
    """PostgreSQL advisory locks that let one worker of any host fetch a given file at a time."""

    def __init__(self, engine: Callable[[], Engine], wait: float) -> None:
        """`engine` gives the database's engine when a lock is needed (the app's engine exists after the factory)."""
        self.engine = engine
        self.wait = wait

    @contextmanager
    def hold(self, key: str) -> Iterator[bool]:
        """Hold the lock for key; yields whether someone else held it first (so the work may be done)."""
        lock = PgLock(self.engine(), f"flaskpypi:fetch:{key}")
        waited = not lock.try_acquire()
        if waited and not lock.acquire(self.wait, poll=0.05):
            raise UpstreamError(f"{key.rsplit('/', 1)[-1]} is still being fetched from upstream; try again shortly.")
        try:
            yield waited
        finally:
            lock.release()
