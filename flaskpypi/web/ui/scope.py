"""Browsing by index and view (issue 14): `?index=<name>` scopes the home page to the projects a view's hosted
members hold and admit, and a project page to the files the view offers, each with the index it came from.

Everything comes from views.ViewService, as the simple pages of the view do: the same rules, resolution and
permissions (a project the visitor may not read is missing here too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import render_template, request, url_for

from ...core.views import HOSTED, ViewConfig
from ...index.models import File
from ...index.service import sort_key
from ..context import runtime, views

SCOPE_ARG = "index"


@dataclass(frozen=True)
class Scope:
    """An index or view the selector offers."""

    name: str
    kind: str  # "index" or "view"
    description: str


def scopes() -> list[Scope]:
    """Every view and every index the visitor may read; empty when there is nothing to choose (the built-in
    index alone)."""
    layout, readable = runtime().layout, views().readable
    found = [Scope(i.name, "index", f"{i.type} index" + (f": {i.description}" if i.description else ""))
             for i in layout.indexes.values() if i.name in readable]  # fmt: skip
    found += [Scope(v.name, "view", "view of " + ", ".join(m.index for m in v.members)) for v in layout.views.values()]
    return found if len(found) > 1 else []


def current() -> ViewConfig | None:
    """The index or view the visitor asked for (`?index=`), None for the built-in index's own pages.
    Raises NotFound for a name that is neither."""
    name = request.args.get(SCOPE_ARG, "").strip()
    return views().view(name) if name else None


def hosted(view: ViewConfig) -> list[str]:
    """The view's hosted members (the indexes its home page lists), in priority order."""
    return [m.index for m in view.members if runtime().layout.indexes[m.index].type == HOSTED]


def admits(view: ViewConfig) -> Callable[[str], bool]:
    """Whether a hosted member of the view may supply a (normalised) project: its name rules."""
    members = [m for m in view.members if m.index in hosted(view)]
    return lambda name: any(m.admits(name) for m in members)


def readable_count(view: ViewConfig) -> int:
    """How many projects the view lists to the visitor (its root page's length)."""
    return len(views().project_names(view))


@dataclass(frozen=True)
class OfferedFile:
    """A file a view offers, as the project page shows it."""

    filename: str
    version: str
    index: str
    url: str
    size: int | None
    upload_time: datetime | None
    yanked: bool
    yanked_reason: str
    requires_python: str


def offered(view: ViewConfig, project: str) -> tuple[str, str, list[OfferedFile]]:
    """(display name, PEP 792 status, files newest version first) of a project in a view. Raises NotFound or
    Unauthorized as the view's simple page does."""
    svc = views()
    gathered = svc.gather(view, project)
    files = []
    for chosen in svc.chosen(gathered):
        item = chosen.file.item
        hosted = isinstance(item, File)
        url = (
            url_for("indexes.download", name=view.name, project=project, filename=item.filename) if hosted else item.url
        )
        files.append(OfferedFile(item.filename, item.version, chosen.index, url, item.size, item.upload_time,
                                 item.yanked, item.yanked_reason or "", item.requires_python or ""))  # fmt: skip
    files.sort(key=lambda f: (sort_key(f.version), f.filename), reverse=True)
    holder = gathered.holder
    return holder.display or project, holder.status, files


def project_page(view: ViewConfig, project: str) -> str:
    """A project as one index or view offers it: its files by version, each with the index it came from."""
    display, status, files = offered(view, project)
    versions: dict[str, list[OfferedFile]] = {}
    for f in files:
        versions.setdefault(f.version, []).append(f)
    return render_template("project_view.html", name=project, display=display, status=status, view=view,
                           versions=versions, **context(view))  # fmt: skip


def context(view: ViewConfig | None) -> dict[str, Any]:
    """What the selector and the install snippets need: the choices, the chosen one and its simple URL."""
    scope_url = url_for("indexes.root", name=view.name, _external=True) if view else None
    return {"scopes": scopes(), "scope": view.name if view else "", "scope_url": scope_url}
