"""The database as a dependency that can fail: timeouts, a lost server answered with 503, readiness, schema repair.

- PostgreSQL gets a connect timeout and a statement timeout (engine options); a connection whose server stops
  answering (no timeout of the server's can fire) is shut down by the watchdog, so a request never hangs;
  every checkout pings the connection under a short deadline (pool_pre_ping with a bound), so the pool
  recovers by itself when the server is back.
- SQLite gets WAL and a busy timeout.
- A schema that vanished (a re-created, empty database) is re-created: the migrations run again under the
  start lock, and the index is rebuilt from storage; meanwhile requests answer 503.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, request
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..extensions import db
from ..index.hosted import hosted_indexes, rebuild_indexes
from ..index.migrate import REBUILD, head_revision, start_lock, upgrade
from ..index.rebuild import Rebuilder
from ..index.service import IndexService
from ..settings import Settings
from ..sql import UNBOUNDED, counters
from .watchdog import watchdog

log = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds a client is asked to wait after a 503
GRACE = 2.0  # the server's own statement timeout fires first; the watchdog only for a server that went silent
PROBE_KEY = "flaskpypi-readyz/probe"
START_WAIT = 60.0  # seconds a starting worker waits for another's rebuild (gunicorn's timeout is 120)
EXTENSION = "flaskpypi.database"
COUNTERS = "flaskpypi.counters"  # the app's sql.Counters: what each request reads first


class Unavailable(Exception):
    """The database (or its schema) cannot serve the request now; answered 503 with Retry-After."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check
        self.message = message


def engine_options(settings: Settings) -> dict[str, Any]:
    """SQLALCHEMY_ENGINE_OPTIONS for the database URL: timeouts on every dialect."""
    timeout = settings.database_timeout
    if settings.database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": timeout}}
    options: dict[str, Any] = {"pool_timeout": timeout}
    if settings.database_url.startswith("postgresql"):
        options["connect_args"] = {
            "connect_timeout": max(2, settings.database_connect_timeout),
            "options": f"-c statement_timeout={timeout * 1000} -c lock_timeout={timeout * 1000}",
        }
    else:
        options["pool_pre_ping"] = True
    return options


def one_line(exc: BaseException) -> str:
    """The first line of a driver's message, without SQL or parameters."""
    orig = getattr(exc, "orig", None) or exc
    text_ = str(orig).strip().splitlines()
    return text_[0][:200] if text_ else orig.__class__.__name__


@dataclass
class DatabaseHealth:
    """Per-app state: the schema revision this code expects, and the schema repair when one runs."""

    app: Flask
    settings: Settings
    expected: str | None = None
    repairing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def classify(self, exc: SQLAlchemyError) -> Unavailable | None:
        """Unavailable when the error says the database is lost or its schema is missing; None: a bug."""
        if _schema_missing(exc):
            self.repair()
            return Unavailable("schema", f"The database has no flaskpypi schema; re-creating it ({one_line(exc)}).")
        if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
            return Unavailable("database", f"The database is unavailable: {one_line(exc)}")
        if getattr(exc, "connection_invalidated", False):
            return Unavailable("database", f"The database connection was lost: {one_line(exc)}")
        return None

    def checks(self) -> dict[str, dict[str, Any]]:
        """Readiness: the database answers, its schema is at the expected revision, storage answers."""
        results: dict[str, dict[str, Any]] = {}
        revision: str | None = None
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                results["database"] = {"ok": True}
                try:
                    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                except SQLAlchemyError:
                    revision = None
        except SQLAlchemyError as exc:
            results["database"] = {"ok": False, "error": one_line(exc)}
        if results["database"]["ok"]:
            schema: dict[str, Any] = {"ok": revision == self.expected and not self.repairing,
                                      "revision": revision, "expected": self.expected}  # fmt: skip
            if revision is None:
                self.repair()
                schema["error"] = "no flaskpypi schema: re-creating it"
            elif self.repairing:
                schema["error"] = "the index is being rebuilt from storage"
            elif revision != self.expected:
                schema["error"] = f"schema revision {revision}, this server expects {self.expected}"
            results["schema"] = schema
        else:
            results["schema"] = {"ok": False, "error": "the database is unavailable"}
        results["storage"] = _storage_check(self.app)
        return results

    def repair(self) -> None:
        """Re-create the schema (and rebuild the index from storage) in the background, once at a time."""
        with self._lock:
            if self.repairing:
                return
            self.repairing = True
        log.warning("The database has no flaskpypi schema: re-creating it and rebuilding the index from storage")
        threading.Thread(target=self._repair, name="flaskpypi-schema-repair", daemon=True).start()

    def _repair(self) -> None:
        try:
            with self.app.app_context():
                db.engine.dispose()  # connections of the old database (or the old schema) are stale
                prepare_database(self.app)
        except Exception:
            log.exception("Re-creating the schema failed; the next request that finds it missing tries again")
        finally:
            self.repairing = False


def _schema_missing(exc: SQLAlchemyError) -> bool:
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in ("42P01", "3F000"):  # undefined table / schema (PostgreSQL)
        return True
    return isinstance(exc, OperationalError | ProgrammingError) and "no such table" in str(orig)


def _storage_check(app: Flask) -> dict[str, Any]:
    storage = app.extensions["flaskpypi"].storage
    try:
        storage.exists(PROBE_KEY)
        local = storage.local_path(PROBE_KEY)
        if local and not os.path.isdir(os.path.dirname(os.path.dirname(local))):
            return {"ok": False, "error": f"the storage folder is missing: {storage.describe()}"}
    except Exception as exc:  # any plugin's failure means the same: storage does not answer
        return {"ok": False, "error": f"{exc.__class__.__name__}: {str(exc)[:200]}"}
    return {"ok": True}


def health(app: Flask) -> DatabaseHealth:
    """The app's database health state."""
    return app.extensions[EXTENSION]


def init_database(app: Flask, settings: Settings) -> None:
    """Install the guards on the engine, then migrate and, when the index is new, rebuild it from storage."""
    state = DatabaseHealth(app, settings)
    state.expected = head_revision()
    app.extensions[EXTENSION] = state
    app.before_request(_repair_gate)
    with app.app_context():
        _install_guards(db.engine, settings)
        app.extensions[COUNTERS] = counters(db.engine)
        prepare_database(app)


def release_connections(app: Flask) -> None:
    """Close every pooled connection of the app's engines (the gunicorn master, before it forks)."""
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def forget_connections(app: Flask) -> None:
    """In a forked process: drop the pooled connections inherited from the parent without closing them
    (they are the parent's), as SQLAlchemy advises; the pool opens this process's own."""
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


def _repair_gate() -> None:
    """While this process re-creates the schema, requests (but liveness and readiness) answer 503."""
    if health(current_app).repairing and request.blueprint != "health":
        raise Unavailable("schema", "The index is being re-created from storage; retry shortly.")


def prepare_database(app: Flask) -> None:
    """Migrate the schema, and rebuild from storage when the index is new or its rebuild was interrupted.

    Every host and worker migrates under the start lock (a PostgreSQL advisory lock across hosts); the
    rebuild runs under the rebuild lock and is decided under it, so one process rebuilds. Another waits
    up to START_WAIT seconds for it, then serves (the index fills as the rebuild goes), never exits.
    """
    runtime = app.extensions["flaskpypi"]
    settings = runtime.settings
    engine = db.engine
    with start_lock(engine, app.instance_path):
        upgrade(engine)
        swept = runtime.storage.sweep_temporary()
        if swept:
            log.warning("Removed %d temporary files left by writers that died", swept)
        Rebuilder(db.session, runtime.storage, runtime.policy).recover_dead_claims()
        db.session.remove()
    if settings.auto_reindex:
        with start_lock(engine, app.instance_path, REBUILD, wait=START_WAIT) as held:
            rebuilder = Rebuilder(db.session, runtime.storage, runtime.policy)
            if not held:
                log.warning("Another process is rebuilding the index from storage; serving meanwhile")
            elif rebuilder.is_empty() or rebuilder.interrupted():
                log.info("The index is empty or its rebuild was interrupted. Rebuilding from storage %s ...",
                         runtime.storage.describe())  # fmt: skip
                indexes = hosted_indexes(db.session, runtime.layout.stored())
                runtime.startup.rebuilt = rebuild_indexes(db.session, runtime.storage, runtime.policy, indexes)
            db.session.remove()
    serial = IndexService(db.session, runtime.storage).serial()
    db.session.remove()
    # nothing here reads the whole index: a start-up costs the same at 10 files as at a million
    if runtime.rebuilt_at_start:
        log.info("Serving %d projects, %d files from %s", *runtime.rebuilt_at_start, runtime.storage.describe())
    else:
        log.info("Serving the index at serial %d from %s", serial, runtime.storage.describe())


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            return None


def _install_guards(engine: Engine, settings: Settings) -> None:
    if engine.dialect.name == "sqlite":
        busy_ms = settings.database_timeout * 1000

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # several workers share one file
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        engine.dispose()
        return
    if engine.dialect.name != "postgresql":
        return
    _SilentServerGuard(engine, settings.database_timeout + GRACE, max(1.0, settings.database_connect_timeout / 2))


class _SilentServerGuard:
    """Bound every statement and every checkout ping by a deadline that shuts the connection's socket down."""

    def __init__(self, engine: Engine, statement_seconds: float, ping_seconds: float) -> None:
        self.statement_seconds = statement_seconds
        self.ping_seconds = ping_seconds
        event.listen(engine, "checkout", self.ping)
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)
        event.listen(engine, "handle_error", self.failed)
        event.listen(engine, "checkin", lambda _dbapi, record: record.info.pop(UNBOUNDED, None))

    def ping(self, dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        """pool_pre_ping with a deadline: a silent server makes the pool open a new connection."""
        guard = _Shutdown(dbapi_conn)
        deadline = watchdog.arm(self.ping_seconds, guard)
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as exc:
            raise DisconnectionError(f"the database did not answer a ping: {one_line(exc)}") from exc
        finally:
            guard.cancel(deadline)

    def before(self, conn: Any, _cursor: Any, _statement: Any, _params: Any, _context: Any, _many: Any) -> None:
        if conn.info.get(UNBOUNDED):  # migrations, ANALYZE: allowed to run long (flaskpypi.sql)
            return
        guard = _Shutdown(conn.connection.dbapi_connection)
        conn.info["flaskpypi.deadline"] = (guard, watchdog.arm(self.statement_seconds, guard))

    def after(self, conn: Any, *_args: Any) -> None:
        armed = conn.info.pop("flaskpypi.deadline", None)
        if armed:
            armed[0].cancel(armed[1])

    def failed(self, context: Any) -> None:
        if context.connection is not None:
            self.after(context.connection)


class _Shutdown:
    """The watchdog action: shut the connection's socket down, so the blocked call fails at once."""

    def __init__(self, dbapi_conn: Any) -> None:
        self.dbapi_conn = dbapi_conn
        self.lock = threading.Lock()
        self.done = False

    def cancel(self, deadline: Any) -> None:
        with self.lock:  # after this, the action can no longer touch the (reusable) file descriptor
            self.done = True
            deadline.cancel()

    def __call__(self) -> None:
        with self.lock:
            if self.done:
                return
            self.done = True
            try:
                fd = self.dbapi_conn.fileno()
                sock = socket.socket(fileno=os.dup(fd))
            except Exception:  # already closed
                return
            log.warning("The database did not answer in time: closing the connection")
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                sock.close()
