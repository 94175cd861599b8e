"""The production server's gunicorn options, shared by `flaskpypi serve`, flaskpypi.gunicorn_conf and the
checkout's gunicorn.conf.py: one set of defaults, with the bind address and worker count from the settings."""

from __future__ import annotations

import gc
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from .settings import INSTANCE_ENV, Settings, SettingsError, load_settings

DEFAULT_WORKERS = 2
GUNICORN_DEFAULTS: dict[str, Any] = {
    # gthread (threads keep connections alive: pip and uv reuse them for every page and file), with new
    # connections waiting in the poller rather than in a thread, and spread over the workers (worker.py)
    "worker_class": "flaskpypi.worker.Worker",
    # seconds an idle connection is kept: it costs no thread, and a client pausing between requests (pip while
    # it builds, uv while it resolves) finds its connection open instead of racing the server's close
    "keepalive": 60,
    "timeout": 120,  # seconds a worker may go silent: large uploads and upstream fetches take a while
    "graceful_timeout": 10,  # seconds running requests get to finish on a stop (a container engine's default)
}
# A gthread worker reads a request body lazily, when the app reads it (request.files): the app answers 401/403
# from the headers first and bounds the read by body_timeout/body_min_rate (settings). In production a buffering
# reverse proxy in front receives slow bodies instead of these threads (README, Production).


def instance_path() -> str:
    """The instance folder create_app uses: $FLASKPYPI_INSTANCE_PATH, else Flask's default for the package."""
    return Flask("flaskpypi", instance_path=os.environ.get(INSTANCE_ENV) or None).instance_path


def serving_settings() -> Settings:
    """The settings as create_app reads them (file, then FLASKPYPI_* variables); SettingsError names a bad one."""
    return load_settings(instance_path())[0]


def gunicorn_options(settings: Settings, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """gunicorn settings: the defaults above, `bind` and `threads` from the settings, and `workers` from the
    settings, else $WEB_CONCURRENCY (as Heroku and gunicorn itself read it), else 2."""
    workers = settings.workers
    if not workers:
        text = environ.get("WEB_CONCURRENCY", "").strip()
        try:
            workers = int(text) if text else DEFAULT_WORKERS
        except ValueError:
            raise SettingsError(f"Malformed environment variable WEB_CONCURRENCY: expected a number (got {text!r})")
        if workers < 1:
            raise SettingsError(f"Malformed environment variable WEB_CONCURRENCY: expected at least 1 (got {text!r})")
    return {**GUNICORN_DEFAULTS, "bind": list(settings.bind), "workers": workers, "threads": settings.threads,
            "on_starting": on_starting, "when_ready": when_ready, "on_reload": on_reload, "post_fork": post_fork,
            "child_exit": child_exit}  # fmt: skip


METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def on_starting(_server: Any) -> None:
    """gunicorn master hook, first of all: a fresh folder for the workers' metrics (prometheus-client's
    multiprocess mode), set before prometheus-client is first imported, which reads it then."""
    folder = os.environ.get(METRICS_DIR_ENV) or tempfile.mkdtemp(prefix="flaskpypi-metrics-")
    os.makedirs(folder, exist_ok=True)
    for stale in Path(folder).glob("*.db"):
        stale.unlink()
    os.environ[METRICS_DIR_ENV] = folder


def when_ready(server: Any) -> None:
    """gunicorn master hook, listening and before any worker: the app is built here, once.

    Its start-up work (schema check, sweep of partial files, claim recovery, a rebuild of an empty index)
    runs once, in the master, and the workers are forked with the app built: each starts serving at once,
    and their pages of code and of the app's objects stay shared (frozen out of the garbage collector's
    reach, gc.freeze's purpose) instead of being copied into every worker. The master then holds no database
    connection; a worker whose storage cannot cross a fork builds its own app (post_fork).
    """
    from . import import_modules

    import_modules()  # what only requests use, too: the workers share it rather than each importing it
    _settle(server.app.wsgi())


def on_reload(server: Any) -> None:
    """gunicorn master hook on SIGHUP, before the new workers are forked: they get an app built from the
    settings as they are now. If that build fails the error is logged and they get the previous app."""
    from . import create_app

    previous = server.app.callable
    if not _is_flaskpypi(previous):
        return
    gc.unfreeze()
    try:
        app = create_app()
    except Exception:
        server.log.exception("Rebuilding the app on reload failed; the new workers serve the previous one")
        app = previous
    else:
        server.app.callable = app
    _settle(app)


def post_fork(_server: Any, worker: Any) -> None:
    """gunicorn worker hook, first thing in a new worker: it drops the database connections it inherited
    (without closing them: they are the master's), and builds its own app when the master's storage cannot
    cross a fork (fsspec's async filesystems: s3, gcs, azure)."""
    app = worker.app.callable
    if not _is_flaskpypi(app):
        return
    from .web.database import forget_connections

    forget_connections(app)
    if not fork_safe(app.extensions["flaskpypi"].storage):
        from . import create_app

        worker.app.callable = create_app()


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn master hook: a dead worker's live gauges stop counting, it takes no new connections, and the
    partial files it was writing when it died (kill -9, out of memory) are removed."""
    from .worker import release_slot

    release_slot(worker.age)
    if os.environ.get(METRICS_DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
    app = server.app.callable
    if _is_flaskpypi(app):
        try:
            swept = app.extensions["flaskpypi"].storage.sweep_temporary()
        except Exception:  # the master must outlive a storage that fails
            server.log.exception("Sweeping the partial files of worker %s failed", worker.pid)
        else:
            if swept:
                server.log.warning("Removed %d partial files of worker %s", swept, worker.pid)


def fork_safe(storage: Any) -> bool:
    """Whether a storage built before a fork works in the forked process: fsspec's synchronous filesystems
    (file, memory) do; its async ones refuse ("not fork-safe"), and other plugins are not known to."""
    from fsspec.asyn import AsyncFileSystem

    from .storage.base import FsspecStorage

    return isinstance(storage, FsspecStorage) and not isinstance(storage.fs, AsyncFileSystem)


def _is_flaskpypi(app: Any) -> bool:
    return isinstance(app, Flask) and "flaskpypi" in app.extensions


def _settle(app: Any) -> None:
    """After a build in the master: no connection kept, every object frozen for the workers to share."""
    if _is_flaskpypi(app):
        from .web.database import release_connections

        release_connections(app)
    gc.collect()
    gc.freeze()
