"""Blueprint `simple`: the simple repository API (PEP 503 HTML and PEP 691 JSON) and file downloads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import Blueprint, Response, redirect, request, url_for

from ..auth import READ, Principal
from ..core import simple as pages
from ..core.errors import NotFound, Unauthorized
from ..core.names import canonical
from ..core.views import DEFAULT_INDEX
from ..index.models import Project
from ..index.service import sort_key
from ..sql import ACCESS, SERIAL
from ..upstream import Listing
from . import fallback, indexes
from .context import generations, index, principal, require_index, runtime
from .files import file_url, provenance_url
from .pages import cached_page, page_cache, serial_cache

bp = Blueprint("simple", __name__)
ROOT_HREF = "{name}/"  # a project's page relative to /simple/


def _format() -> str:
    return pages.negotiate(request.headers.get("Accept"), request.args.get("format"))


def _mimetype(fmt: str) -> str:
    return fmt if fmt != pages.TEXT_HTML else "text/html"


@bp.get("/simple")
def root_no_slash() -> Response:
    """GET /simple answers 301 to /simple/ (uploads POST to /simple without a redirect)."""
    return redirect(url_for("simple.root"), 301)


@bp.get("/simple/")
def root() -> Response:
    """Every project the asker may read (anonymous askers of a private index get a 401 to log in).

    What an asker sees is decided once per serial, access counter and sight (the groups they act as, their
    name only when a grant names them, a token's scope), not per name per request. Links are relative
    (PEP 503 allows it): a fifth less to send at 50,000 projects, and the page is the same under any prefix."""
    if runtime().layout.default_view:
        return indexes.root_page(runtime().layout.default_view, ROOT_HREF)
    require_index(READ, DEFAULT_INDEX)  # the built-in index with a read grant is private to its grantees
    fmt, access, who = _format(), runtime().access, principal()
    counters = generations()
    serial = counters[SERIAL]
    if who is None and not access.can(None, READ):
        raise Unauthorized("Authentication required.")
    names = page_cache().remember(("names", serial), index().project_names)
    kept, generation = serial_cache("visible", 256), (serial, counters[ACCESS])
    named = kept.get(generation, "named", lambda: access.named_users([n for n, _ in names]))
    sight = access.sight(who, named)
    seen = kept.get(generation, ("seen", sight), lambda: _seen(who, names))
    key = ("root", serial, fmt, seen.digest)
    if fmt == pages.JSON_V1:
        render = lambda: pages.root_json(seen.projects)  # noqa: E731
    else:
        render = lambda: pages.root_html(seen.projects, ROOT_HREF)  # noqa: E731
    etag = f"{serial}-{seen.digest}-{fmt.rsplit('.', 1)[-1]}"
    return cached_page(etag, None, _mimetype(fmt), key, render)


@dataclass(frozen=True)
class _Seen:
    """The projects one asker may read, and a digest naming that set ("all" when it is every project)."""

    projects: list[tuple[str, str]]
    digest: str


def _seen(who: Principal | None, names: list[tuple[str, str]]) -> _Seen:
    visible = runtime().access.visible(who, names)
    return _Seen(visible, "all" if len(visible) == len(names) else _digest(visible))  # grants change what is seen


@bp.get("/simple/<project>")
@bp.get("/simple/<project>/")
def project(project: str) -> Response:
    """A project's files; other spellings of the name, or no trailing slash, redirect to the normal URL."""
    name = canonical(project)
    if project != name or not request.path.endswith("/"):
        target = url_for("simple.project", project=name)
        if request.query_string:
            target += "?" + request.query_string.decode("latin-1")
        return redirect(target, 301)
    if runtime().layout.default_view:
        return indexes.project_page(runtime().layout.default_view, name)
    require_index(READ, DEFAULT_INDEX)
    plan = fallback.plan_listing(name)
    fmt = _format()
    if plan.listing is not Listing.LOCAL or plan.facts.project is None:
        return fallback.respond(plan, fmt, project_page)
    found = plan.facts.project
    if not plan.facts.live and not _holds(found):
        raise NotFound(f"No project named {name!r}.")  # every file deleted: gone, as in the UI and JSON API
    etag = f"{found.serial}-{fmt.rsplit('.', 1)[-1]}"
    key = ("project", name, found.serial, fmt, request.script_root)
    return cached_page(etag, found.last_update, _mimetype(fmt), key, lambda: _render(found, fmt))


def _holds(found: Project) -> bool:
    """Whether the index lists the project (asked once per project serial)."""
    key = ("holds", found.name, found.serial)
    return page_cache().remember(key, lambda: index().holds(found))


def _digest(projects: list[tuple[str, str]]) -> str:
    return hashlib.sha256("\n".join(p[0] for p in projects).encode()).hexdigest()[:16]


def project_page(found: Project) -> pages.SimpleProject:
    """The content of a project page, from the index."""
    files = index().live_files(found)
    quarantined = found.status == "quarantined"
    shown = [] if quarantined else files
    simple_files = [
        pages.SimpleFile(
            filename=f.filename,
            url=file_url(found.name, f.filename),
            sha256=f.sha256,
            size=f.size,
            upload_time=f.upload_time,
            requires_python=f.requires_python,
            yanked=f.yanked,
            yanked_reason=f.yanked_reason,
            core_metadata_sha256=f.core_metadata_sha256,
            provenance_url=provenance_url(found.name, f.filename) if f.provenance_sha256 else None,
        )
        for f in shown
    ]
    versions = sorted({f.version for f in shown}, key=sort_key)
    return pages.SimpleProject(
        found.name, simple_files, versions, found.status, found.status_reason, found.display_name
    )


def _render(found: Project, fmt: str) -> str:
    page = project_page(found)
    if fmt == pages.JSON_V1:
        return pages.project_json(page)
    return pages.project_html(page)
