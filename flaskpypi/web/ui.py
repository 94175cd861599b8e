"""Blueprint `ui`: the pages people read in a browser."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from .context import index, principal, runtime

bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


@bp.get("/")
def home() -> str:
    """The projects the visitor may read, and how to use this index."""
    access, who = runtime().access, principal()
    names = access.visible(who, index().project_names())
    return render_template("home.html", projects=names, index_url=request.url_root + "simple/", user=who)
