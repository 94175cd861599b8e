"""Blueprint `admin_api`: JSON for users, groups, grants, defaults, approvals, audit and API tokens.

Callers authenticate with HTTP basic (a password, not a token) or a UI session; with a session,
every change needs the CSRF token in an `X-CSRFToken` header.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..auth import GROUP, READ, USER, WRITE, GrantInfo, Principal, UserInfo
from ..auth import defaults as defaults_store
from ..auth.audit import as_json, entries
from ..auth.policy import CACHE, Defaults
from ..auth.tokens import TokenStore
from ..auth.transfer import export_access, import_access
from ..core.errors import BadRequest, Forbidden, NotFound, Unauthorized
from ..core.records import utcnow
from ..core.views import DEFAULT_INDEX
from ..extensions import db
from .access import access_admin, actor
from .context import index, principal, require, require_admin, runtime

bp = Blueprint("admin_api", __name__)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("Send a JSON object (Content-Type: application/json).")
    return data


def _user_json(user: UserInfo) -> dict[str, Any]:
    data = asdict(user)
    data["groups"] = list(user.groups)
    data["created"] = user.created.isoformat() if user.created else None
    return data


def _grant_json(grant: GrantInfo) -> dict[str, str]:
    return asdict(grant)


def _defaults_json(current: Defaults) -> dict[str, Any]:
    return {"read": list(current.read), "write": list(current.write), "cache": list(current.cache)}


def _names(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"'{what}' must be a list of group names.")
    return value


# -- who am I, and what may I do ----------------------------------------------------------------


@bp.get("/api/me")
def me() -> Response:
    """The asker: name, admin flag, groups, and whether a token was used."""
    who = principal()
    if who is None:
        raise Unauthorized("Authentication required.")
    access = runtime().access
    groups = sorted(access.backend.groups(who))
    return jsonify(name=who.name, admin=access.is_admin(who), groups=groups, via_token=who.via_token)


@bp.get("/api/projects/<project>/permissions")
def permissions(project: str) -> Response:
    """What the asker may do with a project (the UI shows buttons by it); hidden projects are 404."""
    who = require(READ, project, hide=True)
    index().require_project(project)
    access = runtime().access
    write = access.can_index(who, WRITE, DEFAULT_INDEX, project)  # grants on the built-in index included
    delete = write and (runtime().policy.allow_delete or access.is_admin(who))
    return jsonify(project=project, read=True, write=write, delete=delete, cache=access.can(who, CACHE, project),
                   admin=access.is_admin(who))  # fmt: skip


# -- users --------------------------------------------------------------------------------------


@bp.get("/api/admin/users")
def list_users() -> Response:
    """Every user (?state=pending or active)."""
    require_admin()
    users = access_admin().store.list_users(request.args.get("state") or None)
    return jsonify(users=[_user_json(u) for u in users])


@bp.get("/api/admin/pending")
def pending() -> Response:
    """Self-registered users waiting for approval."""
    require_admin()
    return jsonify(users=[_user_json(u) for u in access_admin().pending()])


@bp.post("/api/admin/users")
def add_user() -> Response:
    """Create a user: {"name", "password", "admin": false}."""
    require_admin()
    data = _body()
    user = access_admin().add_user(str(data.get("name", "")), str(data.get("password", "")),
                                   bool(data.get("admin", False)))  # fmt: skip
    return jsonify(_user_json(user)), 201  # type: ignore[return-value]


@bp.get("/api/admin/users/<name>")
def get_user(name: str) -> Response:
    """One user."""
    require_admin()
    user = access_admin().store.get_user(name)
    if user is None:
        raise NotFound(f"No user named {name!r}.")
    return jsonify(_user_json(user))


@bp.patch("/api/admin/users/<name>")
def change_user(name: str) -> Response:
    """Change a user's password and/or admin flag: {"password": "...", "admin": true}."""
    require_admin()
    data, admin = _body(), access_admin()
    if "password" in data:
        admin.set_password(name, str(data["password"]))
    if "admin" in data:
        admin.set_admin(name, bool(data["admin"]))
    return get_user(name)


@bp.delete("/api/admin/users/<name>")
def remove_user(name: str) -> Response:
    """Delete a user; their tokens are revoked."""
    require_admin()
    access_admin().remove_user(name)
    return jsonify(removed=name)


@bp.post("/api/admin/users/<name>/approve")
def approve_user(name: str) -> Response:
    """Let a pending user in."""
    require_admin()
    access_admin().approve_user(name)
    return get_user(name)


# -- groups -------------------------------------------------------------------------------------


@bp.get("/api/admin/groups")
def list_groups() -> Response:
    """Every group with its members."""
    require_admin()
    return jsonify(groups=[asdict(g) for g in access_admin().store.list_groups()])


@bp.post("/api/admin/groups")
def add_group() -> Response:
    """Create a group: {"name", "description"}."""
    require_admin()
    data = _body()
    group = access_admin().add_group(str(data.get("name", "")), str(data.get("description", "")))
    return jsonify(asdict(group)), 201  # type: ignore[return-value]


@bp.delete("/api/admin/groups/<name>")
def remove_group(name: str) -> Response:
    """Delete a group (its grants go with it)."""
    require_admin()
    access_admin().remove_group(name)
    return jsonify(removed=name)


@bp.put("/api/admin/groups/<name>/members/<user>")
def add_member(name: str, user: str) -> Response:
    """Put a user in a group."""
    require_admin()
    access_admin().add_member(name, user)
    return jsonify(group=name, user=user, member=True)


@bp.delete("/api/admin/groups/<name>/members/<user>")
def remove_member(name: str, user: str) -> Response:
    """Take a user out of a group."""
    require_admin()
    access_admin().remove_member(name, user)
    return jsonify(group=name, user=user, member=False)


# -- grants and defaults ------------------------------------------------------------------------


@bp.get("/api/admin/grants")
def list_grants() -> Response:
    """Every grant (?project=NAME for one project's)."""
    require_admin()
    grants = runtime().access.backend.list_grants(request.args.get("project") or None)
    return jsonify(grants=[_grant_json(g) for g in grants])


def _kind(kind: str) -> str:
    if kind not in (USER, GROUP):
        raise BadRequest(f"Grant to a 'user' or a 'group', not {kind!r}.")
    return kind


@bp.put("/api/admin/projects/<project>/grants/<kind>/<subject>")
def grant(project: str, kind: str, subject: str) -> Response:
    """Give a user or group read or write on a project: {"permission": "read"}."""
    require_admin()
    permission = str(_body().get("permission", ""))
    return jsonify(_grant_json(access_admin().grant(project, _kind(kind), subject, permission)))


@bp.delete("/api/admin/projects/<project>/grants/<kind>/<subject>")
def revoke(project: str, kind: str, subject: str) -> Response:
    """Remove a grant."""
    require_admin()
    access_admin().revoke(project, _kind(kind), subject)
    return jsonify(project=project, kind=kind, subject=subject, revoked=True)


@bp.get("/api/admin/index-grants")
def list_index_grants() -> Response:
    """Every grant on indexes (?index=NAME for one index's)."""
    require_admin()
    grants = runtime().access.backend.list_index_grants(request.args.get("index") or None)
    return jsonify(grants=[asdict(g) for g in grants])


@bp.put("/api/admin/indexes/<index>/grants/<kind>/<subject>")
def grant_index(index: str, kind: str, subject: str) -> Response:
    """Give a user or group read, write or promote on an index: {"permission": "write"} (added to theirs)."""
    require_admin()
    permission = str(_body().get("permission", ""))
    return jsonify(asdict(access_admin().grant_index(index, _kind(kind), subject, permission)))


@bp.delete("/api/admin/indexes/<index>/grants/<kind>/<subject>")
def revoke_index(index: str, kind: str, subject: str) -> Response:
    """Remove a grant on an index (?permission=NAME for one permission, else all of the subject's)."""
    require_admin()
    permission = request.args.get("permission") or None
    removed = access_admin().revoke_index(index, _kind(kind), subject, permission)
    return jsonify(index=index, kind=kind, subject=subject, permission=permission, revoked=removed)


@bp.get("/api/admin/defaults")
def get_defaults() -> Response:
    """Who may read, write and trigger caching of projects without grants."""
    require_admin()
    return jsonify(_defaults_json(defaults_store.load(db.session, runtime().access.configured)))


@bp.put("/api/admin/defaults")
def set_defaults() -> Response:
    """Change the defaults: {"read": [...], "write": [...], "cache": [...]} (each optional)."""
    require_admin()
    data = _body()
    current = access_admin().set_defaults(_names(data.get("read"), "read"), _names(data.get("write"), "write"),
                                          _names(data.get("cache"), "cache"))  # fmt: skip
    return jsonify(_defaults_json(current))


@bp.delete("/api/admin/defaults")
def reset_defaults() -> Response:
    """Go back to the config file's defaults."""
    require_admin()
    return jsonify(_defaults_json(access_admin().reset_defaults()))


# -- audit, export, import ----------------------------------------------------------------------


@bp.get("/api/admin/audit")
def audit() -> Response:
    """The audit log, newest first (?limit, project, actor, action, before=<id> to page)."""
    require_admin()
    args = request.args
    try:
        limit, before = int(args.get("limit", 100)), int(args.get("before", 0)) or None
    except ValueError:
        raise BadRequest("'limit' and 'before' are numbers.")
    found = entries(db.session, limit=limit, project=args.get("project"), actor=args.get("actor"),
                    action=args.get("action"), before=before)  # fmt: skip
    return jsonify(entries=[as_json(e) for e in found])


@bp.get("/api/admin/export")
def export() -> Response:
    """Users (with password hashes), groups, grants, defaults and tokens (hashed) as JSON."""
    require_admin()
    return jsonify(export_access(runtime().access, db.session))


@bp.post("/api/admin/import")
def import_() -> Response:
    """Load an export (?replace=true removes what the file does not carry)."""
    require_admin()
    replace = request.args.get("replace", "").lower() in ("1", "true", "yes")
    counts = import_access(runtime().access, db.session, _body(), actor(), replace=replace)
    return jsonify(imported=counts)


# -- API tokens ---------------------------------------------------------------------------------


def _password_user() -> Principal:
    who = principal()
    if who is None:
        raise Unauthorized("Authentication required.")
    if who.via_token:
        raise Forbidden("Manage tokens with your password or a UI session, not with a token.")
    return who


def _expiry(data: dict[str, Any]) -> datetime | None:
    if data.get("expires_days") is not None:
        try:
            days = float(data["expires_days"])
        except (TypeError, ValueError):
            raise BadRequest("'expires_days' is a number of days.")
        return utcnow() + timedelta(days=days)
    if data.get("expires"):
        try:
            when = datetime.fromisoformat(str(data["expires"]))
        except ValueError:
            raise BadRequest("'expires' is an ISO 8601 date and time.")
        return when if when.tzinfo else when.replace(tzinfo=utcnow().tzinfo)
    return None


@bp.get("/api/tokens")
def my_tokens() -> Response:
    """The asker's tokens (never their secrets)."""
    who = _password_user()
    return jsonify(tokens=[t.as_json() for t in TokenStore(db.session).list(who.name)])


@bp.post("/api/tokens")
def create_token() -> Response:
    """A new token {description, permission, projects (null: all), expires_days|expires}, shown this once."""
    who = _password_user()
    data = _body()
    projects = data.get("projects")
    if projects is not None and (not isinstance(projects, list) or not all(isinstance(p, str) for p in projects)):
        raise BadRequest("'projects' is a list of project names, or null for all your projects.")
    info, text = access_admin().create_token(
        who.name, permission=str(data.get("permission", WRITE)), projects=projects, expires=_expiry(data),
        description=str(data.get("description", "")),
    )  # fmt: skip
    return jsonify({**info.as_json(), "token": text}), 201  # type: ignore[return-value]


@bp.delete("/api/tokens/<int:token_id>")
def revoke_my_token(token_id: int) -> Response:
    """Revoke one of the asker's tokens."""
    who = _password_user()
    return jsonify(access_admin().revoke_token(token_id, owner=who.name).as_json())


@bp.get("/api/admin/tokens")
def all_tokens() -> Response:
    """Every token (?user=NAME for one user's)."""
    require_admin()
    return jsonify(tokens=[t.as_json() for t in TokenStore(db.session).list(request.args.get("user") or None)])


@bp.delete("/api/admin/tokens/<int:token_id>")
def revoke_any_token(token_id: int) -> Response:
    """Revoke anyone's token."""
    require_admin()
    return jsonify(access_admin().revoke_token(token_id).as_json())
