"""The one permission decision, shared by the simple API, the upload API, the UI and the upstream fallback.

A project without grants follows the defaults; a project with grants follows its grants alone (so
granting anything makes a project private to its grantees); admins may do everything; a token never
allows more than its owner may, within its scope (projects) and permission (read or write).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..core.names import canonical
from . import AUTHENTICATED, EVERYONE, READ, WRITE, Acl, AuthBackend, Principal

CACHE = "cache"
Named = TypeVar("Named", bound=Sequence[str])


@dataclass(frozen=True)
class Defaults:
    """Who may read, write and trigger caching of projects that have no grants."""

    read: tuple[str, ...]
    write: tuple[str, ...]
    cache: tuple[str, ...]


class AccessPolicy:
    """Defaults (settings, or their run-time override), grants from the auth backend, and the admin flag."""

    def __init__(self, backend: AuthBackend, default_read: Sequence[str], default_write: Sequence[str],
                 cache_update: Sequence[str]) -> None:  # fmt: skip
        self.backend = backend
        self.configured = Defaults(tuple(default_read), tuple(default_write), tuple(cache_update))
        self.defaults_source: Callable[[], Defaults] | None = None

    @property
    def defaults(self) -> Defaults:
        """The defaults in force: the run-time override if the host installed one, else the settings."""
        return self.defaults_source() if self.defaults_source else self.configured

    @property
    def default_read(self) -> list[str]:
        return list(self.defaults.read)

    @property
    def default_write(self) -> list[str]:
        return list(self.defaults.write)

    @property
    def cache_update(self) -> list[str]:
        return list(self.defaults.cache)

    def identities(self, principal: Principal | None) -> set[str]:
        """The pseudo-groups and groups a principal acts as."""
        if principal is None:
            return {EVERYONE}
        return {EVERYONE, AUTHENTICATED, *self.backend.groups(principal)}

    def is_admin(self, principal: Principal | None) -> bool:
        """Admins administer the index; never through a token."""
        return principal is not None and not principal.via_token and self.backend.is_admin(principal)

    def can(self, principal: Principal | None, permission: str, project: str | None = None) -> bool:
        """Whether the principal may read, write or trigger caching of a project (None: by the defaults)."""
        if principal is not None and not self._token_allows(principal, permission, project):
            return False
        if principal is not None and self.backend.is_admin(principal):
            return True
        acl = self.backend.project_acl(canonical(project)) if project is not None else Acl()
        return self._decide(principal, self.identities(principal), permission, acl, self.defaults)

    def visible(self, principal: Principal | None, projects: list[Named]) -> list[Named]:
        """The projects (tuples starting with the normalised name) the principal may read; one ACL lookup."""
        admin = principal is not None and self.backend.is_admin(principal)
        acls = {} if admin else self.backend.project_acls([p[0] for p in projects])
        ids, defaults = self.identities(principal), self.defaults
        scoped = principal is not None and principal.via_token and principal.token_projects is not None
        if not acls and not scoped:  # no grants anywhere: one decision holds for every project
            return list(projects) if admin or self._decide(principal, ids, READ, Acl(), defaults) else []
        return [
            p for p in projects
            if (principal is None or self._token_allows(principal, READ, p[0]))
            and (admin or self._decide(principal, ids, READ, acls.get(p[0]) or Acl(), defaults))
        ]  # fmt: skip

    def _decide(self, principal: Principal | None, ids: set[str], permission: str, acl: Acl,
                defaults: Defaults) -> bool:  # fmt: skip
        if permission == CACHE:
            if not self._decide(principal, ids, READ, acl, defaults):
                return False
            return bool(ids & set(defaults.cache)) or self._decide(principal, ids, WRITE, acl, defaults)
        if not acl:
            allowed = defaults.write if permission == WRITE else defaults.read + defaults.write
            return bool(ids & set(allowed))
        wanted = {WRITE} if permission == WRITE else {READ, WRITE}
        if principal is not None and acl.users.get(principal.name, set()) & wanted:
            return True
        return any(acl.groups.get(g, set()) & wanted for g in ids)

    @staticmethod
    def _token_allows(principal: Principal, permission: str, project: str | None) -> bool:
        if not principal.via_token:
            return True
        if permission == WRITE and principal.token_permission != WRITE:
            return False
        if principal.token_projects is None:
            return True
        if project is None:
            return permission != WRITE
        return canonical(project) in principal.token_projects
