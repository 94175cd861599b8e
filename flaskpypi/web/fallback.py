"""The upstream fallback in the web layer: pypicloud's table per request, merged pages, downloads of files
not cached yet, and the admins' per-project upstream settings (blueprint `fallback`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask import Blueprint, Response, current_app, g, jsonify, redirect, request, stream_with_context, url_for

from ..auth import READ
from ..auth.policy import CACHE as CACHE_PERMISSION
from ..core import simple as pages
from ..core.dists import content_type
from ..core.errors import BadRequest, NotFound, Unauthorized, UpstreamError
from ..core.names import canonical
from ..core.records import METADATA_SUFFIX
from ..extensions import db
from ..index.cached import CacheIndex, LocalFacts
from ..index.models import File, Project
from ..index.service import sort_key
from ..upstream import (
    CACHE,
    FALLBACKS,
    MIRROR,
    NONE,
    Listing,
    Overrides,
    Upstream,
    UpstreamConfig,
    effective_mode,
    listing_for,
)
from ..upstream.listing import merge
from ..upstream.policy import FALLBACK_KEY, MERGE_KEY, MIN_AGE_EXEMPT_KEY
from .context import index, principal, require_admin, runtime
from .errors import refusal_response
from .pages import cached_page, page_cache

bp = Blueprint("fallback", __name__)
LocalPage = Callable[[Project], pages.SimpleProject]


def upstream() -> Upstream:
    """The app's upstream service (built on first use; its state lives in the storage and the database)."""
    rt = runtime()
    if rt.upstream is None:
        config = UpstreamConfig.from_settings(rt.settings, current_app.instance_path)
        rt.upstream = Upstream(config, rt.storage, db.engine)
    return rt.upstream


def cache_index() -> CacheIndex:
    """This request's index service, as the fallback uses it."""
    if "cache_index" not in g:
        rt = runtime()
        g.cache_index = CacheIndex(db.session, rt.storage, rt.policy)
    return g.cache_index


@dataclass(frozen=True)
class Plan:
    """How one request for a project page is answered, and the facts the answer rests on."""

    name: str
    listing: Listing
    mode: str
    facts: LocalFacts
    overrides: Overrides


def _mode(name: str, project: Project | None) -> tuple[str, LocalFacts, Overrides]:
    """The fallback mode that applies to a project after the dependency-confusion rules."""
    overrides = Overrides.from_settings(project.settings if project is not None else None)
    default = runtime().settings.fallback
    if (overrides.fallback or default) == NONE:
        return NONE, LocalFacts(project), overrides
    facts = cache_index().facts(project)
    return effective_mode(default, name, upstream().config.names, overrides, facts.private), facts, overrides


def plan_listing(name: str) -> Plan:
    """Apply pypicloud's fallback table to this asker and project."""
    access, who = runtime().access, principal()
    project = index().project(name)
    mode, facts, overrides = _mode(name, project)
    held = project is not None and (facts.live > 0 or mode == NONE)
    read = access.can(who, READ, name)
    cache = mode != NONE and access.can(who, CACHE_PERMISSION, name)
    listing = listing_for(mode, held, read, cache, who is not None, cached_only=not facts.private)
    if project is not None and not read and access.can(who, READ):
        listing = Listing.NOT_FOUND  # hidden from this asker: a missing project's 404, never the upstream's page
    return Plan(name, listing, mode, facts, overrides)


def respond(plan: Plan, fmt: str, local_page: LocalPage) -> Response:
    """Every answer but a plain local page: refusals, the redirect, and pages merged with the upstream's."""
    if plan.listing is Listing.LOGIN:
        raise Unauthorized("Authentication required.")
    if plan.listing is Listing.NOT_FOUND:
        raise NotFound(f"No project named {plan.name!r}.")
    if plan.listing is Listing.REDIRECT:
        return redirect(upstream().project_url(plan.name), 302)
    up = upstream()
    try:
        page = up.page(plan.name)
    except UpstreamError as exc:
        if not plan.facts.live:
            return refusal_response(502, exc.message)  # the upstream's health logged it once already
        page = None
    project = plan.facts.project
    if page is None and not plan.facts.live:
        raise NotFound(f"No project named {plan.name!r}, here or upstream.")
    now = time.time()
    offered = up.offered(page, plan.overrides.min_age_exempt, now)
    bucket = int(now // 60) if up.config.min_age else 0
    serial = project.serial if project is not None else 0
    digest = page.digest if page is not None else "-"
    key = ("upstream", plan.name, serial, digest, bucket, plan.listing.name, fmt, request.script_root)
    etag = f"{serial}-{digest}-{bucket}-{plan.listing.name.lower()}-{fmt.rsplit('.', 1)[-1]}"

    def render() -> str:
        local = local_page(project) if project is not None else pages.SimpleProject(plan.name, [], [])
        link = None
        if plan.listing in (Listing.UPSTREAM, Listing.LOCAL_UPSTREAM):
            link = lambda f: url_for("files.download", project=plan.name, filename=f.filename)  # noqa: E731
        merged = merge(local, page, offered, link=link, cached=plan.facts.cached, hidden=plan.facts.tombstones,
                       order=sort_key)  # fmt: skip
        return pages.project_json(merged) if fmt == pages.JSON_V1 else pages.project_html(merged)

    mimetype = fmt if fmt != pages.TEXT_HTML else "text/html"
    return cached_page(etag, None, mimetype, lambda: page_cache().get(key, render))


def fetch(name: str, filename: str, suffix: str) -> File | Response:
    """A file the index does not hold: in cache and mirror modes, fetched from upstream for those who
    may update the cache; small files are verified before the answer, large ones stream while stored."""
    rt, who = runtime(), principal()
    project = index().project(name)
    mode, facts, overrides = _mode(name, project)
    missing = NotFound(f"No file {filename!r} in project {name!r}.")
    if mode not in (CACHE, MIRROR) or filename in facts.tombstones or suffix not in ("", METADATA_SUFFIX):
        raise missing
    if project is not None and project.status == "quarantined":
        raise NotFound(f"Project {project.display_name!r} is quarantined (PEP 792).")
    if not rt.access.can(who, CACHE_PERMISSION, name):
        if who is None:
            raise Unauthorized("Authentication required: fetching from the upstream needs cache_update.")
        raise missing
    up, idx = upstream(), cache_index()
    try:
        wanted = up.find(name, filename, overrides.min_age_exempt)
        if suffix == METADATA_SUFFIX:
            response = Response(up.files.metadata(name, wanted), mimetype="text/plain")
            response.set_etag(wanted.metadata_sha256 or "")
            return response
        args = (name, wanted, lambda: idx.is_cached(filename), idx.add_cached)
        streams = request.method == "GET" and request.range is None
        if streams and (wanted.size is None or wanted.size >= up.config.stream_size):
            chunks = up.files.stream(*args)
            first = next(chunks, b"")  # failures before the first byte still get a clear 502
            body = stream_with_context(_primed(first, chunks))
            response = Response(body, mimetype=content_type(filename), direct_passthrough=True)
            if wanted.size is not None:
                response.content_length = wanted.size
            response.set_etag(wanted.sha256)
            return response
        up.files.ensure(*args)
    except UpstreamError as exc:
        return refusal_response(502, exc.message)
    return index().require_file(name, filename)


def _primed(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """The stream again, its first chunk put back; closing it closes the fetch (and frees its lock)."""
    try:
        yield first
        yield from rest
    finally:
        rest.close()  # type: ignore[attr-defined]


# -- the admins' per-project upstream settings ---------------------------------------------------------


def _settings_json(name: str) -> Response:
    project = index().project(name)
    mode, facts, overrides = _mode(name, project)
    return jsonify(
        project=name,
        fallback=runtime().settings.fallback,
        effective=mode,
        overrides={
            FALLBACK_KEY: overrides.fallback,
            MERGE_KEY: overrides.merge,
            MIN_AGE_EXEMPT_KEY: overrides.min_age_exempt,
        },
        private=facts.private,
        blocked=upstream().config.names.blocked(name),
        cached_files=sorted(facts.cached),
    )


@bp.get("/api/projects/<project>/upstream")
def upstream_settings(project: str) -> Response:
    """How the upstream fallback applies to a project (admins)."""
    require_admin()
    return _settings_json(canonical(project))


@bp.put("/api/projects/<project>/upstream")
def set_upstream_settings(project: str) -> Response:
    """Override the fallback mode, allow merging a private project with upstream, exempt from min age."""
    require_admin()
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not set(data) <= {FALLBACK_KEY, MERGE_KEY, MIN_AGE_EXEMPT_KEY}:
        raise BadRequest(f"Send a JSON object with any of {FALLBACK_KEY}, {MERGE_KEY}, {MIN_AGE_EXEMPT_KEY}.")
    if data.get(FALLBACK_KEY) not in (None, *FALLBACKS):
        raise BadRequest(f"Unknown fallback {data[FALLBACK_KEY]!r}; use one of {', '.join(FALLBACKS)} or null.")
    for key in (MERGE_KEY, MIN_AGE_EXEMPT_KEY):
        if data.get(key) not in (None, True, False):
            raise BadRequest(f"{key} is true, false or null.")
    cache_index().set_project_settings(project, {k: (v or None) if k != FALLBACK_KEY else v for k, v in data.items()})
    return _settings_json(canonical(project))
