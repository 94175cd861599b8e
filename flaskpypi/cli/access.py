"""Access-control commands: user, group, perm, token, audit, export-access, import-access, hash-password."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from ..auth import INDEX_PERMISSIONS, PERMISSIONS, READ, WRITE, parse_subject
from ..auth import defaults as defaults_store
from ..auth.admin import AccessAdmin
from ..auth.audit import Actor, as_json, entries
from ..auth.passwords import check_strength, hash_password
from ..auth.tokens import TokenStore
from ..auth.transfer import export_access, import_access
from ..core.errors import Refusal
from ..core.records import utcnow
from ..extensions import db
from .output import emit, json_option


def _admin() -> AccessAdmin:
    """The audited service, acting as `cli:<login>` from `local`."""
    return AccessAdmin(current_app.extensions["flaskpypi"].access, db.session, Actor(f"cli:{getpass.getuser()}",
                                                                                      "local"))  # fmt: skip


def _refusals(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a refusal (no such user, name taken, read-only backend) into one error line and exit 1."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Refusal as exc:
            db.session.rollback()
            raise click.ClickException(exc.message)

    return run


def _new_password(given: str | None, prompt: str = "Password") -> str:
    """The password from --password, else asked twice without echo."""
    password = given if given is not None else click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    problem = check_strength(password)
    if problem:
        raise click.ClickException(problem)
    return password


# -- users --------------------------------------------------------------------------------------


@click.group("user")
def user_group() -> None:
    """Users of the sql auth backend: add, passwd, rm, approve, admin, list."""


@user_group.command("add")
@click.argument("name")
@click.option("--password", help="The password (asked for when omitted; avoid it in shell history).")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@with_appcontext
@_refusals
def user_add(name: str, password: str | None, admin: bool) -> None:
    """Create a user."""
    _admin().add_user(name, _new_password(password), admin)
    click.echo(f"Created user {name}{' (admin)' if admin else ''}.")


@user_group.command("passwd")
@click.argument("name")
@click.option("--password", help="The new password (asked for when omitted).")
@with_appcontext
@_refusals
def user_passwd(name: str, password: str | None) -> None:
    """Change a user's password."""
    _admin().set_password(name, _new_password(password, "New password"))
    click.echo(f"Changed the password of {name}.")


@user_group.command("rm")
@click.argument("name")
@with_appcontext
@_refusals
def user_rm(name: str) -> None:
    """Delete a user, their memberships, grants and tokens."""
    _admin().remove_user(name)
    click.echo(f"Removed user {name}.")


@user_group.command("approve")
@click.argument("name")
@with_appcontext
@_refusals
def user_approve(name: str) -> None:
    """Let a self-registered (pending) user in."""
    _admin().approve_user(name)
    click.echo(f"Approved {name}.")


@user_group.command("admin")
@click.argument("name")
@click.option("--off", is_flag=True, help="Take the admin flag away instead.")
@with_appcontext
@_refusals
def user_admin(name: str, off: bool) -> None:
    """Make a user an administrator (or not, with --off)."""
    _admin().set_admin(name, not off)
    click.echo(f"{name} is {'no longer' if off else 'now'} an administrator.")


@user_group.command("list")
@click.option("--pending", is_flag=True, help="Only users waiting for approval.")
@json_option
@with_appcontext
@_refusals
def user_list(pending: bool, as_json: bool) -> None:
    """List users: name, state, admin flag, groups."""
    users = _admin().store.list_users("pending" if pending else None)
    rows = [{"name": u.name, "state": u.state, "admin": u.admin, "groups": list(u.groups)} for u in users]
    emit(rows, ["name", "state", "admin", "groups"], as_json)


# -- groups -------------------------------------------------------------------------------------


@click.group("group")
def group_group() -> None:
    """Groups of the sql auth backend: add, rm, add-user, rm-user, list."""


@group_group.command("add")
@click.argument("name")
@click.option("--description", default="", help="What the group is for.")
@with_appcontext
@_refusals
def group_add(name: str, description: str) -> None:
    """Create a group."""
    _admin().add_group(name, description)
    click.echo(f"Created group {name}.")


@group_group.command("rm")
@click.argument("name")
@with_appcontext
@_refusals
def group_rm(name: str) -> None:
    """Delete a group and its grants."""
    _admin().remove_group(name)
    click.echo(f"Removed group {name}.")


@group_group.command("add-user")
@click.argument("group")
@click.argument("users", nargs=-1, required=True)
@with_appcontext
@_refusals
def group_add_user(group: str, users: tuple[str, ...]) -> None:
    """Put users in a group."""
    for name in users:
        _admin().add_member(group, name)
    click.echo(f"Added {', '.join(users)} to {group}.")


@group_group.command("rm-user")
@click.argument("group")
@click.argument("users", nargs=-1, required=True)
@with_appcontext
@_refusals
def group_rm_user(group: str, users: tuple[str, ...]) -> None:
    """Take users out of a group."""
    for name in users:
        _admin().remove_member(group, name)
    click.echo(f"Removed {', '.join(users)} from {group}.")


@group_group.command("list")
@json_option
@with_appcontext
@_refusals
def group_list(as_json: bool) -> None:
    """List groups and their members."""
    rows = [{"name": g.name, "members": list(g.members), "description": g.description}
            for g in _admin().store.list_groups()]  # fmt: skip
    emit(rows, ["name", "members", "description"], as_json)


# -- permissions --------------------------------------------------------------------------------


def _subject(value: str) -> tuple[str, str]:
    try:
        return parse_subject(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc))


@click.group("perm")
def perm_group() -> None:
    """Per-project grants and the defaults."""


def _perm_args(index: str | None, args: tuple[str, ...], grant: bool) -> tuple[str, str, str, str | None]:
    """(project or index, kind, name, permission) from `[PROJECT] SUBJECT [PERMISSION]` (no PROJECT with
    --index; PERMISSION needed to grant, optional to revoke an index grant, absent to revoke a project's)."""
    shape = ([] if index else ["PROJECT"]) + ["SUBJECT"] + (["PERMISSION"] if grant else [])
    extra = 1 if index and not grant else 0
    if not len(shape) <= len(args) <= len(shape) + extra:
        raise click.UsageError(f"expected {' '.join(shape)}{' [PERMISSION]' if extra else ''}")
    rest = args if index else args[1:]
    kind, name = _subject(rest[0])
    permission = rest[1] if len(rest) > 1 else None
    choices = INDEX_PERMISSIONS if index else PERMISSIONS
    if permission is not None and permission not in choices:
        raise click.BadParameter(f"{permission!r}: use {', '.join(choices)}", param_hint="PERMISSION")
    return index or args[0], kind, name, permission


@perm_group.command("grant")
@click.option("--index", help="Grant on this index (read, write or promote) instead of a project.")
@click.argument("args", nargs=-1, required=True, metavar="[PROJECT] SUBJECT PERMISSION")
@with_appcontext
@_refusals
def perm_grant(index: str | None, args: tuple[str, ...]) -> None:
    """Give SUBJECT (user NAME, user:NAME or group:NAME) read or write on PROJECT, or with --index INDEX
    read, write or promote on an index.

    A project with any grant follows its grants only: everyone else stops seeing it. An index with a read
    grant is private to its grantees; one with a write grant takes uploads from its write grantees only.
    """
    target, kind, name, permission = _perm_args(index, args, True)
    assert permission is not None
    if index:
        _admin().grant_index(target, kind, name, permission)
        click.echo(f"Granted {permission} on index {target} to {kind} {name}.")
        return
    _admin().grant(target, kind, name, permission)
    click.echo(f"Granted {permission} on {target} to {kind} {name}.")


@perm_group.command("revoke")
@click.option("--index", help="Revoke a grant on this index instead of a project.")
@click.argument("args", nargs=-1, required=True, metavar="[PROJECT] SUBJECT [PERMISSION]")
@with_appcontext
@_refusals
def perm_revoke(index: str | None, args: tuple[str, ...]) -> None:
    """Remove SUBJECT's grant on PROJECT, or with --index INDEX its PERMISSION (default: all) on an index."""
    target, kind, name, permission = _perm_args(index, args, False)
    if index:
        _admin().revoke_index(target, kind, name, permission)
        click.echo(f"Revoked {permission or 'every grant'} on index {target} to {kind} {name}.")
        return
    _admin().revoke(target, kind, name)
    click.echo(f"Revoked the grant on {target} to {kind} {name}.")


@perm_group.command("list")
@click.argument("project", required=False)
@click.option("--index", help="Only the grants on this index.")
@json_option
@with_appcontext
@_refusals
def perm_list(project: str | None, index: str | None, as_json: bool) -> None:
    """List grants (of one PROJECT, or of one --index), grants on indexes and the defaults."""
    admin = _admin()
    current = defaults_store.load(db.session, admin.access.configured)
    rows = [] if index else [{"project": g.project, "subject": f"{g.kind}:{g.subject}", "permission": g.permission}
                             for g in admin.backend.list_grants(project)]  # fmt: skip
    index_rows = [] if project else [{"index": g.index, "subject": f"{g.kind}:{g.subject}", "permission": g.permission}
                                     for g in admin.backend.list_index_grants(index)]  # fmt: skip
    if as_json:
        defaults = {"read": list(current.read), "write": list(current.write), "cache": list(current.cache)}
        click.echo(json.dumps({"grants": rows, "index_grants": index_rows, "defaults": defaults}, indent=1))
        return
    if not index:
        emit(rows, ["project", "subject", "permission"], as_json)
    if index_rows or index:
        emit(index_rows, ["index", "subject", "permission"], as_json)
    click.echo(f"defaults: read={','.join(current.read) or '-'} write={','.join(current.write) or '-'} "
               f"cache={','.join(current.cache) or '-'}")  # fmt: skip


@perm_group.command("defaults")
@click.option("--read", help="Comma-separated groups that may read projects without grants.")
@click.option("--write", help="Comma-separated groups that may upload to projects without grants.")
@click.option("--cache", help="Comma-separated groups that may make the index fetch from upstream.")
@click.option("--reset", is_flag=True, help="Forget the changes: the config file's values apply again.")
@with_appcontext
@_refusals
def perm_defaults(read: str | None, write: str | None, cache: str | None, reset: bool) -> None:
    """Change who may read, write and cache projects without grants (everyone, authenticated, groups)."""
    split = lambda v: None if v is None else [g.strip() for g in v.split(",") if g.strip()]  # noqa: E731
    admin = _admin()
    current = admin.reset_defaults() if reset else admin.set_defaults(split(read), split(write), split(cache))
    click.echo(f"defaults: read={','.join(current.read) or '-'} write={','.join(current.write) or '-'} "
               f"cache={','.join(current.cache) or '-'}")  # fmt: skip


# -- tokens -------------------------------------------------------------------------------------


@click.group("token")
def token_group() -> None:
    """API tokens: create, list, revoke."""


@token_group.command("create")
@click.argument("owner")
@click.option("--project", "projects", multiple=True, help="Limit the token to this project (repeatable).")
@click.option("--read-only", is_flag=True, help="Only download; no upload, yank or delete.")
@click.option("--expires-days", type=float, help="Stop working after this many days.")
@click.option("--description", default="", help="What the token is for.")
@with_appcontext
@_refusals
def token_create(owner: str, projects: tuple[str, ...], read_only: bool, expires_days: float | None,
                 description: str) -> None:  # fmt: skip
    """Create a token for OWNER and print it (the only time it is shown)."""
    expires = utcnow() + timedelta(days=expires_days) if expires_days is not None else None
    info, text = _admin().create_token(owner, permission=READ if read_only else WRITE,
                                       projects=list(projects) or None, expires=expires,
                                       description=description)  # fmt: skip
    click.echo(f"Token {info.id} for {owner} ({info.permission}, "
               f"{', '.join(info.projects) if info.projects else 'all projects'}):", err=True)  # fmt: skip
    click.echo(text)


@token_group.command("list")
@click.option("--user", help="Only this user's tokens.")
@json_option
@with_appcontext
def token_list(user: str | None, as_json: bool) -> None:
    """List tokens: id, owner, permission, scope, state, expiry, last use."""
    rows = [
        {"id": t.id, "owner": t.owner, "permission": t.permission, "projects": list(t.projects or []) or ["*"],
         "state": "active" if t.active else ("revoked" if t.revoked else "expired"), "expires": t.expires,
         "last_used": t.last_used, "description": t.description}
        for t in TokenStore(db.session).list(user)
    ]  # fmt: skip
    emit(rows, ["id", "owner", "permission", "projects", "state", "expires", "last_used", "description"], as_json)


@token_group.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
@_refusals
def token_revoke(token_id: int) -> None:
    """Revoke a token; it stops working on the next request."""
    info = _admin().revoke_token(token_id)
    click.echo(f"Revoked token {info.id} of {info.owner}.")


# -- audit, export, import, hash-password -------------------------------------------------------


@click.command("audit")
@click.option("--limit", default=50, show_default=True, help="How many entries, newest first.")
@click.option("--project", help="Only this project.")
@click.option("--actor", help="Only this user.")
@click.option("--action", help="Only this action (upload, delete, yank, perm.grant, token.create...).")
@click.option("--json", "as_json_lines", is_flag=True, help="One JSON object per line (a log, not an array).")
@with_appcontext
def audit(limit: int, project: str | None, actor: str | None, action: str | None, as_json_lines: bool) -> None:
    """Print the audit log: when, who, from where, what."""
    found = entries(db.session, limit=limit, project=project, actor=actor, action=action)
    if as_json_lines:
        for entry in found:
            click.echo(json.dumps(as_json(entry)))
        return
    rows = [
        {"at": f"{e.at:%Y-%m-%d %H:%M:%S}", "actor": e.actor or "anonymous", "address": e.address,
         "action": e.action, "project": e.project, "detail": " ".join(f"{k}={v}" for k, v in (e.detail or {}).items())}
        for e in found
    ]  # fmt: skip
    emit(rows, ["at", "actor", "address", "action", "project", "detail"], False)


@click.command("export-access")
@click.argument("output", type=click.File("w"), default="-")
@with_appcontext
def export_access_command(output: Any) -> None:
    """Write users (hashed passwords), groups, grants, defaults and tokens (hashed) as JSON."""
    data = export_access(current_app.extensions["flaskpypi"].access, db.session)
    json.dump(data, output, indent=2)
    output.write("\n")
    if output is not sys.stdout:
        click.echo(f"Exported {len(data.get('users', []))} users, {len(data.get('groups', []))} groups, "
                   f"{len(data['grants'])} grants, {len(data['tokens'])} tokens.", err=True)  # fmt: skip


@click.command("import-access")
@click.argument("source", type=click.File("r"))
@click.option("--replace", is_flag=True, help="Remove users, groups, grants and tokens the file does not carry.")
@with_appcontext
@_refusals
def import_access_command(source: Any, replace: bool) -> None:
    """Load an export-access file (merging by default)."""
    try:
        data = json.load(source)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{source.name} is not JSON: {exc}")
    admin = _admin()
    counts = import_access(admin.access, db.session, data, admin.actor, replace=replace)
    click.echo("Imported " + ", ".join(f"{n} {what}" for what, n in counts.items()) + ".")


@click.command("hash-password")
@click.option("--password", help="The password (asked for when omitted).")
def hash_password_command(password: str | None) -> None:
    """Print a password hash for the config file (`users`, `admin_password_hash`)."""
    click.echo(hash_password(_new_password(password)))


COMMANDS = [user_group, group_group, perm_group, token_group, audit, export_access_command,
            import_access_command, hash_password_command]  # fmt: skip
