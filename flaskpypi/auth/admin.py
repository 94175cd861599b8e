"""Changes to access control, each one audited: the service behind the admin API and the CLI."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from ..core.errors import Conflict, Forbidden
from . import AuthBackend, GrantInfo, GroupInfo, IndexGrantInfo, UserInfo, UserStore
from . import defaults as defaults_store
from .audit import Actor, record
from .models import PENDING
from .policy import AccessPolicy, Defaults
from .sessions import SessionStore
from .tokens import TokenInfo, TokenStore


class AccessAdmin:
    """One actor's changes (an admin's, a user's own tokens, the CLI's), written to the audit log."""

    def __init__(self, access: AccessPolicy, session: Session, actor: Actor) -> None:
        self.access = access
        self.session = session
        self.actor = actor

    @property
    def backend(self) -> AuthBackend:
        return self.access.backend

    @property
    def store(self) -> UserStore:
        """The editable backend, or a refusal naming the read-only one."""
        if not isinstance(self.backend, UserStore):
            raise Conflict(
                f"The {type(self.backend).__name__} auth backend is read-only: users, groups and grants come "
                "from its own source (auth_backend = sql makes them editable here)."
            )
        return self.backend

    def _audit(self, action: str, project: str | None = None, **detail: object) -> None:
        record(self.session, self.actor, action, project, **detail)

    # -- users ----------------------------------------------------------------------------------

    def add_user(self, name: str, password: str, admin: bool = False) -> UserInfo:
        user = self.store.add_user(name, password, admin=admin)
        self._audit("user.add", user=name, admin=admin)
        return user

    def register(self, name: str, password: str) -> UserInfo:
        """A self-registration: the user waits as pending until an admin approves."""
        user = self.store.add_user(name, password, pending=True)
        self._audit("user.register", user=name)
        return user

    def set_password(self, name: str, password: str) -> None:
        """Change the password; every browser session of the user ends (the caller may open a new one)."""
        self.store.set_password(name, password)
        ended = SessionStore(self.session).end_all(name)
        self._audit("user.passwd", user=name, sessions_ended=ended)

    def set_admin(self, name: str, admin: bool) -> None:
        self.store.set_admin(name, admin)
        self._audit("user.admin", user=name, admin=admin)

    def approve_user(self, name: str) -> None:
        self.store.approve_user(name)
        self._audit("user.approve", user=name)

    def remove_user(self, name: str) -> None:
        if name == self.actor.name:
            raise Forbidden("Admins cannot remove themselves.")
        self.store.remove_user(name)
        revoked = TokenStore(self.session).revoke_all(name)
        ended = SessionStore(self.session).end_all(name)
        self._audit("user.remove", user=name, tokens_revoked=revoked, sessions_ended=ended)

    def pending(self) -> list[UserInfo]:
        return self.store.list_users(PENDING)

    # -- groups ---------------------------------------------------------------------------------

    def add_group(self, name: str, description: str = "") -> GroupInfo:
        group = self.store.add_group(name, description)
        self._audit("group.add", group=name)
        return group

    def remove_group(self, name: str) -> None:
        self.store.remove_group(name)
        self._audit("group.remove", group=name)

    def add_member(self, group: str, user: str) -> None:
        self.store.add_member(group, user)
        self._audit("group.add_user", group=group, user=user)

    def remove_member(self, group: str, user: str) -> None:
        self.store.remove_member(group, user)
        self._audit("group.remove_user", group=group, user=user)

    # -- grants and defaults --------------------------------------------------------------------

    def grant(self, project: str, kind: str, subject: str, permission: str) -> GrantInfo:
        grant = self.store.grant(project, kind, subject, permission)
        self._audit("perm.grant", grant.project, kind=kind, subject=subject, permission=permission)
        return grant

    def revoke(self, project: str, kind: str, subject: str) -> None:
        self.store.revoke(project, kind, subject)
        self._audit("perm.revoke", project, kind=kind, subject=subject)

    def grant_index(self, index: str, kind: str, subject: str, permission: str) -> IndexGrantInfo:
        """Give a user or group read, write or promote on an index (see AccessPolicy.can_index)."""
        grant = self.store.grant_index(index, kind, subject, permission)
        self._audit("perm.index_grant", index=index, kind=kind, subject=subject, permission=permission)
        return grant

    def revoke_index(self, index: str, kind: str, subject: str, permission: str | None = None) -> int:
        """Remove one permission (None: all) of a user or group on an index."""
        removed = self.store.revoke_index(index, kind, subject, permission)
        self._audit("perm.index_revoke", index=index, kind=kind, subject=subject, permission=permission or "all")
        return removed

    def set_defaults(self, read: Sequence[str] | None = None, write: Sequence[str] | None = None,
                     cache: Sequence[str] | None = None) -> Defaults:  # fmt: skip
        configured = self.access.configured
        result = defaults_store.save(self.session, configured, read=read, write=write, cache=cache)
        self._audit("perm.defaults", read=[*result.read], write=[*result.write], cache=[*result.cache])
        return result

    def reset_defaults(self) -> Defaults:
        result = defaults_store.reset(self.session, self.access.configured)
        self._audit("perm.defaults", reset=True)
        return result

    # -- tokens ---------------------------------------------------------------------------------

    def create_token(self, owner: str, *, permission: str, projects: Iterable[str] | None = None,
                     expires: datetime | None = None, description: str = "",
                     ) -> tuple[TokenInfo, str]:  # fmt: skip
        if not self.backend.user_exists(owner):
            raise Conflict(f"No active user named {owner!r} to own the token.")
        info, text = TokenStore(self.session).create(owner, permission=permission, projects=projects,
                                                    expires=expires, description=description)  # fmt: skip
        self._audit("token.create", user=owner, token_id=info.id, permission=info.permission,
                    projects=list(info.projects) if info.projects else None,
                    expires=info.expires.isoformat() if info.expires else None)  # fmt: skip
        return info, text

    def revoke_token(self, token_id: int, owner: str | None = None) -> TokenInfo:
        info = TokenStore(self.session).revoke(token_id, owner)
        self._audit("token.revoke", user=info.owner, token_id=info.id)
        return info
