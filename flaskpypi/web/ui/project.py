"""A project's page (description, versions, files, how to install), its writers' actions, and browser upload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, redirect, render_template, request, url_for

from ...auth import READ, WRITE, Principal
from ...core.dists import parse_filename
from ...core.errors import BadRequest, Forbidden
from ...core.metadata import project_urls, upgrade_fields
from ...core.names import canonical
from ...index.browse import latest_version
from ...index.models import File, Project
from ...index.service import sort_key
from ..context import index, principal, require, runtime
from . import bp
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


def _project_urls(meta: dict[str, Any]) -> list[tuple[str, str]]:
    """The project's links as PyPI lists them; only http(s) URLs become links."""
    urls = project_urls(meta).items()
    return [(label or url, url) for label, url in urls if url.startswith(("https://", "http://"))]


@bp.get("/project/<project>/")
@bp.get("/project/<project>/<version>/")
def project(project: str, version: str | None = None) -> Response | str:
    """A project: summary, rendered description, versions, and each file's facts."""
    name = canonical(project)
    if name != project:
        return redirect(url_for("ui.project", project=name, version=version), 301)
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
        urls=_project_urls(meta),
        rights=rights(who, name),
        grants=grants,
        editable=runtime().access.backend.editable,
    )


# -- writers' actions: yank, unyank, delete --------------------------------------------------------


def _filename() -> str:
    filename = request.form.get("filename", "").strip()
    if not filename:
        raise BadRequest("Say which file: the form has no filename.")
    return filename


def _version_page(found: Project | None, filename: str) -> str:
    file = index().file(found.name, filename) if found else None
    if found is None:
        return url_for("ui.home")
    return url_for("ui.project", project=found.name, version=file.version if file else None)


@bp.post("/project/<project>/yank")
def yank(project: str) -> Response:
    """Yank one file (PEP 592) with an optional reason."""
    filename = _filename()
    require(WRITE, project, hide=True)
    reason = request.form.get("reason", "").strip()[:500]
    index().set_yanked(project, filename, None, True, reason)
    return done(f"Yanked {filename}.", _version_page(index().project(project), filename))


@bp.post("/project/<project>/unyank")
def unyank(project: str) -> Response:
    """Undo a yank."""
    filename = _filename()
    require(WRITE, project, hide=True)
    index().set_yanked(project, filename, None, False)
    return done(f"Un-yanked {filename}.", _version_page(index().project(project), filename))


@bp.post("/project/<project>/delete")
def delete(project: str) -> Response:
    """Delete one file for good (its name is never reused); the form asked for confirmation."""
    filename = _filename()
    who = require(WRITE, project, hide=True)
    if not rights(who, project).delete:
        raise Forbidden("Deleting files is disabled on this index (allow_delete = false).")
    if request.form.get("confirm") != filename:
        raise BadRequest(f"Confirm the deletion of {filename} first.")
    index().delete(project, filename=filename)
    return done(f"Deleted {filename}.", url_for("ui.project", project=canonical(project)))


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
    """Store a wheel or sdist sent by the form, through the same pipeline as twine's uploads."""
    content = request.files.get("content")
    if content is None or not content.filename:
        raise BadRequest("Choose a wheel (.whl) or an sdist (.tar.gz) to upload.")
    filename = content.filename.replace("\\", "/").rsplit("/", 1)[-1]
    dist = parse_filename(filename)
    who = require(WRITE, dist.project)
    result = index().upload(filename, content.stream, {}, who.name if who else None)
    target = url_for("ui.project", project=dist.project, version=result.record.version)
    if not result.created:
        return done(f"{filename} was already here with the same bytes; nothing changed.", target)
    return done(f"Uploaded {filename}.", target)
