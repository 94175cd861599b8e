"""Upload claims: who is writing a filename right now, and whether that writer is still alive.

A claim is a `pending` files row (the database's note that storage keys may be half-written) plus a
lock the writer holds for as long as it writes:

- PostgreSQL: a transaction-level advisory lock on a connection of its own (every host sees it);
- SQLite: an fcntl byte-range lock in a file beside the database (one host, as SQLite itself), with a
  registry for the threads of one process, since fcntl locks belong to processes;
- anything else (in-memory SQLite): the in-process registry alone.

The database server or the kernel drops the lock when its holder dies (kill -9 included), so a pending
row whose lock can be taken has no live writer and may be recovered at once: no lease to wait out, and
no admin.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from ..core.errors import Conflict
from ..core.names import DEFAULT_INDEX

_OFFSETS = 2**62  # fcntl lock offsets are 64-bit: collisions between filenames are negligible
_registry_lock = threading.Lock()
_held: set[tuple[str, str]] = set()  # (lock domain, filename) held by a thread of this process
_fds: dict[str, int] = {}  # lock file path -> descriptor, opened once per process
_owner_pid = os.getpid()


def _key(filename: str) -> int:
    """A signed 64-bit number for the filename (PostgreSQL's advisory-lock key, the fcntl offset)."""
    return int.from_bytes(hashlib.blake2b(filename.encode(), digest_size=8).digest(), "big", signed=True)


def _reset_after_fork() -> None:
    """A forked child inherits neither fcntl locks nor threads: forget the parent's registry."""
    global _owner_pid
    if os.getpid() != _owner_pid:
        _held.clear()
        _fds.clear()
        _owner_pid = os.getpid()


class ClaimLock:
    """The lock of one filename; `try_acquire` never blocks, `release` is idempotent."""

    def __init__(self, domain: str, filename: str) -> None:
        self.domain = domain
        self.filename = filename
        self.held = False

    def try_acquire(self) -> bool:
        """Take the lock if no live writer (thread, process or host) holds it."""
        entry = (self.domain, self.filename)
        with _registry_lock:
            _reset_after_fork()
            if entry in _held:
                return False
            _held.add(entry)  # reserved: no other thread here touches this filename's shared lock now
        try:
            taken = self._acquire_shared()
        except BaseException:
            taken = False
            raise
        finally:
            if not taken:
                with _registry_lock:
                    _held.discard(entry)
        self.held = taken
        return taken

    def release(self) -> None:
        """Let the next writer (or a recovery) have the filename."""
        if not self.held:
            return
        self.held = False
        try:
            self._release_shared()
        finally:
            with _registry_lock:
                _held.discard((self.domain, self.filename))

    def _acquire_shared(self) -> bool:
        return True

    def _release_shared(self) -> None:
        pass


class FileClaimLock(ClaimLock):
    """One byte of a lock file beside the SQLite database, at an offset derived from the filename."""

    def __init__(self, path: str, filename: str) -> None:
        super().__init__(path, filename)
        self.offset = _key(filename) % _OFFSETS

    def _fd(self) -> int:
        fd = _fds.get(self.domain)
        if fd is None:
            fd = os.open(self.domain, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            _fds[self.domain] = fd
        return fd

    def _acquire_shared(self) -> bool:
        try:
            fcntl.lockf(self._fd(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, self.offset, os.SEEK_SET)
        except (BlockingIOError, PermissionError):
            return False
        return True

    def _release_shared(self) -> None:
        fcntl.lockf(self._fd(), fcntl.LOCK_UN, 1, self.offset, os.SEEK_SET)


class PgClaimLock(ClaimLock):
    """pg_try_advisory_xact_lock on a connection of its own, held open (idle in transaction) while writing."""

    def __init__(self, engine: Engine, filename: str) -> None:
        super().__init__(f"pg:{id(engine)}", filename)
        self.engine = engine
        self.conn: Connection | None = None

    def _acquire_shared(self) -> bool:
        conn = self.engine.connect()
        try:
            taken = conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _key(self.filename)}).scalar()
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.rollback()
            conn.close()
            return False
        self.conn = conn
        return True

    def _release_shared(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.rollback()  # ends the transaction, which frees the lock
        finally:
            conn.close()


def claim_lock(session: Session, filename: str, index: str = DEFAULT_INDEX) -> ClaimLock:
    """The lock that guards writes of `filename` in a hosted index for the database this session uses (the
    built-in index's locks are the filename's alone, as before there were several)."""
    if index != DEFAULT_INDEX:
        filename = f"{index}/{filename}"
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    dialect = engine.dialect.name
    if dialect == "postgresql":
        return PgClaimLock(engine, filename)
    database = engine.url.database
    if dialect == "sqlite" and database and database != ":memory:" and not database.startswith("file::memory:"):
        return FileClaimLock(os.path.abspath(database) + ".claims", filename)
    return ClaimLock(f"process:{id(engine)}", filename)


@contextmanager
def holding(lock: ClaimLock, wait: float) -> Iterator[None]:
    """Hold the lock, polling for up to `wait` seconds while a live writer has it; Conflict (409) after that."""
    deadline = time.monotonic() + wait
    delay = 0.01
    while not lock.try_acquire():
        left = deadline - time.monotonic()
        if left <= 0:
            raise Conflict(
                f"Another upload of {lock.filename!r} is in progress and did not finish within {wait:g} s; "
                "retry in a moment."
            )
        time.sleep(min(delay, left))
        delay = min(delay * 2, 0.2)
    try:
        yield
    finally:
        lock.release()
