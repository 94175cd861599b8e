"""Who may do what, asserted row by row over HTTP against a real server; and hidden projects stay hidden.

| role \\ action | read page | download | upload | delete | yank | cache | admin API |
Rows: anonymous, a user without a grant, a reader, a writer, a member of a writing group, an admin.
"""

from __future__ import annotations

import base64
import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN
from tests.e2e.access_helpers import PASSWORDS, add_users, admin_call, start_private
from tests.support.dists import make_wheel
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e

ROLES = {"anonymous": None, "nogrant": "dave", "reader": "alice", "writer": "bob", "member": "carol",
         "admin": ADMIN[0]}  # fmt: skip
ACTIONS = ("read_page", "download", "upload", "delete", "yank", "cache", "admin_api")
EXPECTED = {  # status per action; for cache, (status, may cache) from the permissions endpoint
    "anonymous": (401, 401, 401, 401, 401, (401, None), 401),
    "nogrant": (404, 404, 403, 404, 404, (404, None), 403),
    "reader": (200, 200, 403, 403, 403, (200, True), 403),
    "writer": (200, 200, 200, 200, 200, (200, True), 403),
    "member": (200, 200, 200, 200, 200, (200, True), 403),
    "admin": (200, 200, 200, 200, 200, (200, True), 200),
}


def setup_matrix(server: LiveServer, dist: Path) -> None:
    """Project priv: alice reads, bob writes, group team (carol) writes; dave has no grant."""
    add_users(server, "alice", "bob", "carol", "dave")
    admin_call(server, "POST", "/api/admin/groups", {"name": "team"})
    admin_call(server, "PUT", "/api/admin/groups/team/members/carol")
    for kind, subject, permission in (("user", "alice", "read"), ("user", "bob", "write"), ("group", "team", "write")):
        admin_call(server, "PUT", f"/api/admin/projects/priv/grants/{kind}/{subject}", {"permission": permission})
    versions = ["1.0"] + [f"{n}.{i}" for i in range(len(ROLES)) for n in (2, 3)]
    for version in versions:
        assert post_upload(server, make_wheel(dist, "priv", version), ADMIN) == 200


def post_upload(server: LiveServer, wheel: Path, auth: tuple[str, str] | None) -> int:
    """A twine-shaped upload; the status code."""
    data = {":action": "file_upload", "protocol_version": "1", "filetype": "bdist_wheel", "pyversion": "py3",
            "metadata_version": "2.1"}  # fmt: skip
    files = {"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")}
    return requests.post(server.url + "legacy/", data=data, files=files, auth=auth, timeout=30).status_code


def statuses(server: LiveServer, role: str, index: int, dist: Path) -> tuple:
    """What each action answers for one role (files 2.<index> and 3.<index> are this row's to change)."""
    user = ROLES[role]
    auth = (user, ADMIN[1] if user == ADMIN[0] else PASSWORDS[user]) if user else None
    get = lambda path: requests.get(server.url + path, auth=auth, timeout=30)  # noqa: E731
    permissions = get("api/projects/priv/permissions")
    return (
        get("simple/priv/").status_code,
        get("packages/priv/priv-1.0-py3-none-any.whl").status_code,
        post_upload(server, make_wheel(dist / role, "priv", f"4.{index}"), auth),
        requests.delete(
            server.url + f"api/projects/priv/files/priv-3.{index}-py3-none-any.whl", auth=auth, timeout=30
        ).status_code,
        requests.post(
            server.url + "api/projects/priv/yank", json={"version": f"2.{index}"}, auth=auth, timeout=30
        ).status_code,
        (permissions.status_code, permissions.json()["cache"] if permissions.ok else None),
        get("api/admin/users").status_code,
    )


@pytest.fixture(scope="module")
def matrix_server(tmp_path_factory) -> Iterator[tuple[LiveServer, Path]]:
    root = tmp_path_factory.mktemp("matrix")
    server = start_private(root, allow_delete=True)
    setup_matrix(server, root / "dist")
    yield server, root / "dist"
    server.stop()


@pytest.mark.parametrize("role", list(ROLES))
def test_permission_matrix_row_on_sqlite(matrix_server, role: str) -> None:
    server, dist = matrix_server
    got = statuses(server, role, list(ROLES).index(role), dist)
    assert dict(zip(ACTIONS, got, strict=True)) == dict(zip(ACTIONS, EXPECTED[role], strict=True))


@pytest.mark.postgres
def test_permission_matrix_on_postgresql(postgres_url, tmp_path: Path) -> None:
    server = start_private(tmp_path / "pg", allow_delete=True, database_url=postgres_url)
    try:
        setup_matrix(server, tmp_path / "dist")
        for index, role in enumerate(ROLES):
            got = statuses(server, role, index, tmp_path / "dist")
            assert dict(zip(ACTIONS, got, strict=True)) == dict(zip(ACTIONS, EXPECTED[role], strict=True)), role
        codes = [get_from(server, "127.0.0.5", "dave", f"guess-{i}")[0] for i in range(6)]
        assert codes == [401] * 5 + [429]  # the throttle's counts live in PostgreSQL too
    finally:
        server.stop()


# -- hidden means: answered exactly as a missing project ----------------------------------------


def probes(name: str) -> list[tuple[str, str, dict]]:
    """Every read or change endpoint that names a project."""
    return [
        ("GET", f"simple/{name}/", {}),
        ("GET", f"simple/{name}/", {"headers": {"Accept": "application/vnd.pypi.simple.v1+json"}}),
        ("GET", f"packages/{name}/{name}-1.0-py3-none-any.whl", {}),
        ("HEAD", f"packages/{name}/{name}-1.0-py3-none-any.whl", {}),
        ("GET", f"packages/{name}/{name}-1.0-py3-none-any.whl.metadata", {}),
        ("GET", f"pypi/{name}/json", {}),
        ("GET", f"pypi/{name}/1.0/json", {}),
        ("GET", f"api/projects/{name}/files", {}),
        ("GET", f"api/projects/{name}/permissions", {}),
        ("POST", f"api/projects/{name}/yank", {"json": {"version": "1.0"}}),
        ("POST", f"api/projects/{name}/yank", {"json": {}}),
        ("POST", f"api/projects/{name}/unyank", {"json": {"version": "1.0"}}),
        ("DELETE", f"api/projects/{name}/files/{name}-1.0-py3-none-any.whl", {}),
        ("DELETE", f"api/projects/{name}/versions/1.0", {}),
        ("DELETE", f"api/projects/{name}", {}),
    ]


def answer(server: LiveServer, method: str, path: str, auth, options: dict, hidden: str, missing: str) -> tuple:
    response = requests.request(method, server.url + path, auth=auth, timeout=30, allow_redirects=False, **options)
    return response.status_code, response.reason.replace(hidden, missing), response.text.replace(hidden, missing)


def assert_hidden_like_missing(server: LiveServer, auth) -> None:
    for (method, path, options), (_, missing_path, _) in zip(probes("priv"), probes("nothere"), strict=True):
        hidden = answer(server, method, path, auth, options, "priv", "nothere")
        missing = answer(server, method, missing_path, auth, options, "nothere", "nothere")
        assert hidden == missing, f"{method} {path}"
    listing = requests.get(server.index_url, auth=auth, timeout=30)
    assert "priv" not in listing.text


def test_no_endpoint_reveals_a_private_project(matrix_server) -> None:
    server, _ = matrix_server
    assert_hidden_like_missing(server, ("dave", PASSWORDS["dave"]))  # a user without a grant: 404s
    assert_hidden_like_missing(server, None)  # anonymous on a login-only index: 401s
    admin_call(server, "PUT", "/api/admin/defaults", {"read": ["everyone"], "write": []})
    try:
        assert requests.get(server.index_url, timeout=30).status_code == 200
        assert_hidden_like_missing(server, None)  # anonymous on an open index: 404s and 401s as for missing
        assert_hidden_like_missing(server, ("dave", PASSWORDS["dave"]))  # no default write: 403s
    finally:
        admin_call(server, "DELETE", "/api/admin/defaults")


# -- brute force --------------------------------------------------------------------------------


def get_from(server: LiveServer, source: str, user: str, password: str) -> tuple[int, str | None]:
    """GET /simple/ with basic auth from a given loopback source address."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(source, 0))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        conn.request("GET", "/simple/", headers={"Authorization": f"Basic {token}"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    finally:
        conn.close()


def test_fifty_wrong_passwords_are_throttled_but_the_owner_gets_in_elsewhere(matrix_server) -> None:
    server, _ = matrix_server
    answers = [get_from(server, "127.0.0.3", "bob", f"guess-{i}") for i in range(50)]
    codes = [status for status, _ in answers]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    assert all(retry and int(retry) >= 1 for status, retry in answers if status == 429)
    assert get_from(server, "127.0.0.3", "bob", PASSWORDS["bob"])[0] == 429  # the guesser's address stays shut
    assert get_from(server, "127.0.0.4", "bob", PASSWORDS["bob"])[0] == 200  # bob, from his own address
    assert get_from(server, "127.0.0.3", "alice", PASSWORDS["alice"])[0] == 200  # others at that address
