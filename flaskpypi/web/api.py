"""Blueprint `api`: the legacy upload API, the /pypi JSON API, yank, delete and project status."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from ..auth import READ, WRITE
from ..core.dists import parse_filename
from ..core.errors import BadRequest, Forbidden, NotFound, Unauthorized
from ..core.metadata import pypi_info, upgrade_fields
from ..core.records import iso
from ..index.browse import latest_version
from ..index.models import File, Project
from ..index.service import sort_key
from ..index.uploads import Uploader
from .context import hosted_index, index, principal, require, require_admin, runtime
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
    who = require(WRITE, dist.project)
    result = service.upload(filename, content.stream, request.form.to_dict(flat=False), who.name if who else None)
    message = "OK" if result.created else f"File {filename} already exists with these bytes; nothing changed."
    return Response(message + "\n", status=200, mimetype="text/plain")


def _check_uploader() -> None:
    """401/403 from the headers alone, before the body is read (a slow body must not hold a thread first).

    Anonymous uploads pass only when the defaults let everyone write; read-only tokens never pass.
    """
    who = principal()
    if who is None and not runtime().access.can(None, WRITE):
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


def _file_json(project: Project, f: File) -> dict[str, Any]:
    url = file_url(project.name, f.filename, f.index_name, external=True)
    return {
        "filename": f.filename,
        "url": url,
        "digests": {"md5": f.md5, "sha256": f.sha256, "blake2b_256": f.blake2b_256},
        "md5_digest": f.md5,
        "size": f.size,
        "packagetype": f.packagetype,
        "python_version": f.python_version,
        "requires_python": f.requires_python or None,
        "upload_time": f.upload_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "upload_time_iso_8601": iso(f.upload_time),
        "yanked": f.yanked,
        "yanked_reason": f.yanked_reason or None,
        "has_sig": False,
        "comment_text": "",
        "uploader": f.uploader,
        "origin": f.origin,
    }


def _info(project: Project, version: str, files: list[File]) -> dict[str, Any]:
    source = min(files, key=lambda f: (f.packagetype != "bdist_wheel", f.upload_time))
    return {
        "name": project.display_name,
        "version": version,
        **pypi_info(upgrade_fields(source.meta or {})),
        "requires_python": source.requires_python or None,
        "package_url": url_for("simple.project", project=project.name, _external=True),
        "project_url": url_for("simple.project", project=project.name, _external=True),
        "release_url": url_for("api.version_json", project=project.name, version=version, _external=True),
        "docs_url": None,
        "bugtrack_url": None,
        "downloads": {"last_day": -1, "last_week": -1, "last_month": -1},
        "yanked": all(f.yanked for f in files),
        "yanked_reason": next((f.yanked_reason for f in files if f.yanked_reason), None),
        "project_status": {"status": project.status, "reason": project.status_reason or None},
    }


def _versions(project: Project) -> dict[str, list[File]]:
    grouped: dict[str, list[File]] = {}
    for f in index().live_files(project):
        grouped.setdefault(f.version, []).append(f)
    return grouped


def _readable_project(name: str) -> Project:
    require(READ, name, hide=True)
    return index().require_project(name)


@bp.get("/pypi/<project>/json")
def project_json(project: str) -> Response:
    """PyPI's JSON API for a project: info of the latest release, all releases, last_serial."""
    found = _readable_project(project)
    versions = _versions(found)
    if not versions:
        raise NotFound(f"No files in project {found.display_name!r}.")
    latest = latest_version({v: [f.yanked for f in fs] for v, fs in versions.items()})
    body = {
        "info": _info(found, latest, versions[latest]),
        "last_serial": found.serial,
        "releases": {v: [_file_json(found, f) for f in versions[v]] for v in sorted(versions, key=sort_key)},
        "urls": [_file_json(found, f) for f in versions[latest]],
        "vulnerabilities": [],
    }
    return jsonify(body)


@bp.get("/pypi/<project>/<version>/json")
def version_json(project: str, version: str) -> Response:
    """PyPI's JSON API for one release."""
    found = _readable_project(project)
    versions = _versions(found)
    match = next((v for v in versions if sort_key(v) == sort_key(version)), None)
    if match is None:
        raise NotFound(f"No version {version!r} of project {found.display_name!r}.")
    return jsonify(
        info=_info(found, match, versions[match]),
        last_serial=found.serial,
        urls=[_file_json(found, f) for f in versions[match]],
        vulnerabilities=[],
    )


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
    require(WRITE, project, hide=True)
    files = changed_index().set_yanked(project, filename, version, True, str(_body().get("reason") or ""))
    return jsonify(yanked=[f.filename for f in files])


@bp.post("/api/projects/<project>/unyank")
def unyank(project: str) -> Response:
    """Undo a yank."""
    filename, version = _target()
    require(WRITE, project, hide=True)
    files = changed_index().set_yanked(project, filename, version, False)
    return jsonify(unyanked=[f.filename for f in files])


def _require_delete(project: str) -> None:
    who = require(WRITE, project, hide=True)
    if not runtime().policy.allow_delete and not runtime().access.is_admin(who):
        raise Forbidden("Deleting files is disabled on this index (allow_delete = false).")


@bp.delete("/api/projects/<project>/files/<filename>")
def delete_file(project: str, filename: str) -> Response:
    """Delete one file."""
    _require_delete(project)
    files = changed_index().delete(project, filename=filename)
    return jsonify(deleted=[f.filename for f in files])


@bp.delete("/api/projects/<project>/versions/<version>")
def delete_version(project: str, version: str) -> Response:
    """Delete every file of a version."""
    _require_delete(project)
    files = changed_index().delete(project, version=version)
    return jsonify(deleted=[f.filename for f in files])


@bp.delete("/api/projects/<project>")
def delete_project(project: str) -> Response:
    """Delete every file of a project."""
    _require_delete(project)
    files = changed_index().delete(project)
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
    require(READ, project, hide=True)
    service = changed_index()
    found = service.require_project(project)
    return jsonify(
        project=found.display_name,
        index=service.index_name,
        files=[
            {**_file_json(found, f), "version": f.version, "download": file_url(found.name, f.filename, f.index_name)}
            for f in service.live_files(found)
        ],
    )
