"""A user's own settings: the password and API tokens (the services of the admin API, audited the same way)."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, render_template, request, url_for

from ...auth import WRITE, Principal
from ...auth.tokens import TokenStore
from ...core.errors import BadRequest, Conflict, Forbidden
from ...core.records import utcnow
from ...extensions import db
from ..access import access_admin
from ..context import client_address, runtime
from ..session import log_in
from . import bp
from .common import done, logged_in, paginate

MAX_TOKEN_DAYS = 3650


def _password_user() -> Principal:
    """The logged-in user; a token may not manage tokens or passwords."""
    who = logged_in()
    if who.via_token:
        raise Forbidden("Manage your account with your password or a browser session, not with a token.")
    return who


@bp.get("/account/password")
def password_form() -> str:
    """The form to change one's password."""
    _password_user()
    return render_template("account/password.html")


@bp.post("/account/password")
def change_password() -> Response:
    """Change the password after checking the current one (failures count toward the login throttle)."""
    who = _password_user()
    form = request.form
    admin = access_admin()
    if admin.store.get_user(who.name) is None:
        raise Conflict(f"The account {who.name!r} is defined in the configuration file; change its password there.")
    authenticator = runtime().authenticator
    if authenticator.authenticate(who.name, form.get("current", ""), client_address()) is None:
        raise BadRequest("The current password is wrong.")
    if form.get("new", "") != form.get("confirm", ""):
        raise BadRequest("The new passwords differ.")
    admin.set_password(who.name, form.get("new", ""))
    log_in(who.name)  # set_password ended every session of theirs; this browser gets a new one
    return done("Your password was changed.", url_for("ui.password_form"))


def _token_page(created: tuple | None = None, status: int = 200) -> tuple[str, int]:
    who = _password_user()
    tokens = paginate(TokenStore(db.session).list(who.name))
    return render_template("account/tokens.html", tokens=tokens, created=created), status


@bp.get("/account/tokens")
def tokens() -> tuple[str, int]:
    """The user's API tokens (never their secrets) and the form for a new one."""
    return _token_page()


def parse_projects(text: str) -> list[str] | None:
    """Project names separated by commas or spaces; none means every project the owner may use."""
    names = [p for p in text.replace(",", " ").split() if p]
    return names or None


def parse_days(text: str) -> timedelta | None:
    """A lifetime in days (blank: no expiry)."""
    if not text.strip():
        return None
    try:
        days = float(text)
    except ValueError:
        raise BadRequest("The lifetime is a number of days.")
    if not 0 < days <= MAX_TOKEN_DAYS:
        raise BadRequest(f"The lifetime is between 1 and {MAX_TOKEN_DAYS} days.")
    return timedelta(days=days)


@bp.post("/account/tokens")
def create_token() -> tuple[str, int]:
    """Make a token and show it this once (it is not kept; the page is not cached)."""
    who = _password_user()
    form = request.form
    lifetime = parse_days(form.get("expires_days", ""))
    info, text = access_admin().create_token(
        who.name,
        permission=form.get("permission", WRITE),
        projects=parse_projects(form.get("projects", "")),
        expires=utcnow() + lifetime if lifetime else None,
        description=form.get("description", "").strip(),
    )
    return _token_page((info, text), 201)


@bp.post("/account/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> Response:
    """Revoke one of the user's tokens."""
    who = _password_user()
    info = access_admin().revoke_token(token_id, owner=who.name)
    return done(f"Revoked token {info.description or info.id}.", url_for("ui.tokens"))


@bp.after_request
def _no_store(response: Response) -> Response:
    """Pages that may show a fresh token or admin data are never stored by the browser or a proxy."""
    if request.endpoint and request.endpoint.startswith(("ui.create_token", "ui.tokens", "ui.admin")):
        response.headers["Cache-Control"] = "no-store"
    return response
