"""Blueprint `health`: liveness (/health) and readiness (/readyz) for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from .database import RETRY_AFTER, health

bp = Blueprint("health", __name__)


@bp.get("/health")
def liveness() -> Response:
    """200 while the process serves requests; touches neither the database nor storage (cheap)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readiness() -> Response:
    """200 when the database answers, its schema is at this server's Alembic revision and storage answers.

    Otherwise 503 with Retry-After and `failed` naming the checks that failed (database, schema, storage).
    """
    checks = health(current_app).checks()
    failed = [name for name, result in checks.items() if not result["ok"]]
    response = jsonify(status="unavailable" if failed else "ok", failed=failed, checks=checks)
    if failed:
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER)
    response.headers["Cache-Control"] = "no-store"
    return response
