"""The home page: how many projects the visitor may read, sorted by last upload or name, paged both ways;
a search ranked by the database's full-text index."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request

from ...auth import READ, Principal
from ...core.names import DEFAULT_INDEX
from ...extensions import db
from ...index.browse import SORTS, ProjectBrowser, ProjectRow
from ..context import principal, runtime
from . import bp, scope
from .common import PER_PAGE, login_redirect, may_browse, page_number


def readable_count(who: Principal | None, browser: ProjectBrowser) -> int:
    """How many listed projects `who` may read, without reading them all: every project when the defaults
    let them read (less those whose grants say no), else only the granted ones they may read."""
    access = runtime().access
    total = browser.count()
    if access.is_admin(who):
        return total
    granted = sorted({g.project for g in access.backend.list_grants()})
    if who is not None and who.via_token and who.token_projects is not None:
        granted, total = sorted(set(who.token_projects)), 0  # a scoped token reads only its projects
    listed = browser.listed(granted)
    readable = len(access.visible(who, [(name,) for name in listed]))
    if total and access.can(who, READ):
        return total - len(listed) + readable
    return readable


@bp.get("/")
def home() -> Response | str:
    """Projects and a search box: `?sort=name|updated`, `?after=`/`?before=` page a listing, `?q=` searches
    (`?page=` pages it); `?partial=1` is the list alone (the live search swaps it in)."""
    who = principal()
    if not may_browse(who):
        return login_redirect()
    query = request.args.get("q", "").strip()
    sort = request.args.get("sort", SORTS[0])
    sort = sort if sort in SORTS else SORTS[0]
    access = runtime().access
    view = scope.current()
    browser = ProjectBrowser(db.session, indexes=scope.hosted(view) if view is not None else (DEFAULT_INDEX,))
    admits = scope.admits(view) if view is not None else None
    hidden = view is None and not access.can_index(who, READ, DEFAULT_INDEX)  # a private built-in index

    def readable(rows: list[ProjectRow]) -> list[ProjectRow]:
        if hidden:
            return []
        seen = access.visible(who, rows)
        if admits is None:
            return seen
        kept: dict[str, ProjectRow] = {}  # a project several members hold: once
        for row in seen:
            if admits(row[0]):
                kept.setdefault(row[0], row)
        return list(kept.values())

    if query:
        page = browser.search(query, page_number(), PER_PAGE, readable)
        count = page.total
    else:
        page = browser.listing(sort, request.args.get("after"), request.args.get("before"), PER_PAGE, readable)
        count = scope.readable_count(view) if view is not None else 0 if hidden else readable_count(who, browser)
    rows: list[ProjectRow] = page.rows
    context: dict[str, Any] = {"rows": rows, "page": page, "query": query, "sort": sort, "count": count,
                               **scope.context(view)}  # fmt: skip
    if request.args.get("partial"):
        return render_template("_project_list.html", **context)
    empty = not rows and not query and page.previous is None and view is None  # a scope may list none
    return render_template("home.html", empty=empty, **context)
