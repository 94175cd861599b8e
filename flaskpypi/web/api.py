"""Blueprint `api`: the legacy upload API, the /pypi JSON API, yank, delete and project status."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from ..auth import READ, WRITE
from ..core.dists import parse_filename
from ..core.errors import BadRequest, Forbidden, Unauthorized
from ..core.names import DEFAULT_INDEX, canonical
from ..index.uploads import Uploader
from ..views.releases import Links, Releases, file_json
from . import indexes
from .context import hosted_index, index, principal, require, require_admin, require_index, runtime
from .files import file_url

bp = Blueprint("api", __name__)
UPLOAD_PATHS = ("/", "/simple", "/simple/", "/legacy", "/legacy/")
INDEX_UPLOAD_PATHS = ("/<name>/simple", "/<name>/simple/", "/<name>/legacy", "/<name>/legacy/")


def upload(name: str | None = None) -> Response:
    """POST a distribution (twine, poetry, uv, pdm, hatch, flit) to a hosted index: the one in the URL, else
    `default_index`; never redirected."""
    _check_uploader()
    service = hosted_index(name or runtime().layout.default_index)
    content = request.files.get("content")
    if content is None or not content.filename:
        raise BadRequest("No file was uploaded: the form has no 'content' file field.")
    filename = content.filename
    dist = parse_filename(filename)
    who = require_index(WRITE, service.index_name, dist.project)
    result = service.upload(filename, content.stream, request.form.to_dict(flat=False), who.name if who else None)
    message = "OK" if result.created else f"File {filename} already exists with these bytes; nothing changed."
    return Response(message + "\n", status=200, mimetype="text/plain")


def _check_uploader() -> None:
    """401/403 from the headers alone, before the body is read (a slow body must not hold a thread first).

    Anonymous uploads pass only when the defaults let everyone write; read-only tokens never pass.
    """
    who = principal()
    if who is None and not runtime().access.can_index(None, WRITE, runtime().layout.default_index):
        raise Unauthorized("Authentication required.")
    if who is not None and who.via_token and who.token_permission != WRITE:
        raise Forbidden(f"This API token of {who.name!r} may not upload.")


for _path in UPLOAD_PATHS + INDEX_UPLOAD_PATHS:
    _endpoint = "upload" + _path.replace("/", "_").replace("<name>", "index")
    bp.add_url_rule(_path, _endpoint, upload, methods=["POST"], strict_slashes=False)


def changed_index() -> Uploader:
    """The hosted index a yank, delete or status change acts on: `?index=` (or the body's `index`), else
    `default_index` (what the root upload URLs write to)."""
    name = request.args.get("index") or str(_body().get("index") or "") or runtime().layout.default_index
    return hosted_index(name)


# -- the JSON API (/pypi/<project>/json) -----------------------------------------------------------


def _links(project: str) -> Links:
    """The URLs of the built-in index's JSON API answers."""
    return Links(
        file=lambda p, f: url_for("files.download", project=p, filename=f, _external=True),
        project=url_for("simple.project", project=project, _external=True),
        release=lambda v: url_for("api.version_json", project=project, version=v, _external=True),
    )


def _releases(name: str) -> Releases:
    require(READ, name, hide=True)
    found = index().require_project(name)
    files = index().live_files(found)
    return Releases.of(found.display_name, found.status, found.status_reason or "", found.serial, files)


@bp.get("/pypi/<project>/json")
def project_json(project: str) -> Response:
    """PyPI's JSON API for a project: info of the latest release, all releases, last_serial (the default
    view's answer when `default_view` names one)."""
    if runtime().layout.default_view:
        return indexes.project_json(runtime().layout.default_view, project)
    return jsonify(_releases(canonical(project)).project_json(_links(canonical(project))))


@bp.get("/pypi/<project>/<version>/json")
def version_json(project: str, version: str) -> Response:
    """PyPI's JSON API for one release."""
    if runtime().layout.default_view:
        return indexes.version_json(runtime().layout.default_view, project, version)
    return jsonify(_releases(canonical(project)).version_json(version, _links(canonical(project))))


# -- changing files: yank, delete, status ------------------------------------------------------------


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


def _target() -> tuple[str | None, str | None]:
    data = _body()
    filename, version = data.get("filename") or None, data.get("version") or None
    if not filename and not version:
        raise BadRequest("Say which file or version: give 'filename' or 'version'.")
    return filename, version


@bp.post("/api/projects/<project>/yank")
def yank(project: str) -> Response:
    """Yank a file or a version (PEP 592), with an optional reason."""
    filename, version = _target()
    service = changed_index()
    require(WRITE, project, hide=True, index=service.index_name)
    files = service.set_yanked(project, filename, version, True, str(_body().get("reason") or ""))
    return jsonify(yanked=[f.filename for f in files])


@bp.post("/api/projects/<project>/unyank")
def unyank(project: str) -> Response:
    """Undo a yank."""
    filename, version = _target()
    service = changed_index()
    require(WRITE, project, hide=True, index=service.index_name)
    files = service.set_yanked(project, filename, version, False)
    return jsonify(unyanked=[f.filename for f in files])


def _require_delete(project: str) -> Uploader:
    """The index a delete acts on, once the asker may write the project there and deleting is allowed."""
    service = changed_index()
    who = require(WRITE, project, hide=True, index=service.index_name)
    if not runtime().policy.allow_delete and not runtime().access.is_admin(who):
        raise Forbidden("Deleting files is disabled on this index (allow_delete = false).")
    return service


@bp.delete("/api/projects/<project>/files/<filename>")
def delete_file(project: str, filename: str) -> Response:
    """Delete one file."""
    files = _require_delete(project).delete(project, filename=filename)
    return jsonify(deleted=[f.filename for f in files])


@bp.delete("/api/projects/<project>/versions/<version>")
def delete_version(project: str, version: str) -> Response:
    """Delete every file of a version."""
    files = _require_delete(project).delete(project, version=version)
    return jsonify(deleted=[f.filename for f in files])


@bp.delete("/api/projects/<project>")
def delete_project(project: str) -> Response:
    """Delete every file of a project."""
    files = _require_delete(project).delete(project)
    return jsonify(deleted=[f.filename for f in files])


@bp.put("/api/projects/<project>/status")
def set_status(project: str) -> Response:
    """Set the project's PEP 792 status (admins)."""
    require_admin()
    data = _body()
    found = changed_index().set_status(project, str(data.get("status", "")), str(data.get("reason") or ""))
    return jsonify(project=found.name, status=found.status, reason=found.status_reason)


@bp.get("/api/projects/<project>/files")
def list_files(project: str) -> Response:
    """A project's files with their facts, for the UI and scripts."""
    service = changed_index()
    require(READ, project, hide=True, index=service.index_name)
    found = service.require_project(project)
    links = _links(found.name) if service.index_name == DEFAULT_INDEX else indexes.links(service.index_name, found.name)
    return jsonify(
        project=found.display_name,
        index=service.index_name,
        files=[
            {**file_json(f, links), "version": f.version, "download": file_url(found.name, f.filename, f.index_name)}
            for f in service.live_files(found)
        ],
    )
