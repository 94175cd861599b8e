"""Browser sessions against a live gunicorn server (2 workers): logout and password changes end them
server-side, so a saved copy of the cookie stops working; the cookie is Secure behind a TLS proxy."""

from __future__ import annotations

import re

import pytest
import requests

from tests.conftest import ADMIN
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def csrf(session: requests.Session, url: str) -> str:
    match = CSRF.search(session.get(url, timeout=30).text)
    assert match, "no CSRF token on " + url
    return match.group(1)


def browser(server: LiveServer, user: str, password: str) -> requests.Session:
    """A logged-in 'browser' (a requests session keeping the cookie)."""
    session = requests.Session()
    data = {"username": user, "password": password, "csrf_token": csrf(session, server.url + "account/login")}
    response = session.post(server.url + "account/login", data=data, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text
    return session


def me(server: LiveServer, cookie: str) -> int:
    """The status of /api/me with only this session cookie."""
    return requests.get(server.url + "api/me", cookies={"session": cookie}, timeout=30).status_code


def test_logout_ends_the_session_even_for_a_saved_cookie(live_server) -> None:
    server = live_server(auth_backend="sql")
    session = browser(server, *ADMIN)
    saved = session.cookies["session"]
    assert session.get(server.url + "api/me", timeout=30).json()["name"] == ADMIN[0]
    token = csrf(session, server.url)
    for _ in range(4):  # whichever worker answers
        assert me(server, saved) == 200
    out = session.post(server.url + "account/logout", data={"csrf_token": token}, allow_redirects=False, timeout=30)
    assert out.status_code == 302
    for _ in range(4):
        assert me(server, saved) == 401
    replayed = requests.post(server.url + "api/admin/users", json={"name": "eve", "password": "eve-password-1"},
                             cookies={"session": saved}, headers={"X-CSRFToken": token}, timeout=30)  # fmt: skip
    assert replayed.status_code == 401
    assert requests.get(server.url + "api/admin/users/eve", auth=ADMIN, timeout=30).status_code == 404


def test_a_password_change_ends_every_other_session(live_server) -> None:
    server = live_server(auth_backend="sql")
    made = requests.post(server.url + "api/admin/users", json={"name": "alice", "password": "alice-password"},
                         auth=ADMIN, timeout=30)  # fmt: skip
    assert made.status_code == 201
    here, elsewhere = browser(server, "alice", "alice-password"), browser(server, "alice", "alice-password")
    saved = elsewhere.cookies["session"]
    form = {"current": "alice-password", "new": "alice-password-2", "confirm": "alice-password-2",
            "csrf_token": csrf(here, server.url + "account/password")}  # fmt: skip
    changed = here.post(server.url + "account/password", data=form, allow_redirects=False, timeout=30)
    assert changed.status_code == 303
    assert here.get(server.url + "api/me", timeout=30).json()["name"] == "alice"  # this browser goes on
    for _ in range(4):
        assert me(server, saved) == 401
    assert requests.get(server.url + "api/me", auth=("alice", "alice-password"), timeout=30).status_code == 401
    # an admin setting it ends the sessions too, this browser's included
    reset = requests.patch(server.url + "api/admin/users/alice", json={"password": "alice-password-3"}, auth=ADMIN,
                           timeout=30)  # fmt: skip
    assert reset.status_code == 200
    assert here.get(server.url + "api/me", timeout=30).status_code == 401


def test_the_session_cookie_is_secure_behind_a_tls_proxy(live_server) -> None:
    server = live_server(proxy_fix=1)
    proxied = requests.get(server.url + "account/login", headers={"X-Forwarded-Proto": "https"}, timeout=30)
    assert "; Secure" in proxied.headers["Set-Cookie"] and "HttpOnly" in proxied.headers["Set-Cookie"]
    plain = requests.get(server.url + "account/login", timeout=30)
    assert "Secure" not in plain.headers["Set-Cookie"]
    assert plain.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in plain.headers[
        "Content-Security-Policy"]  # fmt: skip
