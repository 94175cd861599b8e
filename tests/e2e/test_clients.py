"""The real clients against the real server: twine, poetry and uv publish; pip, uv and poetry install."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN
from tests.support.clients import (
    Venv,
    check,
    make_poetry_project,
    pip_install,
    poetry_install_from_source,
    poetry_publish,
    poetry_venv,
    twine_upload,
    uv_pip_install,
    uv_publish,
)
from tests.support.dists import make_sdist, make_wheel

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(live_server):
    """One real server (gunicorn, 2 workers) on SQLite and local files."""
    return live_server()


def chain(directory: Path) -> list[Path]:
    """A private dependency chain: app-top needs lib-mid needs lib-base; wheels and an sdist."""
    return [
        make_wheel(directory, "app-top", "1.0", requires_dist=["lib-mid>=2"]),
        make_wheel(directory, "lib-mid", "1.0"),
        make_wheel(directory, "lib-mid", "2.1", requires_dist=["lib-base"]),
        make_wheel(directory, "lib-base", "0.3", requires_python=">=3.8"),
        make_sdist(directory, "lib-base", "0.3"),
    ]


def test_twine_upload_then_pip_and_uv_install_the_chain(server, tmp_path: Path) -> None:
    files = chain(tmp_path / "dist")
    check(twine_upload(server.index_url, files, *ADMIN))
    venv = Venv.create(tmp_path / "pipvenv", pip=True)
    check(pip_install(venv, server.index_url, "app-top"))
    assert venv.version_of("app-top") == "1.0"
    assert venv.version_of("lib-mid") == "2.1" and venv.version_of("lib-base") == "0.3"
    uv_venv = Venv.create(tmp_path / "uvvenv")
    check(uv_pip_install(uv_venv, server.index_url, "app-top"))
    assert uv_venv.installed()["lib-mid"] == "2.1"


def test_twine_reupload_and_refusals(server, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "a", "demo", "1.0")
    check(twine_upload(server.url + "legacy/", [wheel], *ADMIN))
    check(twine_upload(server.url, [wheel], *ADMIN))  # byte-identical: success, nothing changes
    other = make_wheel(tmp_path / "b", "demo", "1.0", salt="different")
    refused = twine_upload(server.index_url, [other], *ADMIN)
    assert refused.returncode != 0
    assert "File already exists" in refused.stdout + refused.stderr
    wrong = twine_upload(server.index_url, [make_wheel(tmp_path / "c", "demo", "2.0")], ADMIN[0], "wrong")
    assert wrong.returncode != 0 and "401" in wrong.stdout + wrong.stderr
    page = requests.get(server.index_url + "demo/", timeout=10).text
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() in page and "demo-2.0" not in page


def test_poetry_publish_and_install(server, tmp_path: Path) -> None:
    project = make_poetry_project(tmp_path / "poetry-lib", "poetry-lib", "0.4.0")
    check(poetry_publish(project, server.index_url, *ADMIN))
    names = [
        f["filename"]
        for f in requests.get(
            server.index_url + "poetry-lib/",
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            timeout=10,
        ).json()["files"]
    ]
    assert sorted(names) == ["poetry_lib-0.4.0-py3-none-any.whl", "poetry_lib-0.4.0.tar.gz"]
    consumer = tmp_path / "consumer"
    check(poetry_install_from_source(consumer, server.index_url, "poetry-lib"))
    assert poetry_venv(consumer).installed()["poetry-lib"] == "0.4.0"


def test_uv_publish_skips_what_exists(server, tmp_path: Path) -> None:
    files = [make_wheel(tmp_path / "u", "uv-demo", "1.0"), make_sdist(tmp_path / "u", "uv-demo", "1.0")]
    check(uv_publish(server.index_url, files, *ADMIN, check_url=server.index_url))
    again = check(uv_publish(server.index_url, files, *ADMIN, check_url=server.index_url))
    assert "skipping" in (again.stdout + again.stderr).lower()


def test_reindex_round_trip(live_server, tmp_path: Path) -> None:
    server = live_server()
    check(twine_upload(server.index_url, chain(tmp_path / "dist"), *ADMIN))
    requests.post(
        server.url + "api/projects/lib-mid/yank",
        json={"version": "1.0", "reason": "old"},
        auth=ADMIN,
        timeout=10,
    ).raise_for_status()
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    before = {
        p: requests.get(f"{server.index_url}{p}/", headers=accept, timeout=10).json()
        for p in ("app-top", "lib-mid", "lib-base")
    }
    server.stop()
    (server.root / "index.sqlite").unlink()
    for suffix in ("-wal", "-shm"):
        (server.root / f"index.sqlite{suffix}").unlink(missing_ok=True)
    server.start()
    assert "Rebuilding from storage" in server.log()
    after = {p: requests.get(f"{server.index_url}{p}/", headers=accept, timeout=10).json() for p in before}
    assert after == before
    venv = Venv.create(tmp_path / "after")
    check(uv_pip_install(venv, server.index_url, "app-top"))


def test_reindex_command_with_hand_dropped_files(live_server, tmp_path: Path) -> None:
    server = live_server()
    wheel = make_wheel(tmp_path / "hand", "dropped", "1.0", requires_python=">=3.9")
    target = server.root / "packages" / "dropped"
    target.mkdir(parents=True)
    (target / wheel.name).write_bytes(wheel.read_bytes())
    from tests.support.clients import run

    result = check(
        run(
            [str(Path(__import__("sys").executable).parent / "flaskpypi"), "reindex"],
            env=server.env(),
            cwd=server.root,
        )
    )
    assert "Indexed 1 projects, 1 files" in result.stdout
    page = requests.get(
        server.index_url + "dropped/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}, timeout=10
    ).json()
    assert page["files"][0]["requires-python"] == ">=3.9" and page["files"][0]["core-metadata"]


def raw_post(port: int, headers: dict[str, str], body: bytes, close_write: bool = True) -> str:
    """Send a hand-made request and return the status line (for bodies no client would send)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        head = "POST /simple/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(head.encode() + b"\r\n" + body)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def test_lying_content_length(server, tmp_path: Path) -> None:
    import base64

    auth = "Basic " + base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    boundary = "xyz"
    wheel = make_wheel(tmp_path / "c", "liar", "1.0")
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{wheel.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + wheel.read_bytes()
    headers = {"Authorization": auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    status = raw_post(server.port, {**headers, "Content-Length": str(2 * 1024**3)}, body)
    assert status.startswith("HTTP/1.1 413"), status
    status = raw_post(server.port, {**headers, "Content-Length": str(len(body) + 5000)}, body)
    assert status.split()[1].startswith("4"), status
    assert not (server.root / "packages" / "liar").exists() or not any((server.root / "packages" / "liar").iterdir())
    assert requests.get(server.index_url + "liar/", timeout=10).status_code == 404


@pytest.mark.postgres
def test_upload_and_install_on_postgresql(live_server, postgres_url: str, tmp_path: Path) -> None:
    server = live_server(database_url=postgres_url)
    check(twine_upload(server.index_url, chain(tmp_path / "dist"), *ADMIN))
    venv = Venv.create(tmp_path / "pg")
    check(uv_pip_install(venv, server.index_url, "app-top"))
    assert venv.installed()["lib-base"] == "0.3"
    server.stop()
    server.start()
    data = requests.get(server.url + "pypi/lib-mid/json", timeout=10).json()
    assert data["info"]["version"] == "2.1" and sorted(data["releases"]) == ["1.0", "2.1"]
