"""What every page of the UI shares: CSRF on every change, the header's facts, errors as pages, paging."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ...auth import READ, Principal, UserStore
from ...core.errors import Refusal, Unauthorized
from ...extensions import csrf, db
from ..context import principal, runtime
from . import bp

T = TypeVar("T")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PER_PAGE = 50


@bp.before_request
def _protect() -> None:
    """Every form of the UI carries the CSRF token (the app checks none by default: the APIs use basic auth)."""
    if request.method not in SAFE_METHODS:
        csrf.protect()


@bp.app_context_processor
def _header() -> dict[str, Any]:
    """The facts the header shows: who is logged in, whether they administer, this index's URL."""
    try:
        who = principal()
    except Refusal:
        who = None
    access = runtime().access
    admin = access.is_admin(who)
    return {
        "who": who,
        "is_admin": admin,
        "pending_count": _pending_count() if admin else 0,
        "index_url": index_url(),
        "index_name": "flaskpypi",
    }


def _pending_count() -> int:
    store = runtime().access.backend
    return len(store.list_users("pending")) if isinstance(store, UserStore) else 0


@bp.app_template_filter("filesize")
def filesize(size: int | None) -> str:
    """Bytes for people: 812 B, 14.2 KB, 3.1 MB."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


@bp.app_template_filter("when")
def when(moment: datetime | None) -> str:
    """A UTC time to the minute: 2026-01-31 14:05 UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def index_url() -> str:
    """The simple index URL clients take (pip -i, twine, poetry), as this request reached the server."""
    return url_for("simple.root", _external=True)


def safe_target(target: str | None, default: str | None = None) -> str:
    """A local path to go to after a form; anything else (another site) goes to `default` or home."""
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default or url_for("ui.home")
    return target


def back(default: str | None = None) -> str:
    """Where a form returns to: its `next` field, else the page it was sent from (same site only), else the
    page at the form's own URL when there is one (/upload, /admin/users), else `default` or home."""
    target = request.form.get("next") or request.args.get("next")
    if not target and request.referrer:
        parts = urlsplit(request.referrer)
        if parts.netloc == request.host:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
    if not target and current_app.url_map.bind_to_environ(request.environ).test(request.path, method="GET"):
        target = request.path
    return safe_target(target, default)


def done(message: str, target: str | None = None) -> Response:
    """Say what happened on the next page (post/redirect/get)."""
    flash(message, "success")
    return redirect(target or back(), 303)


def login_redirect() -> Response:
    """To the login page, coming back here afterwards."""
    path = request.full_path if request.query_string else request.path
    return redirect(url_for("account.login", next=path), 303 if request.method not in SAFE_METHODS else 302)


def logged_in() -> Principal:
    """The logged-in principal, or Unauthorized (the error handler sends browsers to the login page)."""
    who = principal()
    if who is None:
        raise Unauthorized("Log in first.")
    return who


def may_browse(who: Principal | None) -> bool:
    """Whether an anonymous visitor may look around (the defaults let everyone read)."""
    return who is not None or runtime().access.can(None, READ)


@bp.errorhandler(Refusal)
def _refusal(exc: Refusal) -> Response | tuple[str, int]:
    """A refused form goes back with the reason shown; a refused page is an error page with the status."""
    db.session.rollback()
    if isinstance(exc, Unauthorized) and principal_or_none() is None:
        return login_redirect()
    if request.method not in SAFE_METHODS:
        flash(exc.message, "error")
        return redirect(back(), 303)
    return error_page(exc.status, exc.message)


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> tuple[str, int]:
    return error_page(400, "The form expired or came from another site. Reload the page and try again.")


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response | tuple[str, int]:
    if exc.code is None or exc.code < 400:
        return exc.get_response()
    return error_page(exc.code, exc.description or exc.name)


def principal_or_none() -> Principal | None:
    """The principal, or None when the credentials themselves were refused."""
    try:
        return principal()
    except Refusal:
        return None


def error_page(status: int, message: str) -> tuple[str, int]:
    """An HTML page with the status and the one-line reason."""
    titles = {400: "Bad request", 401: "Log in required", 403: "Not allowed", 404: "Not found",
              409: "Conflict", 413: "Too large", 429: "Too many attempts"}  # fmt: skip
    return render_template("error.html", status=status, title=titles.get(status, "Error"), message=message), status


@dataclass
class Page(Generic[T]):
    """One page of an in-memory listing."""

    items: Sequence[T]
    number: int
    pages: int
    total: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def page_number() -> int:
    """The `page` query argument (1 when missing or odd)."""
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def paginate(items: Sequence[T], number: int | None = None, per_page: int = PER_PAGE) -> Page[T]:
    """Cut a listing into pages; a page past the end shows the last one."""
    pages = max(1, math.ceil(len(items) / per_page))
    number = min(number or page_number(), pages)
    start = (number - 1) * per_page
    return Page(items[start : start + per_page], number, pages, len(items))
