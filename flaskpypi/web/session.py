"""Browser sessions (flask-login): the UI's logged-in user maps to the same Principal as the API's."""

from __future__ import annotations

from flask_login import UserMixin, current_user

from ..auth import Principal
from ..extensions import login_manager
from .context import runtime


class SessionUser(UserMixin):
    """A logged-in user; the id is the user name."""

    def __init__(self, name: str) -> None:
        self.id = name
        self.name = name


@login_manager.user_loader
def load_user(user_id: str) -> SessionUser | None:
    """Restore the session's user if the auth backend still knows them."""
    return SessionUser(user_id) if runtime().access.backend.user_exists(user_id) else None


def session_principal() -> Principal | None:
    """The principal of the browser session, if logged in."""
    if current_user.is_authenticated:
        return Principal(current_user.name)
    return None
