"""The upstream fallback in the web layer (blueprint `fallback`): parse the request, ask the views.Fallback
service, render its answer. The decisions themselves live in flaskpypi.views."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, g, jsonify, redirect, request, stream_with_context, url_for

from ..core import simple as pages
from ..core.dists import content_type
from ..core.errors import UpstreamError
from ..core.names import canonical
from ..extensions import db
from ..index.models import File, Project
from ..views import Fallback, FetchedMetadata, FetchedStream, Plan, Redirect
from .context import local_project, principal, require_admin, runtime
from .errors import refusal_response
from .pages import cached_page

bp = Blueprint("fallback", __name__)
LocalPage = Callable[[Project], pages.SimpleProject]


def service() -> Fallback:
    """This request's fallback service (one SQL session per request, this request's asker)."""
    if "fallback" not in g:
        rt = runtime()
        g.fallback = Fallback(db.session, rt.storage, rt.policy, rt.upstream, rt.access, principal(),
                              rt.settings.fallback, local_project)  # fmt: skip
    return g.fallback


def plan_listing(name: str) -> Plan:
    """Apply pypicloud's fallback table to this asker and project."""
    return service().plan(name)


def respond(plan: Plan, fmt: str, local_page: LocalPage) -> Response:
    """Every answer but a plain local page: refusals, the redirect, and pages merged with the upstream's."""
    try:
        answer = service().answer(plan)
    except UpstreamError as exc:
        return refusal_response(502, exc.message)  # the upstream's health logged it once already
    if isinstance(answer, Redirect):
        return redirect(answer.url, 302)
    project = plan.facts.project

    def render() -> str:
        local = local_page(project) if project is not None else None
        link = lambda f: url_for("files.download", project=plan.name, filename=f.filename)  # noqa: E731
        merged = answer.build(local, link)
        return pages.project_json(merged) if fmt == pages.JSON_V1 else pages.project_html(merged)

    mimetype = fmt if fmt != pages.TEXT_HTML else "text/html"
    key = (*answer.key(fmt), request.script_root)
    return cached_page(answer.etag(fmt), None, mimetype, key, render)


def fetch(name: str, filename: str, suffix: str) -> File | Response:
    """A file the index does not hold, fetched from upstream when this asker may (see Fallback.fetch)."""
    return fetched_response(lambda streams: service().fetch(name, filename, suffix, streams), filename)


def fetched_response(fetch: Callable[[bool], File | FetchedMetadata | FetchedStream], filename: str) -> File | Response:
    """Run a fetch from an upstream (told whether it may stream: a GET without a Range) and answer with what
    it gave: a held file's row (for files.serve), the core metadata, the stream, or a 502 when it failed."""
    try:
        fetched = fetch(request.method == "GET" and request.range is None)
    except UpstreamError as exc:
        return refusal_response(502, exc.message)
    if isinstance(fetched, FetchedMetadata):
        response = Response(fetched.data, mimetype="text/plain")
        response.set_etag(fetched.sha256)
        return response
    if isinstance(fetched, FetchedStream):
        body = stream_with_context(fetched.chunks)
        response = Response(body, mimetype=content_type(filename), direct_passthrough=True)
        if fetched.size is not None:
            response.content_length = fetched.size
        response.set_etag(fetched.sha256)
        return response
    return fetched


# -- the admins' per-project upstream settings ---------------------------------------------------------


@bp.get("/api/projects/<project>/upstream")
def upstream_settings(project: str) -> Response:
    """How the upstream fallback applies to a project (admins)."""
    require_admin()
    return jsonify(service().settings_report(canonical(project)))


@bp.put("/api/projects/<project>/upstream")
def set_upstream_settings(project: str) -> Response:
    """Override the fallback mode, allow merging a private project with upstream, exempt from min age."""
    require_admin()
    return jsonify(service().change_settings(project, request.get_json(silent=True)))
