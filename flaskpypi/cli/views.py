"""`flaskpypi index list` and `flaskpypi view list`: the indexes and views the settings describe."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ..core.views import MemberRules, ViewConfig
from ..extensions import db
from ..index.hosted import index_counts
from .output import emit, json_option


def _rules(member: MemberRules) -> str:
    """A member's rules in the settings' own words (empty: none)."""
    parts = [f"{key}={','.join(getattr(member, key))}" for key in ("allow", "deny", "pin") if getattr(member, key)]
    parts += [f"versions[{pattern}]={spec}" for pattern, spec in member.versions]
    parts += [f"{key}=false" for key in ("prereleases", "yanked") if not getattr(member, key)]
    if member.min_age:
        parts.append(f"min_age={member.min_age}s")
    if member.uploaded_before is not None:
        parts.append(f"uploaded_before={member.uploaded_before.isoformat()}")
    if member.files != "all":
        parts.append(f"files={member.files}")
    return " ".join(parts)


def _view_row(view: ViewConfig, default: str) -> dict[str, Any]:
    members = [m.index + (f" ({_rules(m)})" if _rules(m) else "") for m in view.members]
    return {"name": view.name, "resolve": view.resolve, "default": view.name == default, "members": members}


@click.group("index")
def index() -> None:
    """The indexes: the built-in hosted one ('default') and those of [indexes.<name>]."""


@index.command("list")
@json_option
@with_appcontext
def list_indexes(as_json: bool) -> None:
    """Every index with its type (upstream URLs without credentials), and the projects and live files each
    hosted or caching index holds."""
    runtime = current_app.extensions["flaskpypi"]
    layout = runtime.layout
    counts = index_counts(db.session, runtime.storage, layout.stored())
    rows = [{**i.to_public(), "default": i.name == layout.default_index,
             "projects": counts[i.name][0] if i.name in counts else None,
             "files": counts[i.name][1] if i.name in counts else None} for i in layout.indexes.values()]  # fmt: skip
    emit(rows, ["name", "type", "default", "projects", "files", "url", "mode", "description"], as_json)


@click.group("view")
def view() -> None:
    """The views of [views.<name>]: members in priority order with their rules."""


@view.command("list")
@json_option
@with_appcontext
def list_views(as_json: bool) -> None:
    """Every view with its resolution and members (and their rules)."""
    layout = current_app.extensions["flaskpypi"].layout
    emit([_view_row(v, layout.default_view) for v in layout.views.values()],
         ["name", "resolve", "default", "members"], as_json)  # fmt: skip
