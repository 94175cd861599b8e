"""Admin pages: users and approvals, groups, permissions and defaults, tokens, the audit log.

Each change calls the same audited service as the admin JSON API (AccessAdmin); nothing is decided here.
"""

from __future__ import annotations

from flask import Response, render_template, request, url_for

from ...auth import GROUP, USER, UserStore
from ...auth import defaults as defaults_store
from ...auth.audit import entries
from ...auth.models import PENDING
from ...auth.tokens import TokenStore
from ...core.errors import BadRequest
from ...extensions import db
from ..access import access_admin
from ..context import require_admin, runtime
from . import bp
from .common import PER_PAGE, done, paginate

AUDIT_ACTIONS = ("upload", "delete", "yank", "unyank", "project.status", "user.add", "user.register",
                 "user.approve", "user.passwd", "user.admin", "user.remove", "group.add", "group.remove",
                 "group.add_user", "group.remove_user", "perm.grant", "perm.revoke", "perm.defaults",
                 "token.create", "token.revoke")  # fmt: skip


@bp.before_request
def _admins_only() -> None:
    """Every admin page and form is for admins (the same check as the admin API)."""
    if (request.endpoint or "").startswith("ui.admin"):
        require_admin()


def _store_or_none() -> UserStore | None:
    """The editable auth backend, or None when users and groups come from elsewhere (config, LDAP)."""
    backend = runtime().access.backend
    return backend if isinstance(backend, UserStore) else None


def _page(template: str, section: str, **context: object) -> str:
    """An admin page: the tabs, the section shown, and whether users are editable here."""
    context.setdefault("store", _store_or_none())
    return render_template(f"admin/{template}", section=section, auth_backend=runtime().settings.auth_backend,
                           **context)  # fmt: skip


def _field(name: str, what: str) -> str:
    value = request.form.get(name, "").strip()
    if not value:
        raise BadRequest(f"Fill in the {what}.")
    return value


# -- overview --------------------------------------------------------------------------------------


@bp.get("/admin/")
def admin_home() -> str:
    """Pending registrations first, then what there is to manage and the latest changes."""
    store = _store_or_none()
    users = store.list_users() if store else []
    return _page(
        "home.html",
        "home",
        store=store,
        pending=[u for u in users if u.state == PENDING],
        user_count=sum(1 for u in users if u.state != PENDING),
        group_count=len(store.list_groups()) if store else 0,
        grant_count=len(runtime().access.backend.list_grants()),
        token_count=sum(1 for t in TokenStore(db.session).list() if t.active),
        defaults=defaults_store.load(db.session, runtime().access.configured),
        recent=entries(db.session, limit=10),
    )


# -- users -----------------------------------------------------------------------------------------


@bp.get("/admin/users")
def admin_users() -> str:
    """Every user (or only pending ones), with their groups and what can be done to them."""
    store = _store_or_none()
    state = request.args.get("state") or None
    users = store.list_users(state) if store else []
    return _page("users.html", "users", store=store, users=paginate(users), state=state)


@bp.post("/admin/users")
def admin_add_user() -> Response:
    """Create an active user."""
    name = _field("name", "user name")
    access_admin().add_user(name, request.form.get("password", ""), request.form.get("admin") == "on")
    return done(f"Added user {name}.")


@bp.post("/admin/users/<name>/approve")
def admin_approve(name: str) -> Response:
    """Let a pending user in."""
    access_admin().approve_user(name)
    return done(f"Approved {name}: they can log in now.")


@bp.post("/admin/users/<name>/admin")
def admin_set_admin(name: str) -> Response:
    """Make a user an admin, or not."""
    admin = request.form.get("admin") == "true"
    access_admin().set_admin(name, admin)
    return done(f"{name} is {'now' if admin else 'no longer'} an admin.")


@bp.post("/admin/users/<name>/password")
def admin_set_password(name: str) -> Response:
    """Set a user's password (when they forgot theirs)."""
    access_admin().set_password(name, request.form.get("password", ""))
    return done(f"Set a new password for {name}.")


@bp.post("/admin/users/<name>/remove")
def admin_remove_user(name: str) -> Response:
    """Delete a user; their grants go and their tokens are revoked."""
    if request.form.get("confirm") != name:
        raise BadRequest(f"Type {name} to confirm the removal.")
    access_admin().remove_user(name)
    return done(f"Removed user {name}; their tokens were revoked.")


# -- groups ----------------------------------------------------------------------------------------


@bp.get("/admin/groups")
def admin_groups() -> str:
    """Groups and their members."""
    store = _store_or_none()
    groups = store.list_groups() if store else []
    users = [u.name for u in store.list_users("active")] if store else []
    return _page("groups.html", "groups", store=store, groups=paginate(groups), users=users)


@bp.post("/admin/groups")
def admin_add_group() -> Response:
    """Create a group."""
    name = _field("name", "group name")
    access_admin().add_group(name, request.form.get("description", "").strip())
    return done(f"Added group {name}.")


@bp.post("/admin/groups/<name>/remove")
def admin_remove_group(name: str) -> Response:
    """Delete a group and its grants."""
    access_admin().remove_group(name)
    return done(f"Removed group {name}.")


@bp.post("/admin/groups/<name>/members")
def admin_add_member(name: str) -> Response:
    """Put a user in a group."""
    user = _field("user", "user name")
    access_admin().add_member(name, user)
    return done(f"Added {user} to {name}.")


@bp.post("/admin/groups/<name>/members/<user>/remove")
def admin_remove_member(name: str, user: str) -> Response:
    """Take a user out of a group."""
    access_admin().remove_member(name, user)
    return done(f"Took {user} out of {name}.")


# -- permissions -----------------------------------------------------------------------------------


@bp.get("/admin/permissions")
def admin_permissions() -> str:
    """The defaults for projects without grants, and every grant (of one project, with ?project=)."""
    project = request.args.get("project", "").strip() or None
    backend = runtime().access.backend
    return _page(
        "permissions.html",
        "permissions",
        project=project,
        grants=paginate(backend.list_grants(project)),
        defaults=defaults_store.load(db.session, runtime().access.configured),
        configured=runtime().access.configured,
    )


@bp.post("/admin/permissions")
def admin_grant() -> Response:
    """Give a user or group read or write on a project (replacing an earlier grant to them)."""
    kind = request.form.get("kind", USER)
    if kind not in (USER, GROUP):
        raise BadRequest("Grant to a user or a group.")
    project, subject = _field("project", "project name"), _field("subject", f"{kind} name")
    grant = access_admin().grant(project, kind, subject, request.form.get("permission", ""))
    return done(f"{kind.capitalize()} {subject} may now {grant.permission} {grant.project}.")


@bp.post("/admin/permissions/revoke")
def admin_revoke() -> Response:
    """Remove a grant."""
    project, kind, subject = _field("project", "project"), _field("kind", "kind"), _field("subject", "subject")
    access_admin().revoke(project, kind, subject)
    return done(f"Revoked the grant of {project} to {kind} {subject}.")


def _groups(name: str) -> list[str]:
    return [g for g in request.form.get(name, "").replace(",", " ").split() if g]


@bp.post("/admin/defaults")
def admin_defaults() -> Response:
    """Change who may read, write and cache projects without grants."""
    access_admin().set_defaults(_groups("read"), _groups("write"), _groups("cache"))
    return done("Changed the defaults.", url_for("ui.admin_permissions"))


@bp.post("/admin/defaults/reset")
def admin_reset_defaults() -> Response:
    """Go back to the configuration file's defaults."""
    access_admin().reset_defaults()
    return done("The configuration file's defaults apply again.", url_for("ui.admin_permissions"))


# -- tokens and audit ------------------------------------------------------------------------------


@bp.get("/admin/tokens")
def admin_tokens() -> str:
    """Every API token (?user= for one user's), never their secrets."""
    user = request.args.get("user", "").strip() or None
    tokens = TokenStore(db.session).list(user)
    return _page("tokens.html", "tokens", tokens=paginate(tokens), user=user)


@bp.post("/admin/tokens/<int:token_id>/revoke")
def admin_revoke_token(token_id: int) -> Response:
    """Revoke anyone's token."""
    info = access_admin().revoke_token(token_id)
    return done(f"Revoked token {info.id} of {info.owner}.")


@bp.get("/admin/audit")
def admin_audit() -> str:
    """The audit log, newest first, filtered by actor, action or project; pages by entry id."""
    args = request.args
    filters = {k: args.get(k, "").strip() or None for k in ("actor", "action", "project")}
    try:
        before = int(args.get("before", 0)) or None
    except ValueError:
        before = None
    found = entries(db.session, limit=PER_PAGE + 1, before=before, **filters)
    older = found[PER_PAGE - 1].id if len(found) > PER_PAGE else None
    return _page("audit.html", "audit", entries=found[:PER_PAGE], older=older, filters=filters,
                 actions=AUDIT_ACTIONS, paged=before is not None)  # fmt: skip
