"""The one permission decision, shared by the simple API, the upload API, the UI and the upstream fallback.

A project without grants follows the defaults; a project with grants follows its grants alone (so
granting anything makes a project private to its grantees); admins may do everything; a token never
allows more than its owner may, within its scope (projects) and permission (read or write).

Indexes (issue 14) add a gate in front of that: `can_index` decides read, write and promote on an index
from the grants on the index (see its docstring); with no grant on an index, nothing changes.

Decisions are kept per process until the `access` counter moves (every change of users, groups, grants or
defaults advances it, see auth.models), when the backend is `versioned` and the host says how to read the
counter: a request costs no query for them, and a change is seen by the very next request everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..core.names import canonical
from ..sql import GenerationCache
from . import AUTHENTICATED, EVERYONE, INDEX_PERMISSIONS, PROMOTE, READ, WRITE, Acl, AuthBackend, Principal

CACHE = "cache"
DECISIONS = 8192  # decisions kept per process until the `access` counter moves
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
        self.generation: Callable[[], int | None] | None = None  # the `access` counter now, if known
        self._kept = GenerationCache(DECISIONS)

    def _remember(self, key: tuple[Any, ...], compute: Callable[[], Any], versioned: bool = True) -> Any:
        """compute(), kept until the `access` counter moves (when it can be read and the facts follow it)."""
        generation = self.generation() if self.generation is not None else None
        if generation is None or not versioned:
            return compute()
        return self._kept.get(generation, key, compute)

    @property
    def defaults(self) -> Defaults:
        """The defaults in force: the run-time override if the host installed one, else the settings."""
        if self.defaults_source is None:
            return self.configured
        return self._remember(("defaults",), self.defaults_source)

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
        groups = self._remember(("groups", principal.name), lambda: frozenset(self.backend.groups(principal)),
                                self.backend.versioned)  # fmt: skip
        return {EVERYONE, AUTHENTICATED, *groups}

    def _backend_admin(self, principal: Principal) -> bool:
        return self._remember(("admin", principal.name), lambda: self.backend.is_admin(principal),
                              self.backend.versioned)  # fmt: skip

    def is_admin(self, principal: Principal | None) -> bool:
        """Admins administer the index; never through a token."""
        return principal is not None and not principal.via_token and self._backend_admin(principal)

    def can(self, principal: Principal | None, permission: str, project: str | None = None) -> bool:
        """Whether the principal may read, write or trigger caching of a project (None: by the defaults)."""
        key = ("can", principal, permission, canonical(project) if project is not None else None)
        return self._remember(key, lambda: self._can(principal, permission, project), self.backend.versioned)

    def _can(self, principal: Principal | None, permission: str, project: str | None) -> bool:
        if principal is not None and not self._token_allows(principal, permission, project):
            return False
        if principal is not None and self._backend_admin(principal):
            return True
        acl = self.backend.project_acl(canonical(project)) if project is not None else Acl()
        return self._decide(principal, self.identities(principal), permission, acl, self.defaults)

    def visible(self, principal: Principal | None, projects: list[Named]) -> list[Named]:
        """The projects (tuples starting with the normalised name) the principal may read; one ACL lookup."""
        admin = principal is not None and self._backend_admin(principal)
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

    def named_users(self, projects: Sequence[str]) -> frozenset[str]:
        """The user names that grants on these (normalised) projects name; one ACL lookup."""
        return frozenset(user for acl in self.backend.project_acls(projects).values() for user in acl.users)

    def sight(self, principal: Principal | None, named: frozenset[str]) -> Hashable:
        """What `visible()` depends on for this principal besides the projects and grants: askers with equal
        sights see the same projects. `named` is `named_users()` of those projects: a user no grant names
        sees what the groups they act as see, so readers share one walk over the names per group set."""
        if principal is None:
            return None
        if not self.backend.versioned:
            return principal  # its groups and admin flag are asked afresh: kept per asker, not per request
        scope = principal.token_projects if principal.via_token else None
        if self._backend_admin(principal):
            return ("admin", scope)
        name = principal.name if principal.name in named else None
        return (frozenset(self.identities(principal)), name, scope)

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

    # -- indexes ----------------------------------------------------------------------------------

    def index_acl(self, index: str) -> Acl:
        """The grants on one index (empty: it follows the defaults); all indexes' grants are read at once."""
        acls = self._remember(("index-acls",), self.backend.index_acls, self.backend.versioned)
        return acls.get(index) or Acl()

    def can_index(self, principal: Principal | None, permission: str, index: str,
                  project: str | None = None) -> bool:  # fmt: skip
        """Whether the principal may `read`, `write` (upload to) or `promote` into an index.

        - read: an index with no `read` grant does not restrict anyone (each project then follows the
          defaults and its own grants, as today). An index with a `read` grant is private: only users and
          groups holding any grant on it (read, write or promote) and admins read it; for everyone else it
          is missing (views skip it, /<index>/simple/ is a 404, or a 401 for anonymous askers).
        - write: needs read of the index. An index with no `write` grant follows today's write rules: the
          project's grants when it has some, else `default_write`. An index with a `write` grant takes
          uploads only from its write grantees (and admins), and a project with grants still needs their
          `write` too. `project` None asks by the defaults (may this asker upload a new project here?).
        - promote (copy a release into this index): admins, and users and groups granted `promote` on it.
          A promotion from A to B asks can_index(who, "read", A) and can_index(who, "promote", B).
        - Tokens: never more than their owner; a read-only token neither writes nor promotes; a token scoped
          to projects writes only those projects (`project` must be given) and never promotes; reading
          an index is open to any token of a reader.

        Kept per asker until the `access` counter moves (versioned backends), like `can`: a hot path pays a
        dictionary lookup. Raises ValueError for another permission.
        """
        if permission not in INDEX_PERMISSIONS:
            raise ValueError(f"unknown permission on an index: {permission!r}")
        key = ("index", principal, permission, index, canonical(project) if project is not None else None)
        compute = lambda: self._can_index(principal, permission, index, project)  # noqa: E731
        return self._remember(key, compute, self.backend.versioned)

    def readable_indexes(self, principal: Principal | None, indexes: Sequence[str]) -> frozenset[str]:
        """The indexes of `indexes` the principal may read (see can_index)."""
        return frozenset(i for i in indexes if self.can_index(principal, READ, i))

    def _can_index(self, principal: Principal | None, permission: str, index: str, project: str | None) -> bool:
        if principal is not None and principal.via_token and permission != READ:
            if principal.token_permission != WRITE:
                return False
            if permission == PROMOTE and principal.token_projects is not None:
                return False
            if permission == WRITE and not self._token_allows(principal, WRITE, project):
                return False
        if principal is not None and self._backend_admin(principal):
            return True
        acl, ids = self.index_acl(index), self.identities(principal)
        held = set(acl.users.get(principal.name, ())) if principal is not None else set()
        for group in ids:
            held |= acl.groups.get(group, set())
        if acl.grants(READ) and not held:
            return False  # a private index: only its grantees read it
        if permission == READ:
            return True
        if permission == PROMOTE:
            return PROMOTE in held
        if acl.grants(WRITE) and WRITE not in held:
            return False
        project_acl = self.backend.project_acl(canonical(project)) if project is not None else Acl()
        if project_acl:
            return self._decide(principal, ids, WRITE, project_acl, self.defaults)
        return WRITE in held or bool(ids & set(self.defaults.write))

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
