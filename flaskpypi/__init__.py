"""flaskpypi: a private Python package index on Flask. create_app: settings -> plugins -> db -> blueprints -> cli."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from sqlalchemy.orm import configure_mappers
from werkzeug.middleware.proxy_fix import ProxyFix

from .extensions import csrf, db, login_manager
from .runtime import build_runtime
from .settings import INSTANCE_ENV, Settings, load_settings

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
    from .web.session import session_principal

    app.extensions["flaskpypi"] = build_runtime(
        settings, app.instance_path, session=lambda: db.session, engine=lambda: db.engine,
        session_principal=session_principal,
    )  # fmt: skip
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
    from .web.database import init_database

    register_commands(app)
    init_database(app, settings)
    log.info("Config: %s", config_file or "built-in defaults and environment")
    if settings.auth_backend == "config" and not (settings.admin_user or settings.users):
        log.warning(
            "No user is configured, so nobody can upload: run `flaskpypi make-config`, "
            "or set FLASKPYPI_ADMIN_USER and FLASKPYPI_ADMIN_PASSWORD"
        )
    return app


def import_modules() -> None:
    """Import the modules create_app and the request handlers use, without building anything (no settings
    read, no connection, no thread). gunicorn's master calls it before forking the workers (serving.py), so
    they share these pages instead of each importing its own copy (memory) and start with only create_app
    to do (start time). What only some requests need (readme-renderer, Alembic, requests and pypi-simple)
    stays out: a worker imports it when it is first used."""
    from . import cli  # noqa: F401
    from .web import (  # noqa: F401
        access,
        api,
        database,
        errors,
        fallback,
        files,
        guard,
        health,
        indexes,
        metrics,
        security,
        session,
        simple,
        ui,
    )

    configure_mappers()


def _configure_logging(settings: Settings) -> None:
    root = logging.getLogger("flaskpypi")
    root.setLevel(settings.log_level)
    if not root.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(log_formatter(settings.log_format))
        root.addHandler(handler)


def log_formatter(log_format: str) -> logging.Formatter:
    """Text lines, or with "json" one JSON object a line (python-json-logger) with the record's extras as fields."""
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"})
    return logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s")


def _configure_flask(app: Flask, settings: Settings) -> None:
    from .web.database import engine_options

    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings),
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


def _register_web(app: Flask) -> None:
    from .web import api, fallback, files, guard, health, indexes, promote, simple, ui
    from .web.access import init_access
    from .web.errors import register_error_handlers
    from .web.metrics import init_metrics
    from .web.security import init_security

    guard.install(app)
    for module in (health, simple, files, api, ui, fallback, indexes, promote):
        app.register_blueprint(module.bp)
    csrf.exempt(fallback.bp)
    csrf.exempt(indexes.bp)
    csrf.exempt(api.bp)
    csrf.exempt(promote.bp)  # context.principal() checks the CSRF token when a session cookie authenticates
    csrf.exempt(simple.bp)
    csrf.exempt(files.bp)
    csrf.exempt(health.bp)
    init_access(app)
    init_metrics(app)
    init_security(app, app.extensions["flaskpypi"].settings)
    register_error_handlers(app)
