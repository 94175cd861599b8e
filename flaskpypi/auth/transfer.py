"""export-access / import-access: users, groups, grants (on projects and on indexes), defaults and tokens as
JSON, between deployments.

Passwords and tokens travel as the salted hashes stored here, never in clear; a token keeps working
after the move. Import merges by default; `replace` first removes what the file does not carry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..core.errors import BadRequest
from ..core.records import utcnow
from . import INDEX_PERMISSIONS, PERMISSIONS, AuthBackend, UserStore
from . import defaults as defaults_store
from .audit import Actor, record
from .models import ACTIVE, PENDING, ApiToken, Grant, Group, IndexGrant, Membership, User
from .policy import AccessPolicy
from .sql import validate_name

FORMAT, VERSION = "flaskpypi-access", 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def export_access(access: AccessPolicy, session: Session) -> dict[str, Any]:
    """Everything access control holds, as one JSON-ready dict."""
    data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "exported": utcnow().isoformat()}
    if isinstance(access.backend, UserStore):
        users = session.scalars(select(User).order_by(User.name))
        data["users"] = [{"name": u.name, "password_hash": u.password_hash, "admin": u.admin, "state": u.state}
                         for u in users]  # fmt: skip
        data["groups"] = [{"name": g.name, "description": g.description, "members": list(g.members)}
                          for g in access.backend.list_groups()]  # fmt: skip
    data["grants"] = [{"project": g.project, "kind": g.kind, "subject": g.subject, "permission": g.permission}
                      for g in access.backend.list_grants()]  # fmt: skip
    data["index_grants"] = [{"index": g.index, "kind": g.kind, "subject": g.subject, "permission": g.permission}
                            for g in access.backend.list_index_grants()]  # fmt: skip
    current = defaults_store.load(session, access.configured)
    data["defaults"] = {"read": list(current.read), "write": list(current.write), "cache": list(current.cache)}
    tokens = session.scalars(select(ApiToken).order_by(ApiToken.id))
    data["tokens"] = [
        {"owner": t.owner, "description": t.description, "permission": t.permission, "projects": t.projects,
         "lookup": t.lookup, "salt": t.salt, "digest": t.digest, "created": _iso(t.created),
         "expires": _iso(t.expires), "revoked": _iso(t.revoked)}
        for t in tokens
    ]  # fmt: skip
    return data


def import_access(access: AccessPolicy, session: Session, data: Any, actor: Actor,
                  replace: bool = False) -> dict[str, int]:  # fmt: skip
    """Load an export (merging, or replacing what is there); returns counts of what was written."""
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise BadRequest(f"Not a {FORMAT} version {VERSION} export.")
    backend = access.backend
    editable = ("users", "groups", "grants", "index_grants")
    if any(data.get(key) for key in editable) and not isinstance(backend, UserStore):
        raise BadRequest("Users, groups and grants can only be imported into the sql auth backend.")
    if replace:
        for model in (Membership, Grant, IndexGrant, Group, User, ApiToken):
            session.execute(delete(model))
    counts = {
        "users": _import_users(session, data.get("users", [])),
        "groups": _import_groups(session, data.get("groups", [])),
        "grants": _import_grants(session, data.get("grants", [])),
        "tokens": _import_tokens(session, backend, data.get("tokens", [])),
        "index_grants": _import_index_grants(session, backend, data.get("index_grants", [])),
    }
    session.commit()
    if data.get("defaults"):
        d = data["defaults"]
        defaults_store.save(session, access.configured, read=d.get("read"), write=d.get("write"),
                            cache=d.get("cache"))  # fmt: skip
    record(session, actor, "access.import", replace=replace, **counts)
    return counts


def _import_users(session: Session, users: list[dict[str, Any]]) -> int:
    for item in users:
        name = validate_name("user", str(item["name"]))
        if str(item.get("password_hash", "")).count("$") < 2:
            raise BadRequest(f"User {name!r} has no password hash in the export.")
        user = session.scalar(select(User).where(User.name == name)) or User(name=name)
        user.password_hash = item["password_hash"]
        user.admin = bool(item.get("admin", False))
        user.state = PENDING if item.get("state") == PENDING else ACTIVE
        session.add(user)
    session.flush()
    return len(users)


def _import_groups(session: Session, groups: list[dict[str, Any]]) -> int:
    for item in groups:
        name = validate_name("group", str(item["name"]))
        group = session.scalar(select(Group).where(Group.name == name)) or Group(name=name)
        group.description = str(item.get("description", ""))
        session.add(group)
        for member in item.get("members", []):
            user = session.scalar(select(User).where(User.name == member))
            if user is None:
                raise BadRequest(f"Group {name!r} names user {member!r}, who is not in the export.")
            if user not in group.members:
                group.members.append(user)
    session.flush()
    return len(groups)


def _import_grants(session: Session, grants: list[dict[str, Any]]) -> int:
    for item in grants:
        if item.get("kind") not in ("user", "group") or item.get("permission") not in PERMISSIONS:
            raise BadRequest(f"Malformed grant in the export: {item!r}.")
        query = select(Grant).where(Grant.project == item["project"], Grant.kind == item["kind"],
                                    Grant.subject == item["subject"])  # fmt: skip
        row = session.scalar(query) or Grant(project=item["project"], kind=item["kind"], subject=item["subject"])
        row.permission = item["permission"]
        session.add(row)
    session.flush()
    return len(grants)


def _import_index_grants(session: Session, backend: AuthBackend, grants: list[dict[str, Any]]) -> int:
    """Grants on indexes; each index must be one this deployment's settings describe."""
    known = set(backend.settings.layout().indexes)
    for item in grants:
        if item.get("kind") not in ("user", "group") or item.get("permission") not in INDEX_PERMISSIONS:
            raise BadRequest(f"Malformed index grant in the export: {item!r}.")
        if item.get("index") not in known:
            raise BadRequest(f"The export grants on index {item.get('index')!r}, which this deployment does not "
                             f"have (indexes: {', '.join(sorted(known))}).")  # fmt: skip
        query = select(IndexGrant).where(IndexGrant.index_name == item["index"], IndexGrant.kind == item["kind"],
                                         IndexGrant.subject == item["subject"],
                                         IndexGrant.permission == item["permission"])  # fmt: skip
        if session.scalar(query) is None:
            session.add(IndexGrant(index_name=item["index"], kind=item["kind"], subject=str(item["subject"]),
                                   permission=item["permission"]))  # fmt: skip
    session.flush()
    return len(grants)


def _import_tokens(session: Session, backend: AuthBackend, tokens: list[dict[str, Any]]) -> int:
    written = 0
    for item in tokens:
        if session.scalar(select(ApiToken.id).where(ApiToken.lookup == item["lookup"])) is not None:
            continue
        session.add(ApiToken(
            owner=item["owner"], description=item.get("description", ""), permission=item["permission"],
            projects=item.get("projects"), lookup=item["lookup"], salt=item["salt"], digest=item["digest"],
            created=_when(item.get("created")) or utcnow(), expires=_when(item.get("expires")),
            revoked=_when(item.get("revoked")),
        ))  # fmt: skip
        written += 1
    session.flush()
    return written
