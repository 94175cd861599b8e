"""pdm, hatch and flit publish for real to a live server, offline; uv installs what they uploaded."""

from __future__ import annotations

import hashlib
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import requests

from tests.conftest import ADMIN
from tests.support.clients import LOOPBACK, Venv, check, uv_pip_install
from tests.support.publishers import (
    build_offline,
    flit_publish,
    hatch_publish,
    make_backend_project,
    pdm_publish,
)

pytestmark = pytest.mark.e2e
# Any request to a host other than loopback goes to a dead proxy: the builds and uploads are offline.
DEAD_PROXY = "http://127.0.0.1:9"
SIMPLE_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route every non-loopback request of the clients (and of this process) to a dead proxy."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(var, DEAD_PROXY)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, LOOPBACK)


@pytest.fixture
def server(live_server):
    """One real server (gunicorn, 2 workers) on SQLite and local files."""
    return live_server()


def listed(server, project: str) -> dict[str, str]:
    """The files the simple API (JSON) lists for project: filename -> sha256."""
    page = requests.get(f"{server.index_url}{project}/", headers=SIMPLE_JSON, timeout=10)
    page.raise_for_status()
    return {f["filename"]: f["hashes"]["sha256"] for f in page.json()["files"]}


def digests(files: list[Path]) -> dict[str, str]:
    """filename -> sha256 of local files."""
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def assert_installs(server, venv_dir: Path, name: str, version: str) -> None:
    """uv installs name from the server into a fresh venv, and it imports with the right version."""
    venv = Venv.create(venv_dir)
    check(uv_pip_install(venv, server.index_url, f"{name}=={version}"))
    assert venv.version_of(name) == version


def rebuild_other_bytes(project: Path) -> list[Path]:
    """The same filenames with other content: a changed module, rebuilt into a fresh dist/."""
    for old in (project / "dist").iterdir():
        old.unlink()
    module = next(p for p in project.iterdir() if (p / "__init__.py").exists())
    (module / "extra.py").write_text("CHANGED = True\n")
    return build_offline(project)


def output(cp: CompletedProcess[str]) -> str:
    """stdout and stderr together."""
    return cp.stdout + cp.stderr


def test_pdm_publish_then_uv_installs(server, tmp_path: Path) -> None:
    project = make_backend_project(tmp_path / "pdm-lib", "pdm", "pdm-lib", "0.1.0")
    files = build_offline(project)
    assert [f.name for f in files] == ["pdm_lib-0.1.0-py3-none-any.whl", "pdm_lib-0.1.0.tar.gz"]
    check(pdm_publish(project, server.url + "legacy/", *ADMIN))
    assert listed(server, "pdm-lib") == digests(files)
    assert_installs(server, tmp_path / "venv", "pdm-lib", "0.1.0")
    check(pdm_publish(project, server.url + "legacy/", *ADMIN))  # byte-identical: a 200, nothing changes
    assert listed(server, "pdm-lib") == digests(files)


def test_pdm_skip_existing(server, tmp_path: Path) -> None:
    project = make_backend_project(tmp_path / "pdm-skip", "pdm", "pdm-skip", "1.0")
    first = digests(build_offline(project))
    check(pdm_publish(project, server.index_url, *ADMIN))
    other = rebuild_other_bytes(project)
    assert digests(other).keys() == first.keys() and digests(other) != first
    refused = pdm_publish(project, server.index_url, *ADMIN)
    assert refused.returncode != 0 and "already exist" in output(refused)
    skipped = check(pdm_publish(project, server.index_url, *ADMIN, ["--skip-existing"]))
    assert "skipping" in output(skipped).lower()
    assert listed(server, "pdm-skip") == first


def test_hatch_publish_then_uv_installs(server, tmp_path: Path) -> None:
    project = make_backend_project(tmp_path / "hatch-lib", "hatch", "hatch-lib", "0.2.0")
    files = build_offline(project)
    assert [f.name for f in files] == ["hatch_lib-0.2.0-py3-none-any.whl", "hatch_lib-0.2.0.tar.gz"]
    published = digests(files)
    check(hatch_publish(project, server.index_url, *ADMIN))
    assert listed(server, "hatch-lib") == published
    assert_installs(server, tmp_path / "venv", "hatch-lib", "0.2.0")
    # hatch probes <repo>/+simple/<project>/ (devpi's layout), finds nothing and uploads again: a 200.
    again = check(hatch_publish(project, server.index_url, *ADMIN))
    assert output(again).count("success") == 2
    assert listed(server, "hatch-lib") == published
    other = digests(rebuild_other_bytes(project))
    refused = hatch_publish(project, server.index_url, *ADMIN)
    assert refused.returncode != 0 and "400" in output(refused)
    assert listed(server, "hatch-lib") == published != other


def test_flit_publish_then_uv_installs(server, tmp_path: Path) -> None:
    project = make_backend_project(tmp_path / "flit-lib", "flit", "flit-lib", "0.3.0")
    check(flit_publish(project, server.url, *ADMIN))  # the root URL, as pypiserver users have it
    files = sorted((project / "dist").iterdir())
    assert [f.name for f in files] == ["flit_lib-0.3.0-py3-none-any.whl", "flit_lib-0.3.0.tar.gz"]
    assert listed(server, "flit-lib") == digests(files)
    assert_installs(server, tmp_path / "venv", "flit-lib", "0.3.0")
    check(flit_publish(project, server.url, *ADMIN))  # rebuilt byte for byte, uploaded again: a 200
    assert digests(sorted((project / "dist").iterdir())) == digests(files)
    assert listed(server, "flit-lib") == digests(files)
