"""flaskpypi: a private Python package index on Flask. create_app: settings -> plugins -> db -> blueprints -> cli."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from .auth import load_auth
from .auth.policy import AccessPolicy
from .extensions import csrf, db, login_manager
from .index.migrate import start_lock, upgrade
from .index.rebuild import Rebuilder
from .index.service import IndexService, Policy
from .settings import INSTANCE_ENV, Settings, load_settings
from .storage import load_storage
from .web.context import Runtime

__version__ = "0.1.0"
log = logging.getLogger("flaskpypi")
FORM_OVERHEAD = 16 * 1024 * 1024  # room for the text fields (long descriptions) beside the file


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app from settings (defaults, config file, FLASKPYPI_* env, then test_config)."""
    app = Flask(__name__, instance_path=os.environ.get(INSTANCE_ENV) or None, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    settings, config_file = load_settings(app.instance_path, test_config)
    _configure_logging(settings)
    _configure_flask(app, settings)
    app.extensions["flaskpypi"] = _runtime(settings)
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    if settings.proxy_fix:
        app.wsgi_app = ProxyFix(
            app.wsgi_app,
            x_for=settings.proxy_fix,
            x_proto=settings.proxy_fix,  # type: ignore[method-assign]
            x_host=settings.proxy_fix,
            x_prefix=settings.proxy_fix,
        )
    _register_web(app)
    from .cli import register_commands

    register_commands(app)
    with app.app_context():
        _sqlite_pragmas()
        _prepare_database(app, settings)
    log.info("Config: %s", config_file or "built-in defaults and environment")
    if settings.auth_backend == "config" and not (settings.admin_user or settings.users):
        log.warning(
            "No user is configured, so nobody can upload: run `flaskpypi make-config`, "
            "or set FLASKPYPI_ADMIN_USER and FLASKPYPI_ADMIN_PASSWORD"
        )
    return app


def _configure_logging(settings: Settings) -> None:
    root = logging.getLogger("flaskpypi")
    root.setLevel(settings.log_level)
    if not root.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
        root.addHandler(handler)


def _configure_flask(app: Flask, settings: Settings) -> None:
    sqlite = settings.database_url.startswith("sqlite")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 30}} if sqlite else {"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=settings.max_upload_size + FORM_OVERHEAD,
        MAX_FORM_MEMORY_SIZE=FORM_OVERHEAD,
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        USE_X_SENDFILE=settings.x_sendfile == "apache",
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]


def _runtime(settings: Settings) -> Runtime:
    storage = load_storage(settings.storage_url, settings.storage_options)
    backend = load_auth(settings.auth_backend, settings, settings.auth_options)
    access = AccessPolicy(backend, settings.default_read, settings.default_write, settings.cache_update)
    policy = Policy(settings.allow_overwrite, settings.allow_delete, settings.max_upload_size, settings.upload_wait)
    return Runtime(settings, storage, access, policy)


def _register_web(app: Flask) -> None:
    from .web import api, fallback, files, simple, ui
    from .web.access import init_access
    from .web.errors import register_error_handlers
    from .web.session import session_principal

    app.extensions["flaskpypi"].session_principal = session_principal

    for module in (simple, files, api, ui, fallback):
        app.register_blueprint(module.bp)
    csrf.exempt(fallback.bp)
    csrf.exempt(api.bp)
    csrf.exempt(simple.bp)
    csrf.exempt(files.bp)
    init_access(app)
    register_error_handlers(app)


def _sqlite_pragmas() -> None:
    """WAL and a busy timeout let several workers share one SQLite file."""
    engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    engine.dispose()


def _prepare_database(app: Flask, settings: Settings) -> None:
    """Migrate the schema, and rebuild from storage when the database is new; then say what is served."""
    runtime: Runtime = app.extensions["flaskpypi"]
    with start_lock(app.instance_path):
        upgrade(db.engine)
        swept = runtime.storage.sweep_temporary()
        if swept:
            log.warning("Removed %d temporary files left by writers that died", swept)
        rebuilder = Rebuilder(db.session, runtime.storage, runtime.policy)
        rebuilder.recover_dead_claims()
        if settings.auto_reindex and (rebuilder.is_empty() or rebuilder.interrupted()):
            log.info("The index is empty or its rebuild was interrupted. Rebuilding from storage %s ...",
                     runtime.storage.describe())  # fmt: skip
            runtime.rebuilt_at_start = rebuilder.rebuild()
        projects, files = IndexService(db.session, runtime.storage).counts()
        db.session.remove()
    log.info("Serving %d projects, %d files from %s", projects, files, runtime.storage.describe())
