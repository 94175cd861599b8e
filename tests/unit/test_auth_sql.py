"""The sql plugin and the access commands: users, groups, grants, defaults, tokens, audit, export/import."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from flaskpypi.auth import READ, WRITE, Principal
from flaskpypi.core.errors import BadRequest, Conflict, NotFound
from flaskpypi.extensions import db


@pytest.fixture
def settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "auth_backend": "sql", "default_read": "authenticated"}


def invoke(runner, *args: str, ok: bool = True) -> str:
    result = runner.invoke(args=list(args))
    assert (result.exit_code == 0) is ok, result.output
    return result.output


def test_users_groups_and_grants_from_the_cli(app, runner) -> None:
    invoke(runner, "user", "add", "alice", "--password", "alice-password")
    invoke(runner, "user", "add", "bob", "--password", "bob-password", "--admin")
    invoke(runner, "group", "add", "team", "--description", "the team")
    invoke(runner, "group", "add-user", "team", "alice")
    invoke(runner, "perm", "grant", "Secret_Lib", "group:team", "write")
    users = json.loads(invoke(runner, "user", "list", "--json"))
    assert {"name": "alice", "state": "active", "admin": False, "groups": ["team"]} in users
    assert invoke(runner, "user", "list").splitlines()[0].split() == ["NAME", "STATE", "ADMIN", "GROUPS"]
    assert re.search(r"^alice +active +no +team$", invoke(runner, "user", "list"), re.MULTILINE)
    grants = json.loads(invoke(runner, "perm", "list", "--json"))["grants"]
    assert grants == [{"project": "secret-lib", "subject": "group:team", "permission": "write"}]
    assert json.loads(invoke(runner, "group", "list", "--json")) == [
        {"name": "team", "members": ["alice"], "description": "the team"}
    ]
    with app.app_context():
        access = app.extensions["flaskpypi"].access
        alice = access.backend.authenticate("alice", "alice-password")
        assert alice == Principal("alice") and access.can(alice, WRITE, "secret-lib")
        assert access.is_admin(Principal("bob")) and not access.is_admin(alice)
        assert not access.can(Principal("bob-not-admin"), READ, "secret-lib")
    invoke(runner, "group", "rm-user", "team", "alice")
    with app.app_context():
        assert not app.extensions["flaskpypi"].access.can(Principal("alice"), READ, "secret-lib")
    assert "already" in invoke(runner, "user", "add", "alice", "--password", "x-password", ok=False)
    assert "No user named 'zed'" in invoke(runner, "user", "rm", "zed", ok=False)
    assert "at least 8" in invoke(runner, "user", "add", "carl", "--password", "short", ok=False)
    assert "reserved" in invoke(runner, "group", "add", "everyone", ok=False)
    invoke(runner, "user", "passwd", "alice", "--password", "new-password")
    invoke(runner, "user", "rm", "alice")
    with app.app_context():
        assert app.extensions["flaskpypi"].access.backend.authenticate("alice", "new-password") is None


def test_pending_users_cannot_log_in_until_approved(app) -> None:
    with app.app_context():
        backend = app.extensions["flaskpypi"].access.backend
        backend.add_user("newbie", "newbie-password", pending=True)
        assert backend.authenticate("newbie", "newbie-password") is None and not backend.user_exists("newbie")
        backend.approve_user("newbie")
        assert backend.authenticate("newbie", "newbie-password") == Principal("newbie")
        with pytest.raises(Conflict):
            backend.approve_user("newbie")


def test_store_refusals(app) -> None:
    with app.app_context():
        backend = app.extensions["flaskpypi"].access.backend
        for call, error in [
            (lambda: backend.add_user("__token__", "long-password"), BadRequest),
            (lambda: backend.add_user("bad name", "long-password"), BadRequest),
            (lambda: backend.grant("demo", "user", "ghost", READ), NotFound),
            (lambda: backend.grant("demo", "group", "ghosts", READ), NotFound),
            (lambda: backend.grant("demo", "group", "authenticated", "own"), BadRequest),
            (lambda: backend.grant("../etc", "group", "authenticated", READ), Exception),
            (lambda: backend.revoke("demo", "user", "ghost"), NotFound),
            (lambda: backend.add_member("nogroup", "admin"), NotFound),
        ]:
            with pytest.raises(error):
                call()
            db.session.rollback()


def test_defaults_change_at_run_time_and_reset(app, runner) -> None:
    with app.test_request_context():
        access = app.extensions["flaskpypi"].access
        assert not access.can(None, READ, "anything")
    out = invoke(runner, "perm", "defaults", "--read", "everyone", "--write", "")
    assert "read=everyone write=-" in out
    with app.test_request_context():
        assert access.can(None, READ, "anything") and not access.can(Principal("x"), WRITE, "anything")
    assert "read=authenticated" in invoke(runner, "perm", "defaults", "--reset")
    assert "Invalid group names" in invoke(runner, "perm", "defaults", "--read", "bad name!", ok=False)


def test_tokens_from_the_cli(app, runner) -> None:
    invoke(runner, "user", "add", "ci", "--password", "ci-password")
    result = runner.invoke(args=["token", "create", "ci", "--project", "demo", "--read-only", "--expires-days", "30"])
    text = result.stdout.strip().splitlines()[-1]
    assert text.startswith("pypi-")
    listing = invoke(runner, "token", "list", "--user", "ci")
    assert listing.splitlines()[0].split()[:5] == ["ID", "OWNER", "PERMISSION", "PROJECTS", "STATE"]
    assert text not in listing
    [token] = json.loads(invoke(runner, "token", "list", "--user", "ci", "--json"))
    assert (token["owner"], token["permission"], token["projects"], token["state"]) == (
        "ci",
        "read",
        ["demo"],
        "active",
    )
    invoke(runner, "token", "revoke", str(token["id"]))
    assert json.loads(invoke(runner, "token", "list", "--json"))[0]["state"] == "revoked"
    assert "No active user" in invoke(runner, "token", "create", "ghost", ok=False)


def test_every_change_is_audited_with_who_and_where(app, runner) -> None:
    invoke(runner, "user", "add", "alice", "--password", "alice-password")
    invoke(runner, "perm", "grant", "demo", "alice", "read")
    invoke(runner, "token", "create", "alice")
    out = invoke(runner, "audit")
    header, *lines = out.strip().splitlines()
    assert header.split() == ["AT", "ACTOR", "ADDRESS", "ACTION", "PROJECT", "DETAIL"]
    assert [line.split()[4] for line in lines] == ["token.create", "perm.grant", "user.add"]
    assert all(line.split()[2].startswith("cli:") and line.split()[3] == "local" for line in lines)
    entries = [json.loads(line) for line in invoke(runner, "audit", "--json", "--project", "demo").splitlines()]
    assert entries[0]["detail"] == {"kind": "user", "subject": "alice", "permission": "read"}
    assert "alice-password" not in out and "pypi-" not in out


def test_export_then_import_into_another_deployment(app, runner, tmp_path: Path, monkeypatch) -> None:
    invoke(runner, "user", "add", "alice", "--password", "alice-password")
    invoke(runner, "group", "add", "team")
    invoke(runner, "group", "add-user", "team", "alice")
    invoke(runner, "perm", "grant", "demo", "group:team", "write")
    invoke(runner, "perm", "defaults", "--read", "authenticated", "--write", "team")
    text = runner.invoke(args=["token", "create", "alice", "--project", "demo"]).stdout.strip().splitlines()[-1]
    exported = tmp_path / "access.json"
    invoke(runner, "export-access", str(exported))
    data = json.loads(exported.read_text())
    assert "alice-password" not in exported.read_text() and text not in exported.read_text()
    assert data["users"][0]["password_hash"].startswith("scrypt:")

    from flaskpypi import create_app
    from tests.conftest import base_settings

    other_root = tmp_path / "other"
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(other_root / "instance"))
    other = create_app({**base_settings(other_root), "auth_backend": "sql"})
    other_runner = other.test_cli_runner()
    assert "1 users, 1 groups, 1 grants, 1 tokens" in invoke(other_runner, "import-access", str(exported))
    with other.test_request_context():
        access = other.extensions["flaskpypi"].access
        alice = access.backend.authenticate("alice", "alice-password")
        assert alice is not None and access.can(alice, WRITE, "demo")
        assert access.defaults.write == ("team",)
        from flaskpypi.auth.tokens import TokenStore

        assert TokenStore(db.session).verify(text) is not None  # the token moved along, still hashed
    (tmp_path / "bad.json").write_text('{"format": "x"}')
    assert "Not a flaskpypi-access" in invoke(other_runner, "import-access", str(tmp_path / "bad.json"), ok=False)
