"""Blueprint `account`: log in, log out and register (server-rendered forms, CSRF-protected)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, make_response, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..auth import TOKEN_USER
from ..auth.admin import AccessAdmin
from ..auth.audit import Actor
from ..core.errors import Refusal, TooManyRequests
from ..extensions import db
from .context import client_address, runtime
from .session import log_in, log_out

bp = Blueprint("account", __name__, url_prefix="/account")


class LoginForm(FlaskForm):
    """User name and password."""

    username = StringField("User name", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class RegisterForm(FlaskForm):
    """A request for an account, which an admin approves."""

    username = StringField("User name", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=1024)])
    confirm = PasswordField("Repeat the password", validators=[EqualTo("password", "The passwords differ.")])


class LogoutForm(FlaskForm):
    """Only the CSRF token: logging out is a POST."""


def _safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else goes home (no open redirect)."""
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("ui.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    """The login form; failures are throttled per user and per address like HTTP basic auth."""
    form = LoginForm(next=request.args.get("next", ""))
    error, status, headers = None, 200, {}
    if form.validate_on_submit():
        username = form.username.data or ""
        try:
            found = None
            if username != TOKEN_USER:
                authenticator = runtime().authenticator
                found = authenticator.authenticate(username, form.password.data or "", client_address())
        except TooManyRequests as exc:
            error, status, headers = exc.message, 429, {"Retry-After": str(exc.retry_after)}
        else:
            if found is not None:
                log_in(found.name)
                return redirect(_safe_next(form.next.data))
            error, status = "Wrong user name or password (or the account awaits approval).", 401
    elif request.method == "POST":
        error, status = _form_error(form), 400
    page = render_template("account/login.html", form=form, error=error,
                           registration=runtime().settings.registration != "closed")  # fmt: skip
    return make_response(page, status, headers)


@bp.post("/logout")
def logout() -> Response:
    """End the session, server-side too (a POST with the CSRF token, so other sites cannot log you out)."""
    form = LogoutForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    log_out()
    return redirect(url_for("ui.home"))


@bp.route("/register", methods=["GET", "POST"])
def register() -> Response | str:
    """Ask for an account; it waits as pending until an admin approves it (registration = approval)."""
    if runtime().settings.registration == "closed":
        abort(404)
    form = RegisterForm()
    error, status, done = None, 200, False
    if form.validate_on_submit():
        name = form.username.data or ""
        try:
            AccessAdmin(runtime().access, db.session, Actor(name, client_address())).register(
                name, form.password.data or ""
            )
            done = True
        except Refusal as exc:
            db.session.rollback()
            error, status = exc.message, exc.status
    elif request.method == "POST":
        error, status = _form_error(form), 400
    return make_response(render_template("account/register.html", form=form, error=error, done=done), status)


def _form_error(form: FlaskForm) -> str:
    """The first problem with a submitted form, in words."""
    for name, errors in form.errors.items():
        label = getattr(form, name).label.text if hasattr(form, name) else "The form"
        return f"{label}: {errors[0]}"
    return "The form is invalid."
