"""SQL tables of access control: users, groups, grants (sql plugin); tokens, logins, sessions, audit (all)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column, relationship

from ..core.records import utcnow
from ..sql import ACCESS, Base, UTCDateTime, bump_counter

ACTIVE, PENDING = "active", "pending"


class User(Base):
    """A user of the sql plugin; `pending` until an admin approves a self-registration."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    admin: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    groups: Mapped[list[Group]] = relationship(secondary="memberships", back_populates="members",
                                               order_by="Group.name")  # fmt: skip


class Group(Base):
    """A named set of users of the sql plugin."""

    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    members: Mapped[list[User]] = relationship(secondary="memberships", back_populates="groups",
                                               order_by="User.name")  # fmt: skip


class Membership(Base):
    """A user in a group."""

    __tablename__ = "memberships"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)


class Grant(Base):
    """A permission (read or write) on one project for a user or a group (pseudo-groups included)."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("project", "kind", "subject", name="uq_grants_subject"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(100))
    permission: Mapped[str] = mapped_column(String(8))


class IndexGrant(Base):
    """A permission (read, write or promote) on one index for a user or a group; one row per permission."""

    __tablename__ = "index_grants"
    __table_args__ = (UniqueConstraint("index_name", "kind", "subject", "permission", name="uq_index_grants_subject"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    index_name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(100))
    permission: Mapped[str] = mapped_column(String(8))


class ApiToken(Base):
    """An API token: `lookup` finds the row, `digest` = sha256(salt + secret) proves it; no secret kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    owner: Mapped[str] = mapped_column(String(100), index=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    salt: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    permission: Mapped[str] = mapped_column(String(8))
    projects: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AccessSetting(Base):
    """An access setting changed at run time (the defaults), overriding the config file's value."""

    __tablename__ = "access_settings"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)


class LoginAttempts(Base):
    """Password checks counted against one key (user@address, address, user) since `since`.

    A check is counted before it runs (one atomic upsert), so concurrent guesses cannot pass the limit;
    a right password takes its count back. After the window the key starts again from one.
    """

    __tablename__ = "login_attempts"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class BrowserSession(Base):
    """A logged-in browser: the cookie holds a random secret, the row its sha256, so logout can end it."""

    __tablename__ = "browser_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(100), index=True)
    stamp: Mapped[str] = mapped_column(String(64), default="")  # the password's fingerprint at login
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AuditEntry(Base):
    """Who did what, when and from where: uploads, deletes, yanks, permission and token changes."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(32))
    project: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# -- every change of who may do what advances the `access` counter, in the same transaction ------------

DECISIVE = (User, Group, Membership, Grant, IndexGrant, AccessSetting)  # what a permission decision reads
ACCESS_CHANGED = "flaskpypi.access_changed"  # in Session.info: this session changed access (no cached decisions)


def _changes_access(session: Session, _context: Any, _instances: Any) -> None:
    """before_flush: a flush that writes users, groups, memberships, grants or defaults bumps `access`, so
    every worker's cached decisions (auth.policy) are dropped on its next request, on every host."""
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, DECISIVE) and (obj in session.new or obj in session.deleted or session.is_modified(obj))
           for obj in touched):  # fmt: skip
        bump_counter(session.connection(), ACCESS)
        session.info[ACCESS_CHANGED] = True


def _bulk_changes_access(state: ORMExecuteState) -> None:
    """do_orm_execute: a bulk UPDATE or DELETE of those tables bumps `access` too."""
    if (state.is_update or state.is_delete) and state.bind_mapper is not None:
        if state.bind_mapper.class_ in DECISIVE:
            bump_counter(state.session.connection(), ACCESS)
            state.session.info[ACCESS_CHANGED] = True


event.listen(Session, "before_flush", _changes_access)
event.listen(Session, "do_orm_execute", _bulk_changes_access)
