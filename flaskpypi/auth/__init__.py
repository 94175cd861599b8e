"""The AuthBackend contract: facts about identities. The permission decision itself lives in policy.py."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.errors import Conflict
from ..core.plugins import AUTH_GROUP, load_plugin

EVERYONE, AUTHENTICATED = "everyone", "authenticated"
PSEUDO_GROUPS = (EVERYONE, AUTHENTICATED)
READ, WRITE, PROMOTE = "read", "write", "promote"
PERMISSIONS = (READ, WRITE)  # on a project
INDEX_PERMISSIONS = (READ, WRITE, PROMOTE)  # on an index (auth.policy.AccessPolicy.can_index)
USER, GROUP = "user", "group"
TOKEN_USER = "__token__"  # noqa: S105 (the user name that announces a token)
CONTRACT_VERSION = 3


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
    """Grants on a project (read, write) or an index (read, write, promote): user or group name -> permissions;
    empty: the defaults apply."""

    users: dict[str, set[str]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.users.values()) or any(self.groups.values())

    def add(self, kind: str, subject: str, permission: str) -> None:
        """Grant `permission` to a user or group."""
        (self.users if kind == USER else self.groups).setdefault(subject, set()).add(permission)

    def grants(self, permission: str) -> bool:
        """Whether anyone holds `permission` here (an index with a read grant is private to its grantees)."""
        return any(permission in p for p in (*self.users.values(), *self.groups.values()))


@dataclass(frozen=True)
class UserInfo:
    """A user as an admin sees it."""

    name: str
    admin: bool = False
    state: str = "active"
    groups: tuple[str, ...] = ()
    created: datetime | None = None


@dataclass(frozen=True)
class GroupInfo:
    """A group and its members."""

    name: str
    description: str = ""
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class GrantInfo:
    """One grant: `kind` (user or group) `subject` may `permission` (read or write) `project`."""

    project: str
    kind: str
    subject: str
    permission: str


@dataclass(frozen=True)
class IndexGrantInfo:
    """One grant on an index: `kind` (user or group) `subject` may `permission` (read, write, promote) `index`."""

    index: str
    kind: str
    subject: str
    permission: str


class AuthBackend(ABC):
    """Where users, groups and grants come from; entry-point group `flaskpypi.auth`.

    Contract version 2: the host calls `attach_database(session)` once at start-up; `project_acls`
    answers for many projects at once (the default asks `project_acl` for each).
    Contract version 3: `index_acls()` answers the grants on indexes (read, write, promote); the default
    (no grants on any index) keeps version-2 plugins working unchanged.
    """

    contract_version = CONTRACT_VERSION
    editable = False
    # True when groups, admin flags and grants change only at start-up or through flaskpypi's own tables
    # (which advance the `access` counter): the host may then keep decisions until that counter moves.
    versioned = False

    def __init__(self, settings: Any, **options: Any) -> None:
        self.settings = settings
        self.options = options
        self.db: Any = None

    def attach_database(self, session: Any) -> None:
        """The host's SQLAlchemy session (a scoped session); backends that keep data in SQL use it."""
        self.db = session

    @abstractmethod
    def authenticate(self, username: str, secret: str) -> Principal | None:
        """The principal if the password is right, else None (compare in constant time)."""

    @abstractmethod
    def groups(self, principal: Principal) -> set[str]:
        """The groups a principal belongs to (without the everyone/authenticated pseudo-groups)."""

    def project_acl(self, project: str) -> Acl:
        """Grants on one (normalised) project; an empty Acl means the defaults apply."""
        return Acl()

    def project_acls(self, projects: Iterable[str]) -> dict[str, Acl]:
        """Grants on many projects at once (listings); projects without grants are left out."""
        return {name: acl for name in projects if (acl := self.project_acl(name))}

    @abstractmethod
    def is_admin(self, principal: Principal) -> bool:
        """Whether the principal administers the index."""

    def credential_stamp(self, username: str) -> str:
        """A fingerprint of the user's current password: browser sessions made before it changed end."""
        return ""

    def user_exists(self, username: str) -> bool:
        """Whether an active user of that name is known (sessions and tokens of others end)."""
        return False

    def list_grants(self, project: str | None = None) -> list[GrantInfo]:
        """Every grant (of one project), for listings and export."""
        return []

    def index_acls(self) -> dict[str, Acl]:
        """Grants on every index, by index name (indexes are few: all at once); indexes without grants are
        left out. The default: none, so every index follows the defaults (contract version 2 plugins)."""
        return {}

    def list_index_grants(self, index: str | None = None) -> list[IndexGrantInfo]:
        """Every grant on indexes (on one index), sorted, for listings and export."""
        return index_grant_rows(self.index_acls(), index)


class UserStore(AuthBackend):
    """A backend whose users, groups and grants admins edit (the sql plugin). Names are validated here."""

    editable = True

    @abstractmethod
    def list_users(self, state: str | None = None) -> list[UserInfo]:
        """Users by name, optionally only `active` or `pending` ones."""

    @abstractmethod
    def get_user(self, name: str) -> UserInfo | None:
        """One user."""

    @abstractmethod
    def add_user(self, name: str, password: str, *, admin: bool = False, pending: bool = False,
                 password_hash: str | None = None) -> UserInfo:  # fmt: skip
        """Create a user (pending ones wait for approval); refuse a taken name."""

    @abstractmethod
    def set_password(self, name: str, password: str) -> None:
        """Change a user's password."""

    @abstractmethod
    def set_admin(self, name: str, admin: bool) -> None:
        """Set or clear a user's admin flag."""

    @abstractmethod
    def approve_user(self, name: str) -> None:
        """Make a pending user active."""

    @abstractmethod
    def remove_user(self, name: str) -> None:
        """Delete a user, their memberships and grants."""

    @abstractmethod
    def list_groups(self) -> list[GroupInfo]:
        """Groups by name, with members."""

    @abstractmethod
    def add_group(self, name: str, description: str = "") -> GroupInfo:
        """Create a group."""

    @abstractmethod
    def remove_group(self, name: str) -> None:
        """Delete a group, its memberships and grants."""

    @abstractmethod
    def add_member(self, group: str, user: str) -> None:
        """Put a user in a group."""

    @abstractmethod
    def remove_member(self, group: str, user: str) -> None:
        """Take a user out of a group."""

    @abstractmethod
    def grant(self, project: str, kind: str, subject: str, permission: str) -> GrantInfo:
        """Give a user or group read or write on a project (replacing an earlier grant to them)."""

    @abstractmethod
    def revoke(self, project: str, kind: str, subject: str) -> None:
        """Remove a grant."""

    def grant_index(self, index: str, kind: str, subject: str, permission: str) -> IndexGrantInfo:
        """Give a user or group read, write or promote on an index (added to what they hold there). Optional:
        a store that keeps no index grants refuses (core.errors.Conflict)."""
        raise Conflict(f"The {type(self).__name__} auth backend keeps no grants on indexes.")

    def revoke_index(self, index: str, kind: str, subject: str, permission: str | None = None) -> int:
        """Remove a user's or group's grant of `permission` (None: every permission) on an index; returns how
        many were removed (NotFound when none)."""
        raise Conflict(f"The {type(self).__name__} auth backend keeps no grants on indexes.")


def parse_subject(value: str) -> tuple[str, str]:
    """`user:NAME`, `group:NAME` or a bare user NAME as (kind, name)."""
    kind, sep, name = value.partition(":")
    if not sep:
        return USER, value
    if kind not in (USER, GROUP) or not name:
        raise ValueError(f"{value!r}: write user:NAME or group:NAME")
    return kind, name


def index_grant_rows(acls: Mapping[str, Acl], index: str | None = None) -> list[IndexGrantInfo]:
    """Index Acls as a flat, sorted list of grants (of one index)."""
    rows = [
        IndexGrantInfo(name, kind, subject, permission)
        for name, acl in acls.items() if index is None or name == index
        for kind, table in ((USER, acl.users), (GROUP, acl.groups))
        for subject, permissions in table.items() for permission in permissions
    ]  # fmt: skip
    return sorted(rows, key=lambda g: (g.index, g.kind, g.subject, INDEX_PERMISSIONS.index(g.permission)))


def load_auth(name: str, settings: Any, options: dict[str, Any] | None = None) -> AuthBackend:
    """Build the auth plugin registered under `name`."""
    cls = load_plugin(AUTH_GROUP, name)
    return cls(settings, **(options or {}))
