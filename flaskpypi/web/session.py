"""Browser sessions (flask-login): the UI's logged-in user maps to the same Principal as the API's.

The session cookie carries only the secret of a server-side session (auth.sessions): logging out deletes
it, so a saved copy of the cookie stops working; a changed password ends the sessions made before.
"""

from __future__ import annotations

import hmac

from flask_login import UserMixin, current_user, login_user, logout_user

from ..auth import Principal
from ..auth.sessions import SessionStore
from ..extensions import db, login_manager
from .context import runtime


class SessionUser(UserMixin):
    """A logged-in user; `id` (what flask-login keeps in the cookie) is the server-side session's secret."""

    def __init__(self, name: str, secret: str) -> None:
        self.id = secret
        self.name = name


def sessions() -> SessionStore:
    """The server-side sessions, in this request's database session."""
    return SessionStore(db.session, runtime().settings.session_lifetime)


def log_in(name: str) -> None:
    """Open a new server-side session for someone who just proved their password, and log this browser in."""
    login_user(SessionUser(name, sessions().open(name, runtime().access.backend.credential_stamp(name))))


def log_out() -> None:
    """End this browser's session server-side (a saved cookie no longer works), then forget it here."""
    if current_user.is_authenticated:
        sessions().end(current_user.id)
    logout_user()


@login_manager.user_loader
def load_user(secret: str) -> SessionUser | None:
    """The session's user while the session lives, the user exists and their password is unchanged."""
    found = sessions().find(secret)
    if found is None:
        return None
    name, stamp = found
    backend = runtime().access.backend
    if not backend.user_exists(name) or not hmac.compare_digest(stamp, backend.credential_stamp(name)):
        return None
    return SessionUser(name, secret)


def session_principal() -> Principal | None:
    """The principal of the browser session, if logged in."""
    if current_user.is_authenticated:
        return Principal(current_user.name)
    return None
