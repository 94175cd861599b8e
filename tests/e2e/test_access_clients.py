"""Real clients against a private index: pip (401, then credentials), twine, uv and poetry with tokens."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN
from tests.e2e.access_helpers import PASSWORDS, add_users, admin_call, new_token, start_private
from tests.support.clients import (
    Venv,
    check,
    clean_env,
    make_poetry_project,
    pip_install,
    poetry_install_from_source,
    poetry_publish,
    poetry_venv,
    scratch_dir,
    twine_upload,
    uv_pip_install,
    uv_publish,
    with_credentials,
)
from tests.support.dists import make_sdist, make_wheel
from tests.support.server import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    """One private server for the module: alice reads and writes by default, demo 1.0 is on it."""
    root = tmp_path_factory.mktemp("private")
    live = start_private(root)
    add_users(live, "alice", "bob")
    dist = root / "dist"
    check(twine_upload(live.index_url, [make_wheel(dist, "demo", "1.0"), make_sdist(dist, "demo", "1.0")], *ADMIN))
    yield live
    live.stop()


def test_anonymous_pip_gets_401_and_prompts_then_installs(server, tmp_path: Path) -> None:
    anonymous = requests.get(server.index_url + "demo/", timeout=10)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    venv = Venv.create(tmp_path / "venv", pip=True)
    refused = pip_install(venv, server.index_url, "demo")  # no input: pip cannot ask, so it finds nothing
    assert refused.returncode != 0 and "from versions: none" in refused.stderr
    prompted = pip_install(venv, server.index_url, "demo", input=f"alice\n{PASSWORDS['alice']}\n")
    check(prompted)
    assert f"User for 127.0.0.1:{server.port}:" in prompted.stdout + prompted.stderr
    assert venv.version_of("demo") == "1.0"


def test_pip_with_credentials_in_the_url_and_in_netrc(server, tmp_path: Path) -> None:
    venv = Venv.create(tmp_path / "url", pip=True)
    check(pip_install(venv, with_credentials(server.index_url, "alice", PASSWORDS["alice"]), "demo"))
    assert venv.version_of("demo") == "1.0"
    home = scratch_dir("netrc-home-")
    (home / ".netrc").write_text(f"machine 127.0.0.1\nlogin bob\npassword {PASSWORDS['bob']}\n")
    (home / ".netrc").chmod(0o600)
    netrc_venv = Venv.create(tmp_path / "netrc", pip=True)
    check(pip_install(netrc_venv, server.index_url, "demo", "--no-binary", "demo", env=clean_env(home)))
    assert netrc_venv.version_of("demo") == "1.0"


def test_uv_installs_and_publishes_with_a_token(server, tmp_path: Path) -> None:
    token = new_token(server, "alice", permission="write", projects=["uv-lib"])["token"]
    wheel = make_wheel(tmp_path / "dist", "uv-lib", "0.1")
    check(uv_publish(server.url + "legacy/", [wheel], "__token__", token))
    venv = Venv.create(tmp_path / "venv")
    check(uv_pip_install(venv, with_credentials(server.index_url, "__token__", token), "uv-lib"))
    assert venv.installed()["uv-lib"] == "0.1"
    other = uv_publish(server.url + "legacy/", [make_wheel(tmp_path / "d2", "not-uv-lib", "0.1")], "__token__", token)
    assert other.returncode != 0 and "403" in other.stdout + other.stderr


def test_twine_with_a_scoped_token_uploads_there_and_nowhere_else(server, tmp_path: Path) -> None:
    token = new_token(server, "alice", permission="write", projects=["twine-lib"])["token"]
    check(twine_upload(server.index_url, [make_wheel(tmp_path / "a", "twine-lib", "1.0")], "__token__", token))
    elsewhere = twine_upload(server.index_url, [make_wheel(tmp_path / "b", "other-lib", "1.0")], "__token__", token)
    assert elsewhere.returncode != 0 and "403" in elsewhere.stdout + elsewhere.stderr
    reader = new_token(server, "alice", permission="read")["token"]
    refused = twine_upload(server.index_url, [make_wheel(tmp_path / "c", "twine-lib", "2.0")], "__token__", reader)
    assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
    names = requests.get(server.url + "pypi/twine-lib/json", auth=("alice", PASSWORDS["alice"]), timeout=10).json()
    assert list(names["releases"]) == ["1.0"]


def test_revoked_and_expired_tokens_are_refused_on_the_next_request(server, tmp_path: Path) -> None:
    made = new_token(server, "bob", permission="read")
    url = with_credentials(server.index_url, "__token__", made["token"])
    assert requests.get(url + "demo/", timeout=10).status_code == 200
    admin_call(server, "DELETE", f"/api/tokens/{made['id']}", auth=("bob", PASSWORDS["bob"]))
    for _ in range(4):  # whichever worker answers
        assert requests.get(url + "demo/", timeout=10).status_code == 401
    venv = Venv.create(tmp_path / "venv", pip=True)
    assert pip_install(venv, url, "demo").returncode != 0

    expiring = new_token(server, "bob", permission="read", expires_days=30)
    url = with_credentials(server.index_url, "__token__", expiring["token"])
    assert requests.get(url + "demo/", timeout=10).status_code == 200
    with sqlite3.connect(server.root / "index.sqlite") as conn:  # let the clock run out
        conn.execute("UPDATE api_tokens SET expires = '2000-01-01 00:00:00.000000' WHERE id = ?", (expiring["id"],))
    for _ in range(4):
        assert requests.get(url + "demo/", timeout=10).status_code == 401
    listed = admin_call(server, "GET", "/api/tokens", auth=("bob", PASSWORDS["bob"]))["tokens"]
    assert not any(t["active"] for t in listed)


def test_poetry_publishes_with_a_token_and_installs_with_http_basic(server, tmp_path: Path) -> None:
    token = new_token(server, "alice", permission="write", projects=["poetry-lib"])["token"]
    lib = make_poetry_project(tmp_path / "lib", "poetry-lib", "0.2.0")
    check(poetry_publish(lib, server.index_url, "__token__", token))
    project = tmp_path / "consumer"
    check(poetry_install_from_source(project, server.index_url, "poetry-lib", "alice", PASSWORDS["alice"]))
    assert poetry_venv(project).version_of("poetry-lib") == "0.2.0"
    denied = poetry_install_from_source(tmp_path / "anon", server.index_url, "demo")
    assert denied.returncode != 0
