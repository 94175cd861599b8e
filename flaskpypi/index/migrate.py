"""Schema migrations (Alembic) and rebuilds run under locks, so several workers and hosts do each once."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from ..sql import allow_long_statements, pg_lock

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK = 0x666C61736B  # an arbitrary, fixed advisory-lock number
START, REBUILD = "start", "rebuild"  # the start-up work (migrate, sweep, recover), a rebuild from storage


def alembic_config() -> Config:
    """Alembic's config pointing at the bundled migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@contextmanager
def start_lock(engine: Engine, lock_dir: str, purpose: str = START, wait: float | None = None) -> Iterator[bool]:
    """Serialise start-up work or rebuilds among every process that shares the database; yields whether
    the lock is held (False once `wait` seconds ran out: another process is still at it).

    PostgreSQL: an advisory lock, polled, so every host sees it and no statement timeout cuts the wait.
    SQLite (one host): a file lock in the instance folder.
    """
    if engine.dialect.name == "postgresql":
        with pg_lock(engine, f"flaskpypi:{purpose}", wait) as held:
            yield held
        return
    os.makedirs(lock_dir, exist_ok=True)
    name = ".flaskpypi-start.lock" if purpose == START else f".flaskpypi-{purpose}.lock"
    with open(os.path.join(lock_dir, name), "w") as handle:
        held = _flock(handle.fileno(), wait)
        try:
            yield held
        finally:
            if held:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _flock(fd: int, wait: float | None) -> bool:
    if wait is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; on PostgreSQL an advisory lock covers other hosts too."""
    with engine.begin() as conn:
        allow_long_statements(conn)  # a migration may wait for another host's, and rewrite big tables
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_LOCK})"))
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the models (developers' command)."""
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
