"""Blueprint `ui`: the pages people read in a browser (server-rendered; a little JavaScript, never required)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ui", __name__, template_folder="../templates", static_folder="../static", static_url_path="/assets")

from . import account, admin, browse, common, project  # noqa: E402  (they add their views to bp)

__all__ = ["account", "admin", "bp", "browse", "common", "project"]
