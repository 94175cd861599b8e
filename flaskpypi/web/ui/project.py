"""A project's page (description, versions, files, metadata, how to install), its writers' and admins' actions
(yank, un-yank and delete a file, a release or the project; the project's status), and browser upload.

Every change calls the index service the API calls; the service's signals write the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for

from ...auth import READ, WRITE, Principal
from ...core.dists import parse_filename
from ...core.errors import BadRequest, Forbidden, Refusal
from ...core.metadata import upgrade_fields
from ...core.names import canonical
from ...core.records import PROJECT_STATUSES
from ...extensions import db
from ...index.browse import latest_version
from ...index.models import File
from ...index.service import sort_key
from ..context import index, principal, require, require_admin, runtime
from . import bp, scope
from .about import about
from .common import done, login_redirect, page_number, paginate
from .describe import description

VERSIONS_PER_PAGE = 30


@dataclass(frozen=True)
class Version:
    """One version of a project and its files."""

    version: str
    files: list[File]

    @property
    def yanked(self) -> bool:
        return all(f.yanked for f in self.files)

    @property
    def uploaded(self) -> Any:
        return min(f.upload_time for f in self.files)


@dataclass(frozen=True)
class Rights:
    """What the visitor may do with the project (the page shows the matching buttons)."""

    write: bool
    delete: bool
    admin: bool


def rights(who: Principal | None, project: str) -> Rights:
    """The visitor's rights on a project, by the same checks the API makes."""
    access = runtime().access
    admin = access.is_admin(who)
    write = access.can(who, WRITE, project)
    return Rights(write, write and (runtime().policy.allow_delete or admin), admin)


def _versions(files: list[File]) -> list[Version]:
    grouped: dict[str, list[File]] = {}
    for f in files:
        grouped.setdefault(f.version, []).append(f)
    return [Version(v, grouped[v]) for v in sorted(grouped, key=sort_key, reverse=True)]


def _pick(versions: list[Version], wanted: str | None) -> Version | None:
    if not versions:
        return None
    if wanted is None:
        latest = latest_version({v.version: [f.yanked for f in v.files] for v in versions})
        return next(v for v in versions if v.version == latest)
    key = sort_key(wanted)
    return next((v for v in versions if sort_key(v.version) == key), None)


def _readme(version: Version) -> tuple[File, Any]:
    source = min(version.files, key=lambda f: (f.packagetype != "bdist_wheel", f.upload_time))
    meta = source.meta or {}
    return source, description(source.sha256, str(meta.get("description") or ""),
                               meta.get("description_content_type"))  # fmt: skip


@bp.get("/project/<project>/")
@bp.get("/project/<project>/<version>/")
def project(project: str, version: str | None = None) -> Response | str:
    """A project: summary, rendered description, versions, and each file's facts."""
    name = canonical(project)
    view = scope.current()
    if name != project:
        return redirect(url_for("ui.project", project=name, version=version, index=view.name if view else None), 301)
    if view is not None:
        return scope.project_page(view, name)
    who = require(READ, name, hide=True)
    found = index().require_project(name)
    versions = _versions(index().live_files(found))
    shown = _pick(versions, version)
    if version is not None and shown is None:
        return redirect(url_for("ui.project", project=name), 302)
    source, readme = _readme(shown) if shown else (None, "")
    meta = upgrade_fields(source.meta or {}) if source else {}
    grants = runtime().access.backend.list_grants(name) if runtime().access.is_admin(who) else []
    return render_template(
        "project.html",
        project=found,
        versions=paginate(versions, page_number(), VERSIONS_PER_PAGE),
        version_count=len(versions),
        shown=shown,
        latest=_pick(versions, None),
        readme=readme,
        meta=meta,
        about=about(meta),
        statuses=PROJECT_STATUSES,
        rights=rights(who, name),
        grants=grants,
        editable=runtime().access.backend.editable,
        file_index=runtime().layout.default_index,
        **scope.context(None),
    )


# -- writers' actions: yank, unyank, delete (a file or a release), delete a project, status -----------------


def _target() -> tuple[str | None, str | None]:
    """The form's file or release: `filename`, else `version` (the API's rule)."""
    filename = request.form.get("filename", "").strip() or None
    version = request.form.get("version", "").strip() or None
    if not filename and not version:
        raise BadRequest("Say which file or release: the form has no filename or version.")
    return filename, version


def _what(filename: str | None, version: str | None) -> str:
    return filename or f"release {version}"


def _version_page(project: str, filename: str | None, version: str | None) -> str:
    found = index().project(project)
    if found is None:
        return url_for("ui.home")
    file = index().file(found.name, filename) if filename else None
    return url_for("ui.project", project=found.name, version=file.version if file else version)


@bp.post("/project/<project>/yank")
def yank(project: str) -> Response:
    """Yank one file or every file of a release (PEP 592) with an optional reason."""
    filename, version = _target()
    require(WRITE, project, hide=True)
    reason = request.form.get("reason", "").strip()[:500]
    files = index().set_yanked(project, filename, version, True, reason)
    return done(f"Yanked {_what(filename, version)} ({len(files)} files)." if version else f"Yanked {filename}.",
                _version_page(project, filename, version))  # fmt: skip


@bp.post("/project/<project>/unyank")
def unyank(project: str) -> Response:
    """Undo a yank of a file or a release."""
    filename, version = _target()
    require(WRITE, project, hide=True)
    index().set_yanked(project, filename, version, False)
    return done(f"Un-yanked {_what(filename, version)}.", _version_page(project, filename, version))


def _may_delete(project: str) -> None:
    who = require(WRITE, project, hide=True)
    if not rights(who, project).delete:
        raise Forbidden("Deleting files is disabled on this index (allow_delete = false).")


@bp.post("/project/<project>/delete")
def delete(project: str) -> Response:
    """Delete one file or a release for good (filenames are never reused); the form asked for confirmation."""
    filename, version = _target()
    _may_delete(project)
    if request.form.get("confirm") != (filename or version):
        raise BadRequest(f"Confirm the deletion of {_what(filename, version)} first.")
    files = index().delete(project, filename=filename, version=None if filename else version)
    what = f"{_what(filename, version)} ({len(files)} files)" if version and not filename else filename
    return done(f"Deleted {what}.", url_for("ui.project", project=canonical(project)))


@bp.post("/project/<project>/delete-all")
def delete_project(project: str) -> Response:
    """Delete every file of the project; the form asked for the project's name as confirmation."""
    _may_delete(project)
    found = index().require_project(project)
    if request.form.get("confirm") != found.name:
        raise BadRequest(f"Confirm the deletion of every file of {found.display_name} first.")
    files = index().delete(project)
    return done(f"Deleted project {found.display_name} ({len(files)} files).", url_for("ui.home"))


@bp.post("/project/<project>/status")
def set_status(project: str) -> Response:
    """Set the project's PEP 792 status with a reason (admins, as in the API)."""
    require_admin()
    status = request.form.get("status", "")
    if status not in PROJECT_STATUSES:
        raise BadRequest(f"Choose one of the statuses: {', '.join(PROJECT_STATUSES)}.")
    reason = request.form.get("reason", "").strip()[:500] if status != "active" else ""
    found = index().set_status(project, status, reason)
    return done(f"{found.display_name} is now {status}.", url_for("ui.project", project=found.name))


# -- upload from the browser -----------------------------------------------------------------------


@bp.get("/upload")
def upload_form() -> Response | str:
    """The upload form (writers; anonymous visitors log in first unless everyone may upload)."""
    who = principal()
    if who is None and not runtime().access.can(None, WRITE):
        return login_redirect()
    return render_template("upload.html", max_size=runtime().settings.max_upload_size)


@bp.post("/upload")
def upload() -> Response:
    """Store the wheels and sdists the form sent, each through the same pipeline as twine's uploads.

    Each file stands alone: one refused (a bad archive, a taken filename) loses none of the others, and
    the page says which were stored and why the others were not.
    """
    contents = [c for c in request.files.getlist("content") if c.filename]
    if not contents:
        raise BadRequest("Choose a wheel (.whl) or an sdist (.tar.gz) to upload.")
    stored: list[tuple[str, str, str]] = []  # (filename, project, version)
    refused: list[str] = []
    for content in contents:
        filename = (content.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        try:
            dist = parse_filename(filename)
            who = require(WRITE, dist.project)
            result = index().upload(filename, content.stream, {}, who.name if who else None)
        except Refusal as exc:
            db.session.rollback()
            refused.append(f"{filename}: {exc.message}")
            continue
        note = "" if result.created else " (already here with the same bytes; nothing changed)"
        stored.append((filename + note, dist.project, result.record.version))
    if stored:
        flash(f"Uploaded {', '.join(f for f, _, _ in stored)}.", "success")
    if refused:
        flash(f"Not uploaded: {'; '.join(refused)}", "error")
        return redirect(url_for("ui.upload_form"), 303)
    _, project, version = stored[-1]
    return redirect(url_for("ui.project", project=project, version=version), 303)
