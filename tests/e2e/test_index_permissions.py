"""Permissions per index end to end: gunicorn, the sql backend, a view over the built-in index and a local
upstream index that only the group `readers` may read; pip, uv and twine with passwords and tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN
from tests.e2e.access_helpers import PASSWORDS, add_users, admin_call, new_token, start_private
from tests.support.clients import Venv, check, pip_install, twine_upload, uv_pip_install, with_credentials
from tests.support.dists import make_wheel
from tests.support.server import LiveServer
from tests.support.upstream import LocalUpstream

pytestmark = pytest.mark.e2e

VIEWS = {"combo": {"members": ["default", "public"]},
         "both": {"members": ["default", "public"], "resolve": "merge"}}  # fmt: skip


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> Iterator[LocalUpstream]:
    """The upstream index: upstream-only 1.0 and shared 2.0."""
    folder = tmp_path_factory.mktemp("upstream")
    make_wheel(folder, "upstream-only", "1.0")
    make_wheel(folder, "shared", "2.0")
    server = LocalUpstream(folder, flavour="json").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, upstream: LocalUpstream) -> Iterator[LiveServer]:
    """Anyone reads projects, nobody writes by default; alice is in `readers` (read on `public`), carol in
    `ci` (write on `default`), bob in neither; the built-in index holds acme-lib 1.0 and shared 1.0."""
    root = tmp_path_factory.mktemp("indexperms")
    indexes = {"public": {"type": "upstream", "url": upstream.url, "mode": "redirect"}}
    live = start_private(root, default_read="everyone", default_write="", indexes=indexes, views=VIEWS,
                         upstream_retry=0)  # fmt: skip
    add_users(live, "alice", "bob", "carol")
    for group, user in (("readers", "alice"), ("ci", "carol")):
        admin_call(live, "POST", "/api/admin/groups", {"name": group})
        admin_call(live, "PUT", f"/api/admin/groups/{group}/members/{user}")
    admin_call(live, "PUT", "/api/admin/indexes/public/grants/group/readers", {"permission": "read"})
    admin_call(live, "PUT", "/api/admin/indexes/default/grants/group/ci", {"permission": "write"})
    dist = root / "dist"
    check(twine_upload(live.index_url, [make_wheel(dist, "acme-lib", "1.0"), make_wheel(dist, "shared", "1.0")],
                       *ADMIN))  # fmt: skip
    yield live
    live.stop()


def _get(server: LiveServer, path: str, user: str | None = None) -> requests.Response:
    auth = (user, PASSWORDS[user]) if user else None
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    return requests.get(server.url + path, auth=auth, headers=accept, timeout=30)


def _versions(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return response.json()["versions"]


def test_an_unreadable_index_is_missing_from_every_view(server, upstream: LocalUpstream) -> None:
    assert _versions(_get(server, "combo/simple/upstream-only/", "alice")) == ["1.0"]
    assert _versions(_get(server, "public/simple/upstream-only/", "alice")) == ["1.0"]
    assert _versions(_get(server, "both/simple/shared/", "alice")) == ["1.0", "2.0"]  # cached for alice now
    asked = upstream.counts["page:upstream-only"]
    # bob may not read `public`: its projects are missing, as for a project nobody has
    assert _get(server, "combo/simple/upstream-only/", "bob").status_code == 404
    missing = _get(server, "combo/simple/nothing/", "bob")
    assert _get(server, "combo/simple/upstream-only/", "bob").text == missing.text.replace("nothing", "upstream-only")
    assert _get(server, "public/simple/upstream-only/", "bob").status_code == 404
    nowhere = _get(server, "nowhere/simple/", "bob")
    assert _get(server, "public/simple/", "bob").text == nowhere.text.replace("nowhere", "public")
    assert _versions(_get(server, "both/simple/shared/", "bob")) == ["1.0"]  # only the hosted part
    assert _versions(_get(server, "combo/simple/acme-lib/", "bob")) == ["1.0"]
    assert upstream.counts["page:upstream-only"] == asked  # the hidden member was not asked at all
    # anonymous askers get a 401 where a login may help, and the hosted part as before
    anonymous = _get(server, "combo/simple/upstream-only/")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert _get(server, "public/simple/").status_code == 401
    assert _versions(_get(server, "both/simple/shared/")) == ["1.0"]
    listed = {p["name"] for p in _get(server, "combo/simple/").json()["projects"]}  # other tests upload too
    assert {"acme-lib", "shared"} <= listed and "upstream-only" not in listed


def test_pip_and_uv_install_through_the_view_only_what_the_user_may_read(server, tmp_path: Path) -> None:
    combo = server.url + "combo/simple/"
    bob = Venv.create(tmp_path / "bob", pip=True)
    refused = pip_install(bob, with_credentials(combo, "bob", PASSWORDS["bob"]), "upstream-only")
    assert refused.returncode != 0 and "from versions: none" in refused.stderr
    check(pip_install(bob, with_credentials(combo, "bob", PASSWORDS["bob"]), "acme-lib"))
    assert bob.version_of("acme-lib") == "1.0"
    alice = Venv.create(tmp_path / "alice", pip=True)
    check(pip_install(alice, with_credentials(combo, "alice", PASSWORDS["alice"]), "upstream-only"))
    assert alice.version_of("upstream-only") == "1.0"
    # a read-only token of a reader reads the view; one of bob does not reach the hidden index
    reader = new_token(server, "alice", permission="read")["token"]
    uv_venv = Venv.create(tmp_path / "uv")
    check(uv_pip_install(uv_venv, with_credentials(combo, "__token__", reader), "upstream-only", "shared"))
    assert uv_venv.installed()["upstream-only"] == "1.0" and uv_venv.installed()["shared"] == "1.0"  # first wins
    bobs = new_token(server, "bob", permission="read")["token"]
    hidden = uv_pip_install(Venv.create(tmp_path / "uv2"), with_credentials(combo, "__token__", bobs), "upstream-only")
    assert hidden.returncode != 0


def test_a_group_with_write_on_the_index_uploads_new_projects(server, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "ci", "ci-built", "0.1")
    check(twine_upload(server.index_url, [wheel], "carol", PASSWORDS["carol"]))
    for user in ("alice", "bob"):  # default_write is empty and they are not in `ci`
        refused = twine_upload(server.index_url, [make_wheel(tmp_path / user, f"{user}-lib", "0.1")], user,
                               PASSWORDS[user])  # fmt: skip
        assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
    anonymous = requests.post(server.url + "legacy/", files={"content": wheel.open("rb")}, timeout=30)
    assert anonymous.status_code == 401
    assert _versions(_get(server, "simple/ci-built/")) == ["0.1"]


def test_token_scopes_apply_to_index_writes(server, tmp_path: Path) -> None:
    scoped = new_token(server, "carol", permission="write", projects=["scoped-lib"])["token"]
    check(twine_upload(server.index_url, [make_wheel(tmp_path / "a", "scoped-lib", "1.0")], "__token__", scoped))
    elsewhere = twine_upload(server.index_url, [make_wheel(tmp_path / "b", "other-lib", "1.0")], "__token__", scoped)
    assert elsewhere.returncode != 0 and "403" in elsewhere.stdout + elsewhere.stderr
    reader = new_token(server, "carol", permission="read")["token"]
    refused = twine_upload(server.index_url, [make_wheel(tmp_path / "c", "scoped-lib", "2.0")], "__token__", reader)
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr


def test_grants_change_what_is_seen_on_the_next_request_and_are_audited(server) -> None:
    assert _get(server, "combo/simple/upstream-only/", "bob").status_code == 404
    admin_call(server, "PUT", "/api/admin/indexes/public/grants/user/bob", {"permission": "read"})
    try:
        for _ in range(4):  # every worker: the access counter moved
            assert _versions(_get(server, "combo/simple/upstream-only/", "bob")) == ["1.0"]
        listed = admin_call(server, "GET", "/api/admin/index-grants?index=public")["grants"]
        assert {(g["kind"], g["subject"], g["permission"]) for g in listed} == {
            ("group", "readers", "read"),
            ("user", "bob", "read"),
        }
    finally:
        admin_call(server, "DELETE", "/api/admin/indexes/public/grants/user/bob")
    for _ in range(4):
        assert _get(server, "combo/simple/upstream-only/", "bob").status_code == 404
    actions = [e["action"] for e in admin_call(server, "GET", "/api/admin/audit?limit=20")["entries"]]
    assert "perm.index_grant" in actions and "perm.index_revoke" in actions
