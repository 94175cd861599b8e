"""The `config` auth plugin: the admin user (and nothing else to edit) from the config file."""

from __future__ import annotations

import hmac
from typing import Any

from werkzeug.security import check_password_hash

from . import AuthBackend, Principal


class ConfigAuth(AuthBackend):
    """Read-only users from settings: `admin_user` with `admin_password_hash` (or `admin_password`)."""

    def __init__(self, settings: Any, **options: Any) -> None:
        super().__init__(settings, **options)
        self.admin = settings.admin_user

    def authenticate(self, username: str, secret: str) -> Principal | None:
        if not self.admin or not hmac.compare_digest(username.encode(), self.admin.encode()):
            return None
        if self.settings.admin_password_hash:
            ok = check_password_hash(self.settings.admin_password_hash, secret)
        else:
            expected = self.settings.admin_password
            ok = bool(expected) and hmac.compare_digest(secret.encode(), expected.encode())
        return Principal(username) if ok else None

    def groups(self, principal: Principal) -> set[str]:
        return set()

    def is_admin(self, principal: Principal) -> bool:
        return bool(self.admin) and principal.name == self.admin

    def user_exists(self, username: str) -> bool:
        return bool(self.admin) and username == self.admin
