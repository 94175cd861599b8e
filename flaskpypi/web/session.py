"""Browser sessions (flask-login): the UI's logged-in user maps to the same Principal as the API's."""

from __future__ import annotations

import hmac

from flask_login import UserMixin, current_user

from ..auth import Principal
from ..extensions import login_manager
from .context import runtime


class SessionUser(UserMixin):
    """A logged-in user; the session id carries a stamp of their password, so changing it ends old sessions."""

    def __init__(self, name: str, stamp: str) -> None:
        self.id = f"{stamp}:{name}"
        self.name = name

    @classmethod
    def current(cls, name: str) -> SessionUser:
        """The session user for someone who just proved their password."""
        return cls(name, runtime().access.backend.credential_stamp(name))


@login_manager.user_loader
def load_user(user_id: str) -> SessionUser | None:
    """Restore the session's user if the backend still knows them and their password is unchanged."""
    stamp, _, name = user_id.partition(":")
    backend = runtime().access.backend
    if not name or not backend.user_exists(name):
        return None
    return SessionUser(name, stamp) if hmac.compare_digest(stamp, backend.credential_stamp(name)) else None


def session_principal() -> Principal | None:
    """The principal of the browser session, if logged in."""
    if current_user.is_authenticated:
        return Principal(current_user.name)
    return None
