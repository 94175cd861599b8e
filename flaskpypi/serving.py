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
            "on_starting": on_starting, "child_exit": child_exit}  # fmt: skip


METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def on_starting(_server: Any) -> None:
    """gunicorn master hook: a fresh folder for the workers' metrics (prometheus-client's multiprocess mode),
    the app's modules imported, and the master's objects frozen out of the garbage collector's reach.

    It runs before any worker builds the app, so every worker writes its samples there and /metrics sums
    them (with --preload the app would be built in the master, with its connections: keep preload off, the
    default). The modules are imported here, not the app built (flaskpypi.import_modules): the workers are
    forked with them, so each starts with only create_app to run, and, frozen, those objects are never
    touched by a worker's collections, so their pages stay shared instead of being copied into every worker
    (gc.freeze's purpose).
    """
    folder = os.environ.get(METRICS_DIR_ENV) or tempfile.mkdtemp(prefix="flaskpypi-metrics-")
    os.makedirs(folder, exist_ok=True)
    for stale in Path(folder).glob("*.db"):
        stale.unlink()
    os.environ[METRICS_DIR_ENV] = folder
    from . import import_modules

    import_modules()  # after the metrics folder is set: prometheus-client reads it when first imported
    gc.collect()
    gc.freeze()


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn master hook: a dead worker's live gauges stop counting, and it takes no new connections."""
    from .worker import release_slot

    release_slot(worker.age)
    if os.environ.get(METRICS_DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
