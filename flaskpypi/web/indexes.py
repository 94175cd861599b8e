"""Blueprint `indexes`: every index and view of the layout at /<name>/simple/ (PEP 503 HTML, PEP 691 JSON).

Parse the request, ask views.ViewService, render; the rules and the resolution live there."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import Blueprint, Response, jsonify, redirect, request, url_for

from ..core import simple as pages
from ..core.errors import NotFound
from ..core.names import canonical
from ..core.records import PROVENANCE_SUFFIX
from ..index.service import FileFacts
from ..views.releases import Links, Releases
from ..views.service import Gathered, HostedFile, HostedLink, UpstreamOffer
from . import files
from .context import views
from .fallback import fetched_response
from .pages import cached_page, page_cache

bp = Blueprint("indexes", __name__)


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
    svc, fmt = views(), _format()
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
    svc, fmt = views(), _format()
    gathered = svc.gather(svc.view(name), normal)
    key = (*gathered.key, fmt, request.script_root)

    def render() -> str:
        page = svc.page(gathered, *_hosted_links(gathered.view.name)).page
        return pages.project_json(page) if fmt == pages.JSON_V1 else pages.project_html(page)

    etag = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    mimetype = fmt if fmt != pages.TEXT_HTML else "text/html"
    return cached_page(etag, gathered.last_modified, mimetype, key, render)


def _download_url(name: str, project: str, filename: str, external: bool = False) -> str:
    """A file's download URL scoped to the view (a filename is one file in a view, whatever its index)."""
    return url_for("indexes.download", name=name, project=project, filename=filename, _external=external)


def _hosted_links(name: str) -> tuple[HostedLink, HostedLink]:
    """A view's links to its hosted files and their PEP 740 provenance (absolute, as the spec requires):
    downloads scoped to the view, so a file it filters out is never served through it."""
    return (lambda project, filename, _index: _download_url(name, project, filename),
            lambda project, filename, _index: _download_url(name, project, filename + PROVENANCE_SUFFIX,
                                                            True))  # fmt: skip


def _offered(gathered: Gathered) -> dict[str, HostedFile | UpstreamOffer]:
    """The files the view offers now (hosted, and upstream ones in cache mode), kept as long as the page's
    own key (serials, the cooldown's minute, the upstream pages' digests)."""
    return page_cache().remember((*gathered.key, "offered"), lambda: views().offered(gathered))


@bp.route("/<name>/packages/<project>/<filename>", methods=["GET", "HEAD"])
def download(name: str, project: str, filename: str) -> Response:
    """A hosted file of a view, its .metadata (PEP 658) or .provenance (PEP 740): served only when the view's
    resolution offers it now to this asker (rules, cooldown, snapshot, pins; a hidden project is missing).
    A file of an upstream member in cache mode is fetched into that index on its first download."""
    svc, normal = views(), canonical(project)
    dist_name, suffix = files.split_suffix(filename)
    offered = _offered(svc.gather(svc.view(name), normal)).get(dist_name)
    if offered is None:
        raise NotFound(f"No file {dist_name!r} of project {normal!r} in {name!r}.")
    if isinstance(offered, UpstreamOffer):
        upstream = offered
        held = fetched_response(lambda streams: svc.fetch(normal, upstream, suffix, streams), dist_name)
        if isinstance(held, Response):
            return held  # the metadata or the stream of a file fetched now, or a refusal
        offered = HostedFile(upstream.index, FileFacts.of(held))
    response = files.serve(offered.facts, suffix, offered.index)
    if "Cache-Control" in response.headers:  # kept, but asked again each time (a 304 by ETag): a view may
        shared = "public" if response.headers["Cache-Control"].startswith("public") else "private"
        response.headers["Cache-Control"] = f"{shared}, no-cache"  # stop offering it (a yank, a new rule)
    return response


def _releases(name: str, project: str) -> Releases:
    svc = views()
    gathered = svc.gather(svc.view(name), canonical(project))
    holder = gathered.holder
    chosen = svc.linked(gathered.name, svc.chosen(gathered), lambda p, f, _index: _download_url(name, p, f, True))
    return Releases.of(holder.display or gathered.name, holder.status, holder.reason, gathered.serial, chosen)


def links(name: str, project: str) -> Links:
    """The URLs of an index's or view's JSON API answers (downloads scoped to it)."""

    return Links(
        file=lambda p, filename: _download_url(name, p, filename, True),
        project=url_for("indexes.project", name=name, project=project, _external=True),
        release=lambda v: url_for("indexes.version_json", name=name, project=project, version=v, _external=True),
    )


@bp.get("/<name>/pypi/<project>/json")
def project_json(name: str, project: str) -> Response:
    """PyPI's JSON API for a project as an index or view offers it (views.releases says what an upstream-only
    release's `info` holds)."""
    normal = canonical(project)
    return jsonify(_releases(name, normal).project_json(links(name, normal)))


@bp.get("/<name>/pypi/<project>/<version>/json")
def version_json(name: str, project: str, version: str) -> Response:
    """PyPI's JSON API for one release as an index or view offers it."""
    normal = canonical(project)
    return jsonify(_releases(name, normal).version_json(version, links(name, normal)))
