"""The `config` auth plugin: users, groups, grants and admins from the config file (read-only)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.names import canonical
from ..settings import SettingsError
from . import GROUP, INDEX_PERMISSIONS, PERMISSIONS, USER, Acl, AuthBackend, GrantInfo, Principal, parse_subject
from .passwords import VerifiedCache, burn_time, fingerprint

GROUP_PREFIX = "group:"
BAD_GRANTS = "Malformed setting 'grants'"
BAD_INDEX_GRANTS = "Malformed setting 'index_grants'"


def parse_grants(grants: Mapping[str, Any]) -> dict[str, Acl]:
    """`{project: {"user:NAME"|"group:NAME"|"NAME": "read"|"write"}}` as Acls by normalised project."""
    acls: dict[str, Acl] = {}
    for project, entries in grants.items():
        if not isinstance(entries, Mapping):
            raise SettingsError(f"{BAD_GRANTS}: {project!r} needs a table of subject = permission")
        acl = acls.setdefault(canonical(project), Acl())
        for subject, permission in entries.items():
            if permission not in PERMISSIONS:
                raise SettingsError(f"{BAD_GRANTS}: {project}.{subject} = {permission!r}; use read or write")
            try:
                kind, name = parse_subject(subject)
            except ValueError as exc:
                raise SettingsError(f"{BAD_GRANTS}: {exc}")
            acl.add(kind, name, permission)
    return acls


def parse_index_grants(grants: Mapping[str, Any], indexes: Iterable[str]) -> dict[str, Acl]:
    """`{index: {"user:NAME"|"group:NAME"|"NAME": "read"|"write"|"promote" or a list of them}}` as Acls by
    index name; every index must be one the layout has. Raises SettingsError naming the table and key."""
    known = set(indexes)
    acls: dict[str, Acl] = {}
    for index, entries in grants.items():
        if index not in known:
            raise SettingsError(f"{BAD_INDEX_GRANTS}: [index_grants.{index}]: no index named {index!r}; "
                                f"indexes: {', '.join(sorted(known))}")  # fmt: skip
        if not isinstance(entries, Mapping):
            raise SettingsError(f"{BAD_INDEX_GRANTS}: [index_grants.{index}] is a table of subject = permission")
        acl = acls.setdefault(index, Acl())
        for subject, value in entries.items():
            permissions = [value] if isinstance(value, str) else value
            if (
                not isinstance(permissions, list)
                or not permissions
                or any(p not in INDEX_PERMISSIONS for p in permissions)
            ):
                raise SettingsError(f"{BAD_INDEX_GRANTS}: [index_grants.{index}] {subject} = {value!r}; use "
                                    f"{', '.join(INDEX_PERMISSIONS)} or a list of them")  # fmt: skip
            try:
                kind, name = parse_subject(str(subject))
            except ValueError as exc:
                raise SettingsError(f"{BAD_INDEX_GRANTS}: [index_grants.{index}]: {exc}") from None
            for permission in permissions:
                acl.add(kind, name, permission)
    return acls


def grant_rows(acls: Mapping[str, Acl], project: str | None = None) -> list[GrantInfo]:
    """Acls as a flat, sorted list of grants."""
    rows = []
    for name, acl in acls.items():
        if project is not None and name != canonical(project):
            continue
        for kind, table in ((USER, acl.users), (GROUP, acl.groups)):
            rows += [GrantInfo(name, kind, subject, p) for subject, perms in table.items() for p in perms]
    return sorted(rows, key=lambda g: (g.project, g.kind, g.subject, g.permission))


class ConfigAdmins:
    """The admins the config names: `admin_user` (with its password) and the `admins` list."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.user = settings.admin_user
        self.names = {a for a in settings.admins if not a.startswith(GROUP_PREFIX)} | ({self.user} - {""})
        self.groups = {a[len(GROUP_PREFIX) :] for a in settings.admins if a.startswith(GROUP_PREFIX)}
        self._cache = VerifiedCache()

    def check_admin_password(self, username: str, secret: str) -> bool:
        """Whether these are admin_user's credentials from the config file."""
        if not self.user or not hmac.compare_digest(username.encode(), self.user.encode()):
            return False
        if self.settings.admin_password_hash:
            return self._cache.verify(self.settings.admin_password_hash, secret)
        expected = self.settings.admin_password
        return bool(expected) and hmac.compare_digest(secret.encode(), expected.encode())

    def is_admin(self, name: str, groups: set[str]) -> bool:
        """Named as an admin, or a member of an admin group."""
        return name in self.names or bool(groups & self.groups)


class ConfigAuth(AuthBackend):
    """Read-only `users` (name -> hash), `groups` (name -> members), `grants` and `admins` from settings."""

    versioned = True

    def __init__(self, settings: Any, **options: Any) -> None:
        super().__init__(settings, **options)
        self.admins = ConfigAdmins(settings)
        self.users: dict[str, str] = {str(k): str(v) for k, v in settings.users.items()}
        self.members = {str(g): set(_member_list(g, m)) for g, m in settings.groups.items()}
        self.acls = parse_grants(settings.grants)
        self.index_grants = parse_index_grants(settings.index_grants, settings.layout().indexes)
        self._cache = VerifiedCache()

    def authenticate(self, username: str, secret: str) -> Principal | None:
        if self.admins.check_admin_password(username, secret):
            return Principal(username)
        stored = self.users.get(username)
        if stored is None:
            burn_time(secret)
            return None
        return Principal(username) if self._cache.verify(stored, secret) else None

    def groups(self, principal: Principal) -> set[str]:
        return {g for g, members in self.members.items() if principal.name in members}

    def is_admin(self, principal: Principal) -> bool:
        return self.admins.is_admin(principal.name, self.groups(principal))

    def credential_stamp(self, username: str) -> str:
        if username in self.users:
            return fingerprint(self.users[username])
        return fingerprint(self.settings.admin_password_hash or self.settings.admin_password)

    def user_exists(self, username: str) -> bool:
        return username in self.users or (bool(self.admins.user) and username == self.admins.user)

    def project_acl(self, project: str) -> Acl:
        return self.acls.get(canonical(project), Acl())

    def project_acls(self, projects: Iterable[str]) -> dict[str, Acl]:
        return super().project_acls(projects) if self.acls else {}

    def list_grants(self, project: str | None = None) -> list[GrantInfo]:
        return grant_rows(self.acls, project)

    def index_acls(self) -> dict[str, Acl]:
        return self.index_grants


def _member_list(group: str, members: Any) -> list[str]:
    if isinstance(members, str):
        return [m.strip() for m in members.split(",") if m.strip()]
    if not isinstance(members, list):
        raise SettingsError(f"Malformed setting 'groups': {group!r} needs a list of user names")
    return [str(m) for m in members]
