"""Browser sessions: CSRF on every write a session authenticates, security headers, Secure cookies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN
from tests.helpers import basic, upload, upload_form
from tests.unit.test_auth_web import add_user, csrf_token, login

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
WHEEL = "demo-1.0-py3-none-any.whl"
ARGS = {"project": "demo", "filename": WHEEL, "version": "1.0", "name": "alice", "user": "alice",
        "token_id": 1, "kind": "user", "subject": "alice", "index": "default"}  # fmt: skip
ANONYMOUS_FORMS = {"account.login", "account.register"}  # no session yet; their forms check the token too
REFUSED = ("CSRF", "came from another site", "The form expired")


@pytest.fixture
def settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "auth_backend": "sql", "registration": "approval"}


def write_rules(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) of every rule that changes something, arguments filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & WRITE_METHODS):
            path = rule.build({k: ARGS[k] for k in rule.arguments}, append_unknown=False)[1]
            found.append((rule.endpoint, method, path))
    return found


def test_every_write_a_session_authenticates_needs_the_csrf_token(app, client, tmp_path: Path) -> None:
    from tests.support.dists import make_wheel

    wheel = make_wheel(tmp_path, "demo", "1.0")
    assert upload(client, wheel).status_code == 200
    add_user(client, "alice", "alice-password")
    login(client, *ADMIN)
    rules = write_rules(app)
    endpoints = {endpoint for endpoint, _, _ in rules}
    # the API's writes are among them (a new blueprint's writes are swept here too)
    assert {
        "api.yank",
        "api.unyank",
        "api.delete_file",
        "api.delete_project",
        "api.set_status",
        "api.upload_simple_",
        "fallback.set_upstream_settings",
        "admin_api.add_user",
        "ui.yank",
    } <= endpoints
    for endpoint, method, path in rules:
        if endpoint in ANONYMOUS_FORMS:
            continue
        if endpoint.startswith("api.upload"):
            response = client.open(path, method=method, data=upload_form(wheel), content_type="multipart/form-data")
        else:
            response = client.open(path, method=method, json={"filename": WHEEL, "status": "archived"})
        body = response.get_data(as_text=True)
        assert response.status_code == 400 and any(r in body for r in REFUSED), (endpoint, method, path, body)
    files = client.get("/api/projects/demo/files", headers=basic()).get_json()["files"]
    assert [(f["filename"], f["yanked"]) for f in files] == [(WHEEL, False)]  # nothing changed
    assert client.get("/api/admin/users/alice", headers=basic()).status_code == 200
    assert client.get("/api/me").get_json()["name"] == ADMIN[0]  # and the session goes on


def test_the_session_writes_with_the_token_and_basic_auth_needs_none(client, tmp_path: Path) -> None:
    from tests.support.dists import make_wheel

    wheel = make_wheel(tmp_path, "demo", "1.0")
    login(client, *ADMIN)
    refused = client.post("/simple/", data=upload_form(wheel), content_type="multipart/form-data")
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    token = {"X-CSRFToken": csrf_token(client, "/")}
    sent = client.post("/simple/", data=upload_form(wheel), content_type="multipart/form-data", headers=token)
    assert sent.status_code == 200, sent.get_data(as_text=True)
    assert client.post("/api/projects/demo/yank", json={"version": "1.0"}, headers=token).status_code == 200
    assert client.put("/api/projects/demo/status", json={"status": "archived"}, headers=token).status_code == 200
    wrong = client.post("/api/projects/demo/unyank", json={"version": "1.0"}, headers={"X-CSRFToken": "forged"})
    assert wrong.status_code == 400 and "CSRF" in wrong.get_data(as_text=True)
    # HTTP basic auth (twine, scripts) needs no token, even with a session cookie beside it
    assert client.post("/api/projects/demo/unyank", json={"version": "1.0"}, headers=basic()).status_code == 200
    assert client.delete(f"/api/projects/demo/files/{WHEEL}", headers=basic()).status_code == 200


@pytest.mark.parametrize("path", ["/", "/account/login", "/simple/", "/api/me", "/no-such-page"])
def test_security_headers(client, path: str) -> None:
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def session_cookie(response: Any) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    return cookies[0]


def test_the_session_cookie_is_secure_over_https_only_by_default(app) -> None:
    plain = session_cookie(app.test_client().get("/account/login"))
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    assert "Secure" in session_cookie(app.test_client().get("/account/login", base_url="https://localhost"))


@pytest.mark.parametrize("mode", ["true", "false"])
def test_the_secure_setting_forces_it(app_factory, mode: str) -> None:
    app = app_factory(session_cookie_secure=mode)
    for base_url in ("http://localhost", "https://localhost"):
        cookie = session_cookie(app.test_client().get("/account/login", base_url=base_url))
        assert ("Secure" in cookie) is (mode == "true"), (base_url, cookie)


def test_behind_proxy_fix_x_forwarded_proto_makes_it_secure(app_factory) -> None:
    app = app_factory(proxy_fix=1)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.1"}
    assert "Secure" in session_cookie(app.test_client().get("/account/login", headers=forwarded))
    plain = app.test_client().get("/account/login", headers={"X-Forwarded-Proto": "http"})
    assert "Secure" not in session_cookie(plain)


@pytest.fixture
def app_factory(settings: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from flaskpypi import create_app

    def make(**changes: Any):
        monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
        app = create_app({**settings, **changes})
        app.config["TESTING"] = True
        return app

    return make
