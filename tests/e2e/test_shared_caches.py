"""Per-process caches (file facts, permission decisions, who sees what) never outlive a change: two servers
("hosts", 2 workers each) share one database and storage; what one changes, the other answers on its very
next request, whichever worker takes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN, base_settings
from tests.e2e.access_helpers import PASSWORDS, add_users, admin_call
from tests.helpers import upload_form
from tests.support.dists import make_wheel
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e
ROUNDS = 6  # requests per check, so that every worker of the other host answers at least once or so


@pytest.fixture
def hosts(tmp_path: Path):
    """Two servers on one SQLite index and one storage folder, the sql auth backend, anyone may read."""
    shared = {**base_settings(tmp_path), "auth_backend": "sql", "default_read": "everyone"}
    started = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        started.append(LiveServer(root, shared).start())
    yield started
    for server in started:
        server.stop()


def _statuses(server: LiveServer, path: str, auth: tuple[str, str] | None = None) -> set[int]:
    with requests.Session() as session:  # kept-alive, as pip's: each request may meet another worker
        return {session.get(server.url + path.lstrip("/"), auth=auth, timeout=30).status_code for _ in range(ROUNDS)}


def _upload(server: LiveServer, wheel: Path) -> None:
    fields = {k: v for k, v in upload_form(wheel).items() if k != "content"}
    files = {"content": (wheel.name, wheel.read_bytes())}
    response = requests.post(server.index_url, data=fields, files=files, auth=ADMIN, timeout=60)
    assert response.status_code == 200, response.text


def test_file_uploaded_and_deleted_on_one_host_is_seen_by_the_other_on_its_next_request(
    hosts: list[LiveServer], tmp_path: Path
) -> None:
    a, b = hosts
    wheel = make_wheel(tmp_path / "dists", "shared-demo", "1.0")
    path = f"/packages/shared-demo/{wheel.name}"
    assert _statuses(b, path) == {404}  # b's workers now keep "no such file" for this serial
    _upload(a, wheel)
    assert _statuses(b, path) == {200}
    assert wheel.name in requests.get(b.index_url + "shared-demo/", timeout=30).text
    response = requests.delete(a.url + f"api/projects/shared-demo/files/{wheel.name}", auth=ADMIN, timeout=30)
    assert response.status_code == 200, response.text
    assert _statuses(b, path) == {404}


def test_defaults_and_grants_changed_on_one_host_apply_on_the_others_next_request(
    hosts: list[LiveServer], tmp_path: Path
) -> None:
    a, b = hosts
    _upload(a, make_wheel(tmp_path / "dists", "guarded", "1.0"))
    add_users(a, "alice")
    alice = ("alice", PASSWORDS["alice"])
    assert _statuses(b, "/simple/guarded/") == {200}
    assert "guarded" in requests.get(b.index_url, timeout=30).text

    admin_call(a, "PUT", "/api/admin/defaults", {"read": ["authenticated"], "write": []})
    assert _statuses(b, "/simple/guarded/") == {401}
    assert _statuses(b, "/simple/guarded/", alice) == {200}

    admin_call(a, "PUT", "/api/admin/projects/guarded/grants/user/admin", {"permission": "write"})
    assert _statuses(b, "/simple/guarded/", alice) == {404}  # a grant makes the project private to grantees
    assert "guarded" not in requests.get(b.index_url, auth=alice, timeout=30).text

    admin_call(a, "PUT", "/api/admin/projects/guarded/grants/user/alice", {"permission": "read"})
    assert _statuses(b, "/simple/guarded/", alice) == {200}
    assert "guarded" in requests.get(b.index_url, auth=alice, timeout=30).text

    admin_call(a, "DELETE", "/api/admin/defaults")
    admin_call(a, "DELETE", "/api/admin/projects/guarded/grants/user/admin")
    admin_call(a, "DELETE", "/api/admin/projects/guarded/grants/user/alice")
    assert _statuses(b, "/simple/guarded/") == {200}


def _downloads(server: LiveServer, path: str, auth: tuple[str, str] | None = None) -> set[tuple[int, str | None]]:
    """(status, Cache-Control) of ROUNDS kept-alive downloads: whatever worker of `server` takes each."""
    with requests.Session() as session:
        answers = [session.get(server.url + path.lstrip("/"), auth=auth, timeout=30) for _ in range(ROUNDS)]
    return {(r.status_code, r.headers.get("Cache-Control") if r.ok else None) for r in answers}


def test_anonymous_downloads_kept_by_one_host_follow_grants_and_deletes_made_on_the_other(
    hosts: list[LiveServer], tmp_path: Path
) -> None:
    a, b = hosts
    wheel = make_wheel(tmp_path / "dists", "kept-download", "1.0")
    path = f"/packages/kept-download/{wheel.name}"
    _upload(a, wheel)
    add_users(a, "alice")
    alice = ("alice", PASSWORDS["alice"])
    public, private = "public, max-age=31536000, immutable", "private, max-age=31536000, immutable"
    assert _downloads(b, path) == {(200, public)}  # b's workers now keep this download's answer

    admin_call(a, "PUT", "/api/admin/projects/kept-download/grants/user/alice", {"permission": "read"})
    assert _downloads(b, path) == {(404, None)}  # private to its grantees: hidden from anyone else
    assert _downloads(b, path, alice) == {(200, private)}

    admin_call(a, "DELETE", "/api/admin/projects/kept-download/grants/user/alice")
    assert _downloads(b, path) == {(200, public)}
    response = requests.delete(a.url + f"api/projects/kept-download/files/{wheel.name}", auth=ADMIN, timeout=30)
    assert response.status_code == 200, response.text
    assert _downloads(b, path) == {(404, None)}
