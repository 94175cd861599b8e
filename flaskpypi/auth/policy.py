"""The one permission decision, shared by the simple API, the upload API and the UI."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.names import canonical
from . import AUTHENTICATED, EVERYONE, READ, WRITE, AuthBackend, Principal

CACHE = "cache"


@dataclass
class AccessPolicy:
    """Defaults from the settings, grants from the auth backend, and the admin flag."""

    backend: AuthBackend
    default_read: list[str]
    default_write: list[str]
    cache_update: list[str]

    def identities(self, principal: Principal | None) -> set[str]:
        """The pseudo-groups, groups and user name a principal acts as."""
        if principal is None:
            return {EVERYONE}
        return {EVERYONE, AUTHENTICATED, *self.backend.groups(principal)}

    def is_admin(self, principal: Principal | None) -> bool:
        """Admins may do everything."""
        return principal is not None and not principal.via_token and self.backend.is_admin(principal)

    def can(self, principal: Principal | None, permission: str, project: str | None = None) -> bool:
        """Whether the principal may read, write or trigger caching (of a project, or in general)."""
        if principal is not None and not self._token_allows(principal, permission, project):
            return False
        if principal is not None and self.backend.is_admin(principal):
            return True
        groups = self.identities(principal)
        if permission == CACHE:
            return bool(groups & set(self.cache_update))
        wanted = {READ, WRITE} if permission == READ else {WRITE}
        defaults = self.default_read + self.default_write if permission == READ else self.default_write
        if groups & set(defaults):
            return True
        if project is None:
            return False
        acl = self.backend.project_acl(canonical(project))
        if principal is not None and acl.users.get(principal.name, set()) & wanted:
            return True
        return any(acl.groups.get(g, set()) & wanted for g in groups)

    @staticmethod
    def _token_allows(principal: Principal, permission: str, project: str | None) -> bool:
        if not principal.via_token:
            return True
        if permission == WRITE and principal.token_permission != WRITE:
            return False
        if principal.token_projects is None or project is None:
            return principal.token_projects is None or permission == CACHE
        return canonical(project) in principal.token_projects
