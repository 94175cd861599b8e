"""Grants on indexes in the sql plugin: `flaskpypi perm --index`, clear refusals, removal with users and
groups, the admin API and export/import between deployments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flaskpypi.auth import PROMOTE, READ, WRITE, Principal
from tests.conftest import ADMIN
from tests.helpers import basic
from tests.unit.test_auth_sql import invoke

UPSTREAM = {"type": "upstream", "url": "http://127.0.0.1:9/simple/", "mode": "redirect"}


@pytest.fixture
def settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "auth_backend": "sql", "indexes": {"public": UPSTREAM}}


def _access(app) -> Any:
    return app.extensions["flaskpypi"].access


def test_perm_grant_list_and_revoke_on_an_index(app, runner) -> None:
    invoke(runner, "user", "add", "alice", "--password", "alice-password")
    invoke(runner, "group", "add", "ci")
    assert "Granted write on index default to group ci." in invoke(runner, "perm", "grant", "--index", "default",
                                                                   "group:ci", "write")  # fmt: skip
    invoke(runner, "perm", "grant", "--index", "default", "group:ci", "promote")
    invoke(runner, "perm", "grant", "--index", "public", "alice", "read")
    invoke(runner, "perm", "grant", "--index", "public", "alice", "read")  # again: nothing changes
    listed = json.loads(invoke(runner, "perm", "list", "--json"))["index_grants"]
    assert listed == [
        {"index": "default", "subject": "group:ci", "permission": "write"},
        {"index": "default", "subject": "group:ci", "permission": "promote"},
        {"index": "public", "subject": "user:alice", "permission": "read"},
    ]
    table = invoke(runner, "perm", "list", "--index", "public")
    assert table.splitlines()[0].split() == ["INDEX", "SUBJECT", "PERMISSION"] and "user:alice" in table
    with app.app_context():
        access = _access(app)
        assert access.can_index(Principal("alice"), READ, "public") and not access.can_index(None, READ, "public")
    invoke(runner, "perm", "revoke", "--index", "default", "group:ci", "promote")
    assert [g["permission"] for g in json.loads(invoke(runner, "perm", "list", "--json", "--index", "default"))[
        "index_grants"]] == ["write"]  # fmt: skip
    invoke(runner, "perm", "revoke", "--index", "default", "group:ci")  # every permission
    assert "Revoked" in invoke(runner, "perm", "revoke", "--index", "public", "alice")
    assert json.loads(invoke(runner, "perm", "list", "--json"))["index_grants"] == []
    audit = invoke(runner, "audit", "--action", "perm.index_grant")
    assert "index=public" in audit and "permission=promote" in audit


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("grant", "--index", "nowhere", "group:ci", "read"), "No index named 'nowhere'"),
        (("grant", "--index", "default", "group:ci", "admin"), "use read, write, promote"),
        (("grant", "--index", "default", "group:nobody", "read"), "No group named 'nobody'"),
        (("grant", "--index", "default", "mallory", "read"), "No user named 'mallory'"),
        (("grant", "--index", "default", "group:ci"), "expected SUBJECT PERMISSION"),
        (("grant", "demo", "group:ci", "promote"), "use read, write"),  # promote is for indexes only
        (("revoke", "--index", "default", "group:ci", "write"), "No write grant to group 'ci' on index 'default'"),
    ],
)
def test_perm_on_an_index_refuses_clearly(app, runner, args: tuple[str, ...], message: str) -> None:
    invoke(runner, "group", "add", "ci")
    assert message in invoke(runner, "perm", *args, ok=False)


def test_removing_a_user_or_group_removes_their_index_grants(app, runner) -> None:
    invoke(runner, "user", "add", "alice", "--password", "alice-password")
    invoke(runner, "group", "add", "ci")
    invoke(runner, "perm", "grant", "--index", "public", "alice", "read")
    invoke(runner, "perm", "grant", "--index", "default", "group:ci", "write")
    invoke(runner, "user", "rm", "alice")
    invoke(runner, "group", "rm", "ci")
    assert json.loads(invoke(runner, "perm", "list", "--json"))["index_grants"] == []


def test_admin_api_grants_and_revokes_on_indexes(app, client) -> None:
    admin = basic(*ADMIN)
    assert client.post("/api/admin/groups", json={"name": "ci"}, headers=admin).status_code == 201
    put = client.put("/api/admin/indexes/default/grants/group/ci", json={"permission": "write"}, headers=admin)
    assert put.status_code == 200 and put.get_json() == {"index": "default", "kind": "group", "subject": "ci",
                                                         "permission": "write"}  # fmt: skip
    bad = client.put("/api/admin/indexes/default/grants/group/ci", json={"permission": "own"}, headers=admin)
    assert bad.status_code == 400 and "use read, write, promote" in bad.get_data(as_text=True)
    assert client.put("/api/admin/indexes/nowhere/grants/group/ci", json={"permission": "read"},
                      headers=admin).status_code == 404  # fmt: skip
    listed = client.get("/api/admin/index-grants?index=default", headers=admin).get_json()["grants"]
    assert listed == [{"index": "default", "kind": "group", "subject": "ci", "permission": "write"}]
    assert client.get("/api/admin/index-grants").status_code == 401  # admins only
    gone = client.delete("/api/admin/indexes/default/grants/group/ci?permission=write", headers=admin)
    assert gone.status_code == 200 and gone.get_json()["revoked"] == 1
    assert client.delete("/api/admin/indexes/default/grants/group/ci", headers=admin).status_code == 404


def test_index_grants_travel_with_export_and_import(app, runner, tmp_path: Path, monkeypatch) -> None:
    invoke(runner, "group", "add", "ci")
    invoke(runner, "perm", "grant", "--index", "default", "group:ci", "write")
    invoke(runner, "perm", "grant", "--index", "public", "group:ci", "read")
    exported = tmp_path / "access.json"
    invoke(runner, "export-access", str(exported))
    data = json.loads(exported.read_text())
    assert {"index": "public", "kind": "group", "subject": "ci", "permission": "read"} in data["index_grants"]

    from flaskpypi import create_app
    from tests.conftest import base_settings

    def deployment(name: str, **settings: Any) -> Any:
        root = tmp_path / name
        monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(root / "instance"))
        return create_app({**base_settings(root), "auth_backend": "sql", **settings})

    other = deployment("other", indexes={"public": UPSTREAM})
    assert "2 index_grants" in invoke(other.test_cli_runner(), "import-access", str(exported))
    with other.app_context():
        acls = _access(other).backend.index_acls()
        assert acls["default"].groups == {"ci": {WRITE}} and acls["public"].groups == {"ci": {READ}}
        assert not _access(other).can_index(Principal("bob"), PROMOTE, "default")
    # a deployment without the index refuses the file, naming the index
    refused = invoke(deployment("third").test_cli_runner(), "import-access", str(exported), ok=False)
    assert "index 'public', which this deployment does not have" in refused


def test_index_grants_in_the_config_need_known_indexes(tmp_path: Path, monkeypatch) -> None:
    from flaskpypi import create_app
    from flaskpypi.settings import SettingsError
    from tests.conftest import base_settings

    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    with pytest.raises(SettingsError, match="no index named 'staging'"):
        create_app({**base_settings(tmp_path), "index_grants": {"staging": {"group:ci": "write"}}})


class TestAPrivateBuiltInIndex:
    """A read grant on `default` hides it at the single-index URLs too: /simple/, files, the JSON API."""

    @pytest.fixture
    def settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {**settings, "default_read": "everyone", "default_write": "authenticated"}

    def test_only_grantees_read_it_and_others_find_nothing(self, app, client, runner, tmp_path: Path) -> None:
        from tests.helpers import upload
        from tests.support.dists import make_wheel

        wheel = make_wheel(tmp_path, "demo", "1.0")
        assert upload(client, wheel, auth=basic(*ADMIN)).status_code == 200
        for name in ("alice", "bob"):
            invoke(runner, "user", "add", name, "--password", f"{name}-password")
        invoke(runner, "perm", "grant", "--index", "default", "alice", "read")
        paths = ["/simple/", "/simple/demo/", f"/packages/demo/{wheel.name}", "/pypi/demo/json"]
        for path in paths:
            assert client.get(path, headers=basic("alice", "alice-password")).status_code == 200, path
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers=basic("bob", "bob-password")).status_code == 404, path  # as if missing
        hidden = client.get(f"/packages/demo/{wheel.name}", headers=basic("bob", "bob-password"))
        assert hidden.get_data(as_text=True) == f"No file {wheel.name!r} in project 'demo'.\n"
        other = make_wheel(tmp_path / "b", "bobs-lib", "1.0")
        assert upload(client, other, auth=basic("bob", "bob-password")).status_code == 404  # an unseen index
        assert upload(client, other, auth=basic("alice", "alice-password")).status_code == 200
        # a yank by someone without write on the index (default_write would let bob): refused
        invoke(runner, "perm", "grant", "--index", "default", "alice", "write")
        yank = client.post("/api/projects/demo/yank", json={"version": "1.0"}, headers=basic("bob", "bob-password"))
        assert yank.status_code == 404  # bob does not even see the index
        invoke(runner, "perm", "grant", "--index", "default", "bob", "read")
        yank = client.post("/api/projects/demo/yank", json={"version": "1.0"}, headers=basic("bob", "bob-password"))
        assert yank.status_code == 403
        permissions = client.get("/api/projects/demo/permissions", headers=basic("bob", "bob-password")).get_json()
        assert permissions["read"] and not permissions["write"]
        third = make_wheel(tmp_path / "c", "bobs-lib", "2.0")
        assert upload(client, third, auth=basic("bob", "bob-password")).status_code == 403  # alice writes only
        download = client.get(f"/packages/demo/{wheel.name}", headers=basic("alice", "alice-password"))
        assert download.headers["Cache-Control"].startswith("private")  # never kept by shared caches

    def test_the_ui_lists_it_to_grantees_only(self, app, client, runner, tmp_path: Path) -> None:
        from tests.helpers import upload
        from tests.support.dists import make_wheel

        assert upload(client, make_wheel(tmp_path, "demo", "1.0"), auth=basic(*ADMIN)).status_code == 200
        for name in ("alice", "bob"):
            invoke(runner, "user", "add", name, "--password", f"{name}-password")
        for path in ("/", "/?q=demo", "/?partial=1", "/?sort=name"):
            assert "/project/demo/" in client.get(path, headers=basic("alice", "alice-password")).get_data(True)
        invoke(runner, "perm", "grant", "--index", "default", "alice", "read")
        for path in ("/", "/?q=demo", "/?partial=1", "/?sort=name"):
            assert "/project/demo/" in client.get(path, headers=basic("alice", "alice-password")).get_data(True)
            assert "/project/demo/" not in client.get(path, headers=basic("bob", "bob-password")).get_data(True)


class TestChangesInAHostedIndexFollowItsGrants:
    """Yank, delete and the file list act on `?index=`; the index's own grants decide, not the built-in one's."""

    @pytest.fixture
    def settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {**settings, "default_read": "everyone", "default_write": "authenticated",
                "indexes": {"staging": {"type": "hosted"}, "secret": {"type": "hosted"}}}  # fmt: skip

    def test_a_writer_of_default_may_not_change_staging_or_see_secret(
        self, app, client, runner, tmp_path: Path
    ) -> None:
        from tests.helpers import upload
        from tests.support.dists import make_wheel

        invoke(runner, "user", "add", "bob", "--password", "bob-password")
        invoke(runner, "user", "add", "carol", "--password", "carol-password")
        invoke(runner, "perm", "grant", "--index", "staging", "carol", "write")
        invoke(runner, "perm", "grant", "--index", "secret", "carol", "read")
        for where in ("/legacy/", "/staging/legacy/", "/secret/legacy/"):
            assert upload(client, make_wheel(tmp_path / where.strip("/"), "demo", "1.0"), where,
                          auth=basic(*ADMIN)).status_code == 200  # fmt: skip
        bob, carol = basic("bob", "bob-password"), basic("carol", "carol-password")
        yank = {"version": "1.0"}
        assert client.post("/api/projects/demo/yank", json=yank, headers=bob).status_code == 200  # default_write
        assert client.post("/api/projects/demo/yank?index=staging", json=yank, headers=bob).status_code == 403
        assert client.delete("/api/projects/demo?index=staging", headers=bob).status_code == 403
        assert client.post("/api/projects/demo/yank?index=secret", json=yank, headers=bob).status_code == 404
        assert client.get("/api/projects/demo/files?index=secret", headers=bob).status_code == 404
        assert client.get("/api/projects/demo/files?index=secret", headers=carol).status_code == 200
        assert client.post("/api/projects/demo/yank?index=staging", json=yank, headers=carol).status_code == 200
        files = client.get("/api/projects/demo/files?index=staging", headers=carol).get_json()["files"]
        assert [f["yanked"] for f in files] == [True]
