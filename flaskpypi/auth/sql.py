"""The `sql` auth plugin: users, groups, memberships and per-project grants that admins edit, in SQL."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from ..core.errors import BadRequest, Conflict, NotFound
from ..core.names import canonical, validate_project_name
from . import (
    GROUP,
    INDEX_PERMISSIONS,
    PERMISSIONS,
    PSEUDO_GROUPS,
    TOKEN_USER,
    USER,
    Acl,
    GrantInfo,
    GroupInfo,
    IndexGrantInfo,
    Principal,
    UserInfo,
    UserStore,
)
from .config import ConfigAdmins
from .models import ACTIVE, PENDING, Grant, Group, IndexGrant, User
from .passwords import VerifiedCache, burn_time, check_strength, fingerprint, hash_password

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")


def validate_name(kind: str, name: str) -> str:
    """A user or group name: letters, digits, . _ @ + - (at most 100); pseudo-groups, __token__ reserved."""
    if not _NAME.match(name or ""):
        raise BadRequest(f"Invalid {kind} name {name!r}: use 1-100 letters, digits, '.', '_', '@', '+', '-'.")
    if name == TOKEN_USER or (kind == GROUP and name in PSEUDO_GROUPS):
        raise BadRequest(f"The {kind} name {name!r} is reserved.")
    return name


def _password(password: str) -> str:
    problem = check_strength(password)
    if problem:
        raise BadRequest(problem)
    return hash_password(password)


class SqlAuth(UserStore):
    """Users with salted scrypt hashes and an admin flag; the config's admin_user works as well."""

    versioned = True

    def __init__(self, settings: Any, **options: Any) -> None:
        super().__init__(settings, **options)
        self.admins = ConfigAdmins(settings)
        self.index_names = frozenset(settings.layout().indexes)  # grants name indexes the settings describe
        self._cache = VerifiedCache()

    @property
    def session(self) -> Session:
        if self.db is None:
            raise RuntimeError("the sql auth plugin needs attach_database(session) first")
        return self.db

    # -- the AuthBackend contract ---------------------------------------------------------------

    def authenticate(self, username: str, secret: str) -> Principal | None:
        if self.admins.check_admin_password(username, secret):
            return Principal(username)
        user = self._user(username)
        if user is None or user.state != ACTIVE:
            burn_time(secret)
            return None
        return Principal(user.name) if self._cache.verify(user.password_hash, secret) else None

    def groups(self, principal: Principal) -> set[str]:
        rows = self.session.scalars(select(Group.name).join(Group.members).where(User.name == principal.name))
        return set(rows)

    def is_admin(self, principal: Principal) -> bool:
        user = self._user(principal.name)
        if user is not None and user.state == ACTIVE and user.admin:
            return True
        return self.admins.is_admin(principal.name, self.groups(principal) if self.admins.groups else set())

    def user_exists(self, username: str) -> bool:
        if self.admins.user and username == self.admins.user:
            return True
        user = self._user(username)
        return user is not None and user.state == ACTIVE

    def project_acl(self, project: str) -> Acl:
        return self.project_acls([project]).get(canonical(project), Acl())

    def project_acls(self, projects: Iterable[str]) -> dict[str, Acl]:
        names = [canonical(p) for p in projects]
        acls: dict[str, Acl] = {}
        query = select(Grant) if len(names) > 50 else select(Grant).where(Grant.project.in_(names))
        for grant in self.session.scalars(query):
            acls.setdefault(grant.project, Acl()).add(grant.kind, grant.subject, grant.permission)
        return acls

    def list_grants(self, project: str | None = None) -> list[GrantInfo]:
        query = select(Grant).order_by(Grant.project, Grant.kind, Grant.subject)
        if project is not None:
            query = query.where(Grant.project == canonical(project))
        return [GrantInfo(g.project, g.kind, g.subject, g.permission) for g in self.session.scalars(query)]

    def index_acls(self) -> dict[str, Acl]:
        acls: dict[str, Acl] = {}
        for row in self.session.scalars(select(IndexGrant)):
            acls.setdefault(row.index_name, Acl()).add(row.kind, row.subject, row.permission)
        return acls

    # -- users ----------------------------------------------------------------------------------

    def list_users(self, state: str | None = None) -> list[UserInfo]:
        query = select(User).options(selectinload(User.groups)).order_by(User.name)
        if state is not None:
            query = query.where(User.state == state)
        return [_user_info(u) for u in self.session.scalars(query)]

    def get_user(self, name: str) -> UserInfo | None:
        user = self._user(name)
        return _user_info(user) if user else None

    def add_user(self, name: str, password: str, *, admin: bool = False, pending: bool = False,
                 password_hash: str | None = None) -> UserInfo:  # fmt: skip
        validate_name(USER, name)
        if self._user(name) is not None or name == self.admins.user:
            raise Conflict(f"User {name!r} exists already.")
        user = User(name=name, password_hash=password_hash or _password(password), admin=admin,
                    state=PENDING if pending else ACTIVE)  # fmt: skip
        self.session.add(user)
        self.session.commit()
        return _user_info(user)

    def credential_stamp(self, username: str) -> str:
        user = self._user(username)
        return fingerprint(user.password_hash) if user is not None else ""

    def set_password(self, name: str, password: str) -> None:
        self._require_user(name).password_hash = _password(password)
        self.session.commit()

    def set_admin(self, name: str, admin: bool) -> None:
        self._require_user(name).admin = admin
        self.session.commit()

    def approve_user(self, name: str) -> None:
        user = self._require_user(name)
        if user.state != PENDING:
            raise Conflict(f"User {name!r} is not waiting for approval.")
        user.state = ACTIVE
        self.session.commit()

    def remove_user(self, name: str) -> None:
        user = self._require_user(name)
        self.session.execute(delete(Grant).where(Grant.kind == USER, Grant.subject == name))
        self.session.execute(delete(IndexGrant).where(IndexGrant.kind == USER, IndexGrant.subject == name))
        self.session.delete(user)
        self.session.commit()

    # -- groups ---------------------------------------------------------------------------------

    def list_groups(self) -> list[GroupInfo]:
        query = select(Group).options(selectinload(Group.members)).order_by(Group.name)
        return [_group_info(g) for g in self.session.scalars(query)]

    def add_group(self, name: str, description: str = "") -> GroupInfo:
        validate_name(GROUP, name)
        if self._group(name) is not None:
            raise Conflict(f"Group {name!r} exists already.")
        group = Group(name=name, description=description)
        self.session.add(group)
        self.session.commit()
        return _group_info(group)

    def remove_group(self, name: str) -> None:
        group = self._require_group(name)
        self.session.execute(delete(Grant).where(Grant.kind == GROUP, Grant.subject == name))
        self.session.execute(delete(IndexGrant).where(IndexGrant.kind == GROUP, IndexGrant.subject == name))
        self.session.delete(group)
        self.session.commit()

    def add_member(self, group: str, user: str) -> None:
        found, member = self._require_group(group), self._require_user(user)
        if member not in found.members:
            found.members.append(member)
        self.session.commit()

    def remove_member(self, group: str, user: str) -> None:
        found, member = self._require_group(group), self._require_user(user)
        if member not in found.members:
            raise NotFound(f"User {user!r} is not in group {group!r}.")
        found.members.remove(member)
        self.session.commit()

    # -- grants ---------------------------------------------------------------------------------

    def grant(self, project: str, kind: str, subject: str, permission: str) -> GrantInfo:
        name = canonical(validate_project_name(project))
        if permission not in PERMISSIONS:
            raise BadRequest(f"Unknown permission {permission!r}: use read or write.")
        self._require_subject(kind, subject)
        row = self._grant(name, kind, subject) or Grant(project=name, kind=kind, subject=subject)
        row.permission = permission
        self.session.add(row)
        self.session.commit()
        return GrantInfo(name, kind, subject, permission)

    def revoke(self, project: str, kind: str, subject: str) -> None:
        row = self._grant(canonical(project), kind, subject)
        if row is None:
            raise NotFound(f"No grant to {kind} {subject!r} on project {project!r}.")
        self.session.delete(row)
        self.session.commit()

    def grant_index(self, index: str, kind: str, subject: str, permission: str) -> IndexGrantInfo:
        if index not in self.index_names:
            raise NotFound(f"No index named {index!r}; indexes: {', '.join(sorted(self.index_names))}.")
        if permission not in INDEX_PERMISSIONS:
            raise BadRequest(f"Unknown permission {permission!r} on an index: use {', '.join(INDEX_PERMISSIONS)}.")
        self._require_subject(kind, subject)
        query = select(IndexGrant).where(IndexGrant.index_name == index, IndexGrant.kind == kind,
                                         IndexGrant.subject == subject,
                                         IndexGrant.permission == permission)  # fmt: skip
        if self.session.scalar(query) is None:
            self.session.add(IndexGrant(index_name=index, kind=kind, subject=subject, permission=permission))
            self.session.commit()
        return IndexGrantInfo(index, kind, subject, permission)

    def revoke_index(self, index: str, kind: str, subject: str, permission: str | None = None) -> int:
        query = delete(IndexGrant).where(IndexGrant.index_name == index, IndexGrant.kind == kind,
                                         IndexGrant.subject == subject)  # fmt: skip
        if permission is not None:
            query = query.where(IndexGrant.permission == permission)
        removed = self.session.execute(query).rowcount  # type: ignore[attr-defined]
        if not removed:
            self.session.rollback()
            what = f"{permission} grant" if permission else "grant"
            raise NotFound(f"No {what} to {kind} {subject!r} on index {index!r}.")
        self.session.commit()
        return int(removed)

    # -- lookups --------------------------------------------------------------------------------

    def _require_subject(self, kind: str, subject: str) -> None:
        """A grant's user (or the config's admin) or group (or pseudo-group) exists."""
        if kind not in (USER, GROUP):
            raise BadRequest(f"Grant to a user or a group, not {kind!r}.")
        if kind == USER and self._user(subject) is None and subject != self.admins.user:
            raise NotFound(f"No user named {subject!r}.")
        if kind == GROUP and subject not in PSEUDO_GROUPS and self._group(subject) is None:
            raise NotFound(f"No group named {subject!r}.")

    def _user(self, name: str) -> User | None:
        return self.session.scalar(select(User).where(User.name == name))

    def _group(self, name: str) -> Group | None:
        return self.session.scalar(select(Group).where(Group.name == name))

    def _grant(self, project: str, kind: str, subject: str) -> Grant | None:
        query = select(Grant).where(Grant.project == project, Grant.kind == kind, Grant.subject == subject)
        return self.session.scalar(query)

    def _require_user(self, name: str) -> User:
        user = self._user(name)
        if user is None:
            raise NotFound(f"No user named {name!r}.")
        return user

    def _require_group(self, name: str) -> Group:
        group = self._group(name)
        if group is None:
            raise NotFound(f"No group named {name!r}.")
        return group


def _user_info(user: User) -> UserInfo:
    return UserInfo(user.name, user.admin, user.state, tuple(g.name for g in user.groups), user.created)


def _group_info(group: Group) -> GroupInfo:
    return GroupInfo(group.name, group.description, tuple(m.name for m in group.members))
