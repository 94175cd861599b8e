"""Blueprint `indexes`: every index and view of the layout at /<name>/simple/ (PEP 503 HTML, PEP 691 JSON).

Parse the request, ask views.ViewService, render; the rules and the resolution live there."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import Blueprint, Response, g, redirect, request, url_for

from ..core import simple as pages
from ..core.names import canonical
from ..extensions import db
from ..views import ViewService
from .context import principal, runtime
from .files import file_url, provenance_url
from .pages import cached_page

bp = Blueprint("indexes", __name__)


def service() -> ViewService:
    """This request's view service (one SQL session per request, this request's asker)."""
    if "views" not in g:
        rt = runtime()
        g.views = ViewService(db.session, rt.storage, rt.policy, rt.layout, rt.upstreams, rt.access, principal())
    return g.views


def _format() -> str:
    return pages.negotiate(request.headers.get("Accept"), request.args.get("format"))


def _answer(body: str, fmt: str, last_modified: datetime | None = None) -> Response:
    """The page with validators (an ETag of its content, Last-Modified when known), or a 304."""
    etag = hashlib.sha256(body.encode()).hexdigest()[:32]
    mimetype = fmt if fmt != pages.TEXT_HTML else "text/html"
    return cached_page(etag, last_modified, mimetype, ("view-answer", etag, fmt), lambda: body)


@bp.get("/<name>/simple/")
def root(name: str) -> Response:
    """The projects a view's hosted members hold that the asker may read."""
    return root_page(name)


def root_page(name: str, href: str | None = None) -> Response:
    """The root page of an index or view (also /simple/'s when default_view names one, with its `href`)."""
    svc, fmt = service(), _format()
    names = svc.project_names(svc.view(name))
    if fmt == pages.JSON_V1:
        return _answer(pages.root_json(names), fmt)
    href = href or url_for("indexes.project", name=name, project="NAME").replace("NAME", "{name}")
    return _answer(pages.root_html(names, href), fmt)


@bp.get("/<name>/simple/<project>")
@bp.get("/<name>/simple/<project>/")
def project(name: str, project: str) -> Response:
    """A project's files in a view; other spellings of the name, or no trailing slash, redirect."""
    normal = canonical(project)
    if project != normal or not request.path.endswith("/"):
        target = url_for("indexes.project", name=name, project=normal)
        if request.query_string:
            target += "?" + request.query_string.decode("latin-1")
        return redirect(target, 301)
    return project_page(name, normal)


def project_page(name: str, normal: str) -> Response:
    """A project's page in an index or view (also /simple/<project>/'s when default_view names one)."""
    svc, fmt = service(), _format()
    gathered = svc.gather(svc.view(name), normal)
    key = (*gathered.key, fmt, request.script_root)

    def render() -> str:
        page = svc.page(gathered, file_url, provenance_url).page
        return pages.project_json(page) if fmt == pages.JSON_V1 else pages.project_html(page)

    etag = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    mimetype = fmt if fmt != pages.TEXT_HTML else "text/html"
    return cached_page(etag, gathered.last_modified, mimetype, key, render)
