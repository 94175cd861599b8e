"""The home page: the projects the visitor may read, newest activity first, searched on the server."""

from __future__ import annotations

from flask import Response, render_template, request

from ...extensions import db
from ...index.browse import Cursor, ProjectBrowser, ProjectRow
from ..context import principal, runtime
from . import bp
from .common import PER_PAGE, login_redirect, may_browse


@bp.get("/")
def home() -> Response | str:
    """Projects and a search box; `?q=` searches, `?after=` pages on; `?partial=1` is the list alone (live search)."""
    who = principal()
    if not may_browse(who):
        return login_redirect()
    query = request.args.get("q", "").strip()
    access = runtime().access
    page = ProjectBrowser(db.session).page(
        query, Cursor.decode(request.args.get("after")), PER_PAGE, lambda rows: access.visible(who, rows)
    )
    rows: list[ProjectRow] = [page.exact, *page.rows] if page.exact else page.rows
    context = {"rows": rows, "page": page, "query": query, "first_page": not request.args.get("after")}
    if request.args.get("partial"):
        return render_template("_project_list.html", **context)
    empty = not rows and not query and context["first_page"]
    return render_template("home.html", empty=empty, **context)
