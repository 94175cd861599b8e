"""Schema migrations (Alembic) and rebuilds run under locks, so several workers and hosts do each once.

Alembic is imported only when a migration runs: a start on a schema already at the head reads the head from
the migration files' `revision`/`down_revision` lines and the database's `alembic_version` row, and is done
(importing Alembic costs a process about half a second and megabytes it would keep).
"""

from __future__ import annotations

import ast
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from ..sql import allow_long_statements, pg_lock

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK = 0x666C61736B  # an arbitrary, fixed advisory-lock number
START, REBUILD = "start", "rebuild"  # the start-up work (migrate, sweep, recover), a rebuild from storage


def alembic_config() -> Config:
    """Alembic's config pointing at the bundled migrations."""
    from alembic.config import Config

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


@cache
def head_revision() -> str:
    """The newest migration's id, read from the bundled files without Alembic (what Alembic's
    ScriptDirectory.get_current_head() gives for this single-branch history; a unit test compares them).

    Raises RuntimeError when the files do not form one line (a second head would need Alembic's merge).
    """
    revisions: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        found: dict[str, str | None] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                if node.targets[0].id in ("revision", "down_revision") and isinstance(node.value, ast.Constant):
                    found[node.targets[0].id] = node.value.value
        if found.get("revision"):
            revisions[str(found["revision"])] = found.get("down_revision")
    heads = set(revisions) - {down for down in revisions.values() if down}
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def current_revision(conn: Connection) -> str | None:
    """The schema's revision (`alembic_version`), or None when the database has none yet."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; on PostgreSQL an advisory lock covers other hosts too.
    A schema already at the head costs one SELECT (Alembic is not imported)."""
    with engine.begin() as conn:
        allow_long_statements(conn)  # a migration may wait for another host's, and rewrite big tables
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_LOCK})"))
        if revision == "head" and current_revision(conn) == head_revision():
            return
        from alembic import command

        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a migration from the models (developers' command)."""
    from alembic import command

    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
