"""Blueprint `promote`: POST /api/promote copies releases between hosted indexes (index.promote.Promoter)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..auth import PROMOTE, READ, Principal
from ..core.errors import BadRequest, Unauthorized
from ..core.names import canonical, validate_project_name
from ..index.promote import PROMOTED, Promoter
from ..index.service import IndexService
from .context import hosted_index, principal, require, require_index

bp = Blueprint("promote", __name__)


def authorize_promote(project: str, source: str, target: str) -> Principal:
    """THE promotion permission decision, in one place: the asker reads the project, reads the `source` index
    and holds `promote` on the `target` index (admins, or a promote grant; see AccessPolicy.can_index: a
    read-only or project-scoped API token never promotes). Raises Unauthorized, NotFound or Forbidden."""
    require(READ, project, hide=True)
    require_index(READ, source)
    who = require_index(PROMOTE, target)
    if who is None:
        raise Unauthorized("Authentication required.")
    return who


def _field(data: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = data.get(key)
    if value in (None, "") and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"Give {key!r} (a string) in the JSON body.")
    return value.strip()


@bp.post("/api/promote")
def promote() -> Response:
    """Promote {"project", "version" (optional: every version), "from", "to"}; 200 with each file's outcome
    (`promoted`, or `present` when the target held these bytes already), 409 when the target holds another
    file of the same name, 404 when the source holds no such release."""
    if principal() is None:  # who asks comes first: 401, or a session's missing CSRF token, before the body
        raise Unauthorized("Authentication required.")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest('Send a JSON object: {"project": ..., "version": ..., "from": ..., "to": ...}.')
    project = canonical(validate_project_name(str(_field(data, "project"))))
    version = _field(data, "version", required=False)
    source, target = str(_field(data, "from")), str(_field(data, "to"))
    who = authorize_promote(project, source, target)
    services: list[IndexService] = [hosted_index(source), hosted_index(target)]
    done = Promoter(*services).promote(project, version, who.name)
    return jsonify(
        project=project,
        source=source,
        target=target,
        promoted=[d.filename for d in done if d.outcome == PROMOTED],
        present=[d.filename for d in done if d.outcome != PROMOTED],
        files=[{"filename": d.filename, "sha256": d.sha256, "outcome": d.outcome} for d in done],
    )
