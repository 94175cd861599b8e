"""The AuthBackend contract: facts about identities. The permission decision itself lives in policy.py."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from ..core.plugins import AUTH_GROUP, load_plugin

EVERYONE, AUTHENTICATED = "everyone", "authenticated"
READ, WRITE = "read", "write"
CONTRACT_VERSION = 1


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user name, and how they proved it."""

    name: str
    via_token: bool = False
    token_id: int | None = None
    token_projects: frozenset[str] | None = None
    token_permission: str = WRITE


@dataclass
class Acl:
    """Per-project grants: user or group name -> permissions (read, write)."""

    users: dict[str, set[str]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)


class AuthBackend(ABC):
    """Where users, groups and grants come from; entry-point group `flaskpypi.auth`."""

    contract_version = CONTRACT_VERSION

    def __init__(self, settings: Any, **options: Any) -> None:
        self.settings = settings
        self.options = options

    @abstractmethod
    def authenticate(self, username: str, secret: str) -> Principal | None:
        """The principal if the password is right, else None (compare in constant time)."""

    @abstractmethod
    def groups(self, principal: Principal) -> set[str]:
        """The groups a principal belongs to (without the everyone/authenticated pseudo-groups)."""

    def project_acl(self, project: str) -> Acl:
        """Grants on one project beyond the defaults."""
        return Acl()

    @abstractmethod
    def is_admin(self, principal: Principal) -> bool:
        """Whether the principal administers the index."""

    def user_exists(self, username: str) -> bool:
        """Whether a user of that name is known (for token owners)."""
        return False


def load_auth(name: str, settings: Any, options: dict[str, Any] | None = None) -> AuthBackend:
    """Build the auth plugin registered under `name`."""
    cls = load_plugin(AUTH_GROUP, name)
    return cls(settings, **(options or {}))
