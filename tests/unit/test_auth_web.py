"""The account pages, the admin and token API, CSRF, throttling and the audit of index changes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from tests.conftest import ADMIN
from tests.helpers import basic, upload
from tests.support.dists import make_wheel

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "auth_backend": "sql", "default_read": "authenticated", "registration": "approval",
            "login_limit_user": 3, "login_limit_address": 6}  # fmt: skip


def csrf_token(client, path: str = "/account/login") -> str:
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match, "no CSRF token in the form"
    return match.group(1) or match.group(2)


def add_user(client, name: str, password: str, admin: bool = False) -> None:
    response = client.post("/api/admin/users", json={"name": name, "password": password, "admin": admin},
                           headers=basic())  # fmt: skip
    assert response.status_code == 201, response.get_data(as_text=True)


def login(client, name: str, password: str, next_url: str = "") -> Any:
    data = {"username": name, "password": password, "csrf_token": csrf_token(client), "next": next_url}
    return client.post("/account/login", data=data)


def test_login_logout_and_the_session_principal(client) -> None:
    add_user(client, "alice", "alice-password")
    assert client.get("/api/me").status_code == 401
    assert client.post("/account/login", data={"username": "alice", "password": "alice-password"}).status_code == 400
    assert login(client, "alice", "wrong-password").status_code == 401
    response = login(client, "alice", "alice-password", next_url="/simple/")
    assert response.status_code == 302 and response.headers["Location"] == "/simple/"
    assert client.get("/api/me").get_json()["name"] == "alice"
    assert "alice" in client.get("/").get_data(as_text=True)
    assert client.post("/account/logout").status_code == 400  # no CSRF token: stays logged in
    assert client.get("/api/me").status_code == 200
    assert client.post("/account/logout", data={"csrf_token": csrf_token(client, "/")}).status_code == 302
    assert client.get("/api/me").status_code == 401


def test_the_ui_lists_no_projects_until_login(client, tmp_path: Path) -> None:
    add_user(client, "alice", "alice-password")
    assert upload(client, make_wheel(tmp_path, "hidden-gem", "1.0")).status_code == 200
    anonymous = client.get("/")
    assert "hidden-gem" not in anonymous.get_data(as_text=True)
    assert client.get("/simple/").status_code == 401
    login(client, "alice", "alice-password")  # the session reads what alice may read
    assert "hidden-gem" in client.get("/simple/").get_data(as_text=True)


def root_names(client, who: str) -> set[str]:
    """The projects /simple/ lists to one user (links resolved as a client resolves them)."""
    response = client.get("/simple/", headers=basic(who, who + "-password"))
    assert response.status_code == 200
    return {urljoin("/simple/", href).split("/")[2] for href in re.findall(r'<a href="([^"]+)"', response.text)}


def test_the_root_lists_a_private_project_to_its_grantees_only_and_at_once(client, tmp_path: Path) -> None:
    """Askers share the visible list when they see alike; a grant to a user or a group is seen at once."""
    admin = basic()
    for name in ("alice", "bob", "carol", "dave"):
        add_user(client, name, name + "-password")
    assert client.post("/api/admin/groups", json={"name": "team"}, headers=admin).status_code == 201
    assert client.put("/api/admin/groups/team/members/carol", headers=admin).status_code == 200
    for name in ("open-lib", "secret-lib"):
        assert upload(client, make_wheel(tmp_path, name, "1.0")).status_code == 200
    grant = "/api/admin/projects/secret-lib/grants/"
    assert client.put(grant + "user/alice", json={"permission": "read"}, headers=admin).status_code == 200
    expect = {"alice": {"open-lib", "secret-lib"}, "bob": {"open-lib"}, "carol": {"open-lib"}, "dave": {"open-lib"}}
    for who in ("bob", "alice", "carol", "dave", "alice", "bob"):  # bob and dave see alike, carol acts as team
        assert root_names(client, who) == expect[who], who
    assert client.put(grant + "group/team", json={"permission": "read"}, headers=admin).status_code == 200
    assert root_names(client, "carol") == {"open-lib", "secret-lib"}  # at once, through her group
    assert root_names(client, "bob") == {"open-lib"} == root_names(client, "dave")
    assert client.put(grant + "user/bob", json={"permission": "read"}, headers=admin).status_code == 200
    assert root_names(client, "bob") == {"open-lib", "secret-lib"} and root_names(client, "dave") == {"open-lib"}
    assert client.delete(grant + "user/alice", headers=admin).status_code == 200
    assert root_names(client, "alice") == {"open-lib"} and "secret-lib" in root_names(client, "carol")


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "javascript:alert(1)"])
def test_login_never_redirects_off_site(client, target: str) -> None:
    add_user(client, "alice", "alice-password")
    response = login(client, "alice", "alice-password", next_url=target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_tokens_cannot_open_a_browser_session(client) -> None:
    add_user(client, "alice", "alice-password")
    token = client.post("/api/tokens", json={}, headers=basic("alice", "alice-password")).get_json()["token"]
    assert login(client, "__token__", token).status_code == 401


def test_session_changes_need_the_csrf_header(client) -> None:
    add_user(client, "boss", "boss-password", admin=True)
    login(client, "boss", "boss-password")
    body = {"name": "carol", "password": "carol-password"}
    refused = client.post("/api/admin/users", json=body)
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    token = csrf_token(client, "/")
    assert client.post("/api/admin/users", json=body, headers={"X-CSRFToken": token}).status_code == 201
    assert client.get("/api/admin/users").status_code == 200  # reading needs no token


def test_registration_waits_for_approval(client) -> None:
    data = {"username": "newbie", "password": "newbie-password", "confirm": "newbie-password",
            "csrf_token": csrf_token(client, "/account/register")}  # fmt: skip
    assert client.post("/account/register", data=data).status_code == 200
    assert login(client, "newbie", "newbie-password").status_code == 401
    pending = client.get("/api/admin/pending", headers=basic()).get_json()["users"]
    assert [u["name"] for u in pending] == ["newbie"]
    assert client.post("/api/admin/users/newbie/approve", headers=basic()).status_code == 200
    assert login(client, "newbie", "newbie-password").status_code == 302
    again = dict(data, csrf_token=csrf_token(client, "/account/register"))
    assert client.post("/account/register", data=again).status_code == 409


def test_registration_closed_is_404(app, client) -> None:
    app.extensions["flaskpypi"].settings.registration = "closed"
    assert client.get("/account/register").status_code == 404


def test_failed_logins_are_throttled_with_retry_after(client) -> None:
    add_user(client, "alice", "alice-password")
    statuses = [client.get("/simple/", headers=basic("alice", f"guess-{i}")).status_code for i in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    throttled = client.get("/simple/", headers=basic("alice", "alice-password"))
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    form = login(client, "alice", "alice-password")  # the form shares the counters
    assert form.status_code == 429 and "Retry-After" in form.headers
    for other in ("bob", "carl", "dave"):  # other users from this address: 3 + 3 failures reach its limit of 6
        assert client.get("/simple/", headers=basic(other, "guess")).status_code == 401
    assert client.get("/simple/", headers=basic(*ADMIN)).status_code == 429


def test_token_api(client) -> None:
    add_user(client, "alice", "alice-password")
    alice = basic("alice", "alice-password")
    made = client.post("/api/tokens", json={"permission": "read", "projects": ["demo"], "expires_days": 7,
                                            "description": "ci"}, headers=alice)  # fmt: skip
    assert made.status_code == 201
    body = made.get_json()
    token = body["token"]
    assert body["permission"] == "read" and body["projects"] == ["demo"] and body["expires"]
    listed = client.get("/api/tokens", headers=alice).get_json()["tokens"]
    assert [t["id"] for t in listed] == [body["id"]] and token not in str(listed)
    via_token = basic("__token__", token)
    assert client.get("/api/me", headers=via_token).get_json() == {
        "name": "alice", "admin": False, "groups": [], "via_token": True}  # fmt: skip
    assert client.post("/api/tokens", json={}, headers=via_token).status_code == 403
    assert client.delete(f"/api/tokens/{body['id']}", headers=basic()).status_code == 404  # not admin's own
    assert client.delete(f"/api/tokens/{body['id']}", headers=alice).status_code == 200
    assert client.get("/api/me", headers=via_token).status_code == 401
    for bad in ({"permission": "root"}, {"projects": "demo"}, {"expires_days": "soon"}, {"expires": "2000-01-01"}):
        assert client.post("/api/tokens", json=bad, headers=alice).status_code == 400, bad


def test_admin_api_round_trip(client) -> None:
    admin = basic()
    add_user(client, "alice", "alice-password")
    assert client.post("/api/admin/groups", json={"name": "team"}, headers=admin).status_code == 201
    assert client.put("/api/admin/groups/team/members/alice", headers=admin).status_code == 200
    grant = client.put("/api/admin/projects/Demo/grants/group/team", json={"permission": "write"}, headers=admin)
    assert grant.get_json() == {"project": "demo", "kind": "group", "subject": "team", "permission": "write"}
    assert client.get("/api/admin/grants?project=demo", headers=admin).get_json()["grants"] == [grant.get_json()]
    assert client.get("/api/admin/users/alice", headers=admin).get_json()["groups"] == ["team"]
    assert client.put("/api/admin/defaults", json={"read": ["everyone"]}, headers=admin).get_json()["read"] == [
        "everyone"]  # fmt: skip
    assert client.get("/simple/").status_code == 200  # anonymous may read now
    assert client.delete("/api/admin/defaults", headers=admin).get_json()["read"] == ["authenticated"]
    assert client.get("/simple/").status_code == 401
    assert client.patch("/api/admin/users/alice", json={"admin": True}, headers=admin).get_json()["admin"]
    assert client.get("/api/admin/users", headers=basic("alice", "alice-password")).status_code == 200
    assert client.delete("/api/admin/projects/demo/grants/group/team", headers=admin).status_code == 200
    assert client.delete("/api/admin/groups/team", headers=admin).status_code == 200
    assert client.delete("/api/admin/users/alice", headers=admin).status_code == 200
    assert client.get("/api/admin/users/alice", headers=admin).status_code == 404
    actions = [e["action"] for e in client.get("/api/admin/audit", headers=admin).get_json()["entries"]]
    assert actions[:3] == ["user.remove", "group.remove", "perm.revoke"] and "perm.defaults" in actions
    exported = client.get("/api/admin/export", headers=admin).get_json()
    assert exported["format"] == "flaskpypi-access" and exported["users"] == []


def test_uploads_yanks_and_deletes_are_audited(client, tmp_path: Path) -> None:
    add_user(client, "alice", "alice-password")
    alice = basic("alice", "alice-password")
    wheel = make_wheel(tmp_path, "demo", "1.0")
    assert upload(client, wheel, auth=alice).status_code == 200
    assert client.post("/api/projects/demo/yank", json={"version": "1.0", "reason": "bad"},
                       headers=alice).status_code == 200  # fmt: skip
    assert client.delete(f"/api/projects/demo/files/{wheel.name}", headers=basic()).status_code == 200
    log = client.get("/api/admin/audit?project=demo", headers=basic()).get_json()["entries"]
    assert [(e["action"], e["actor"], e["address"]) for e in log] == [
        ("delete", "admin", "127.0.0.1"), ("yank", "alice", "127.0.0.1"), ("upload", "alice", "127.0.0.1")]  # fmt: skip
    assert log[1]["detail"] == {"files": [wheel.name], "yanked": True, "reason": "bad"}
