"""What operators watch: Prometheus metrics at /metrics (prometheus-client) and the access log.

The access log (setting `access_log`) is one INFO line a request on the `flaskpypi.access` logger: address,
method, path, status, bytes and milliseconds (as JSON fields too, with `log_format = "json"`).

Under gunicorn (`flaskpypi serve`, `gunicorn wsgi:app`) the master sets PROMETHEUS_MULTIPROC_DIR before any
worker starts, so every worker writes its samples there and a scrape of any worker sums them all; without it
(flask run, tests) the process's own registry is served. `metrics` says who may scrape: off (404), open, or
token (`Authorization: Bearer <metrics_token>`, compared in constant time).
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ..core.errors import NotFound, Unauthorized
from ..extensions import db
from ..index import signals as index_signals
from ..index.models import LIVE, File, Project
from ..upstream import signals as upstream_signals
from .database import Unavailable

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
access_log = logging.getLogger("flaskpypi.access")
DOWNLOAD_ENDPOINTS = ("files.download", "indexes.download")  # today's URL and a view's (or an index's)
UPLOAD_ENDPOINTS = "api.upload"  # api.upload_, api.upload_simple_, api.upload_legacy ... (one per upload URL)

REQUESTS = Counter("flaskpypi_http_requests", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram("flaskpypi_http_request_duration_seconds", "Time to answer a request", ["endpoint"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))  # fmt: skip
UPLOADS = Counter("flaskpypi_uploads", "Upload requests by outcome", ["result"])
UPLOAD_BYTES = Counter("flaskpypi_upload_bytes", "Bytes of distribution files stored by uploads")
DOWNLOADS = Counter("flaskpypi_downloads", "Distribution file downloads by status", ["status"])
UPSTREAM_PAGES = Counter("flaskpypi_upstream_pages", "Upstream project page look-ups by result", ["result"])
UPSTREAM_FETCHES = Counter("flaskpypi_upstream_fetches", "Files fetched from the upstream by result", ["result"])
UPSTREAM_BYTES = Counter("flaskpypi_upstream_fetch_bytes", "Bytes of files cached from the upstream")
UPSTREAM_SECONDS = Histogram("flaskpypi_upstream_fetch_duration_seconds", "Time to fetch, verify and store a file",
                             buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))  # fmt: skip
DATABASE_ERRORS = Counter("flaskpypi_database_errors", "Requests answered 503 because the database failed", ["check"])
CACHE_ENTRIES = Gauge("flaskpypi_cache_entries", "Entries in the in-process caches (summed over live workers)",
                      ["cache"], multiprocess_mode="livesum")  # fmt: skip


class IndexCollector(Collector):
    """Projects and live files, counted in the database when scraped (two indexed COUNTs)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.app.app_context():
            try:
                projects = db.session.scalar(select(func.count()).select_from(Project)) or 0
                files = db.session.scalar(select(func.count()).select_from(File).where(File.state == LIVE)) or 0
            except Exception:  # the database being down must not break the scrape; readiness says so
                return
            finally:
                db.session.remove()
        yield GaugeMetricFamily("flaskpypi_projects", "Projects in the index", value=projects)
        yield GaugeMetricFamily("flaskpypi_files", "Live distribution files in the index", value=files)


def _on_page(_sender: Any, result: str) -> None:
    UPSTREAM_PAGES.labels(result).inc()


def _on_fetched(_sender: Any, seconds: float, size: int) -> None:
    UPSTREAM_FETCHES.labels("ok").inc()
    UPSTREAM_BYTES.inc(size)
    UPSTREAM_SECONDS.observe(seconds)


def _on_fetch_failed(_sender: Any, seconds: float, size: int, reason: str) -> None:
    UPSTREAM_FETCHES.labels("failed").inc()
    UPSTREAM_SECONDS.observe(seconds)


def _on_uploaded(_sender: Any, project: str, filenames: list[str], size: int = 0, **_: Any) -> None:
    UPLOAD_BYTES.inc(size)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    endpoint = request.endpoint or "unmatched"
    method, status = request.method, response.status_code
    series = _SERIES.get((endpoint, method, status)) or _series(endpoint, method, status)
    series.requests.inc()
    elapsed = time.perf_counter() - started if started is not None else 0.0
    series.latency.observe(elapsed)
    if current_app.extensions["flaskpypi"].settings.access_log:
        _access_line(response, elapsed)
    if method == "POST" and endpoint.startswith(UPLOAD_ENDPOINTS):
        unchanged = status == 200 and "already exists" in response.get_data(as_text=True)
        UPLOADS.labels("unchanged" if unchanged else "created" if status == 200 else "refused").inc()
    elif series.downloads is not None:
        series.downloads.inc()
    return response


@dataclass(frozen=True)
class _Series:
    """The labelled children a request's (endpoint, method, status) counts in."""

    requests: Any
    latency: Any
    downloads: Any


_SERIES: dict[tuple[str, str, int], _Series] = {}  # found once per process: labels() locks and validates


def _series(endpoint: str, method: str, status: int) -> _Series:
    downloads = DOWNLOADS.labels(str(status)) if endpoint in DOWNLOAD_ENDPOINTS else None
    found = _Series(REQUESTS.labels(endpoint, method, str(status)), LATENCY.labels(endpoint), downloads)
    return _SERIES.setdefault((endpoint, method, status), found)


def _access_line(response: Response, elapsed: float) -> None:
    fields = {
        "address": request.remote_addr or "-",
        "method": request.method,
        "path": request.full_path.rstrip("?"),
        "status": response.status_code,
        "bytes": response.content_length if response.content_length is not None else "-",
        "ms": round(elapsed * 1000, 1),
    }
    access_log.info("%(address)s %(method)s %(path)s %(status)s %(bytes)s %(ms)sms", fields, extra=fields)


def count_unavailable(exc: Unavailable) -> None:
    """Called by the 503 handler for a lost database or schema."""
    DATABASE_ERRORS.labels(exc.check).inc()


def _sample_caches(_response: Any = None) -> None:
    for name in ("pages", "descriptions", "files", "projects", "visible"):
        cache = current_app.extensions.get(f"flaskpypi.{name}")
        CACHE_ENTRIES.labels(name).set(len(cache) if cache is not None else 0)


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    """The metrics in Prometheus' text format, when the `metrics` setting allows the asker."""
    settings = current_app.extensions["flaskpypi"].settings
    if settings.metrics == "off":
        raise NotFound("Metrics are off (setting `metrics`).")
    if settings.metrics == "token":
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), settings.metrics_token.encode()
        ):
            raise Unauthorized("Metrics need Authorization: Bearer <metrics_token>.")
    _sample_caches()
    if os.environ.get(MULTIPROC_ENV):
        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)
    else:
        workers = REGISTRY  # this process's own metrics
    index = CollectorRegistry()
    index.register(IndexCollector(current_app._get_current_object()))  # type: ignore[attr-defined]
    return Response(generate_latest(workers) + generate_latest(index), mimetype=CONTENT_TYPE_LATEST)


def init_metrics(app: Flask) -> None:
    """Count every request, and listen to the services' signals (connected once per process)."""
    app.register_blueprint(bp)
    app.before_request(_start)
    app.after_request(_finish)
    index_signals.file_uploaded.connect(_on_uploaded)
    upstream_signals.page_looked_up.connect(_on_page)
    upstream_signals.file_fetched.connect(_on_fetched)
    upstream_signals.file_fetch_failed.connect(_on_fetch_failed)
