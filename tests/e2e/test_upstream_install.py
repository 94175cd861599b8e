"""The upstream fallback end to end: gunicorn (2 workers), real pip and uv, a local upstream serving real
wheels from the registry, in cache, redirect, none and mirror modes; concurrency and streamed faults."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN, missing
from tests.support.clients import Venv, check, pip_install, uv_pip_install
from tests.support.dists import make_wheel
from tests.support.upstream import LocalUpstream, project_of, wheelhouse

pytestmark = pytest.mark.e2e
REQUIREMENTS = ("requests", "python-dateutil")
JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(scope="session")
def real_wheels() -> Path:
    """Real wheels of a small dependency chain, downloaded once by pip from the registry."""
    try:
        return wheelhouse()
    except Exception as exc:  # no registry on this machine
        missing(f"cannot download the test wheelhouse: {exc}")
        raise


@pytest.fixture(params=["json", "html"])
def upstream(request: pytest.FixtureRequest, real_wheels: Path):
    """The local upstream over the real wheels, speaking PEP 691 JSON, or HTML only."""
    server = LocalUpstream(real_wheels, flavour=request.param).start()
    yield server
    server.stop()


def caching_server(live_server, upstream: LocalUpstream, **settings):
    return live_server(fallback="cache", cache_update="everyone", upstream_url=upstream.url, upstream_ttl="1h",
                       upstream_retry=0, **settings)  # fmt: skip


def timed_install(venv: Venv, url: str) -> float:
    started = time.monotonic()
    check(pip_install(venv, url, *REQUIREMENTS))
    return time.monotonic() - started


def test_pip_installs_through_cache_twice_then_offline(live_server, upstream: LocalUpstream, tmp_path: Path) -> None:
    server = caching_server(live_server, upstream)
    wheels = sorted(p.name for p in upstream.dists())
    first = timed_install(Venv.create(tmp_path / "v1", pip=True), server.index_url)
    log = server.log()
    for name in wheels:
        assert f"Caching {name} from {upstream.url}" in log
    assert upstream.count("file") == len(wheels)
    upstream.reset()
    second_venv = Venv.create(tmp_path / "v2", pip=True)
    second = timed_install(second_venv, server.index_url)
    assert upstream.count() == 0, dict(upstream.counts)  # every page and file came from the index itself
    upstream.stop()
    third_venv = Venv.create(tmp_path / "v3", pip=True)
    third = timed_install(third_venv, server.index_url)
    installed = {project_of(n) for n in wheels}
    assert installed <= {name.lower().replace("_", "-") for name in third_venv.installed()}
    print(f"\ncache-mode install ({upstream.flavour}): first {first:.1f}s, second {second:.1f}s, offline {third:.1f}s")


def test_uv_installs_through_cache(live_server, real_wheels: Path, tmp_path: Path) -> None:
    up = LocalUpstream(real_wheels, flavour="json").start()
    try:
        server = caching_server(live_server, up)
        check(uv_pip_install(Venv.create(tmp_path / "uv1"), server.index_url, *REQUIREMENTS))
        up.stop()
        venv = Venv.create(tmp_path / "uv2")
        check(uv_pip_install(venv, server.index_url, *REQUIREMENTS))
        assert "requests" in venv.installed()
    finally:
        up.stop()


def test_redirect_mode_pip_follows(live_server, real_wheels: Path, tmp_path: Path) -> None:
    up = LocalUpstream(real_wheels, flavour="json").start()
    try:
        server = live_server(fallback="redirect", upstream_url=up.url)
        response = requests.get(server.index_url + "six/", allow_redirects=False, timeout=30)
        assert response.status_code == 302 and response.headers["Location"] == up.url + "six/"
        venv = Venv.create(tmp_path / "v", pip=True)
        check(pip_install(venv, server.index_url, "six"))
        assert "six" in venv.installed()
        assert up.count("file") == 1 and not (server.root / "packages" / "six").exists()
    finally:
        up.stop()


def test_none_mode_is_404(live_server, real_wheels: Path, tmp_path: Path) -> None:
    up = LocalUpstream(real_wheels, flavour="json").start()
    try:
        server = live_server(fallback="none", upstream_url=up.url)
        assert requests.get(server.index_url + "six/", timeout=30).status_code == 404
        result = pip_install(Venv.create(tmp_path / "v", pip=True), server.index_url, "six")
        assert result.returncode != 0 and "No matching distribution" in result.stderr
        assert up.count() == 0
    finally:
        up.stop()


def test_mirror_lists_private_and_upstream_only_where_allowed(live_server, real_wheels: Path, tmp_path: Path) -> None:
    up = LocalUpstream(real_wheels, flavour="json").start()
    try:
        server = live_server(fallback="mirror", cache_update="everyone", upstream_url=up.url)
        private = make_wheel(tmp_path / "p", "six", "99.0")
        form = {":action": "file_upload", "protocol_version": "1"}
        with private.open("rb") as fh:
            sent = requests.post(server.index_url, data=form, files={"content": (private.name, fh)}, auth=ADMIN,
                                 timeout=30)  # fmt: skip
        assert sent.status_code == 200, sent.text
        listed = lambda: {f["filename"] for f in requests.get(server.index_url + "six/", headers={"Accept": JSON},  # noqa: E731
                                                                timeout=30).json()["files"]}  # fmt: skip
        assert listed() == {private.name}
        venv = Venv.create(tmp_path / "v", pip=True)
        check(pip_install(venv, server.index_url, "six"))
        assert venv.installed()["six"] == "99.0"
        allowed = requests.put(server.url + "api/projects/six/upstream", json={"upstream_merge": True}, auth=ADMIN,
                               timeout=30)  # fmt: skip
        assert allowed.status_code == 200
        upstream_six = {p.name for p in up.dists("six")}
        assert listed() == {private.name, *upstream_six}
        check(pip_install(Venv.create(tmp_path / "v2", pip=True), server.index_url, "six<99"))
    finally:
        up.stop()


@pytest.mark.parametrize("streamed", [False, True], ids=["verified-first", "streamed"])
def test_parallel_downloads_fetch_once(live_server, real_wheels: Path, streamed: bool) -> None:
    up = LocalUpstream(real_wheels, flavour="json").start()
    try:
        up.trickle = 0.5  # the first fetch takes a while, so the other requests arrive during it
        server = live_server(fallback="cache", cache_update="everyone", upstream_url=up.url,
                             upstream_stream_size=0 if streamed else "100M")  # fmt: skip
        wheel = next(p for p in up.dists() if project_of(p.name) == "requests")
        expected = hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert requests.get(server.index_url + "requests/", timeout=30).status_code == 200
        url = f"{server.url}packages/requests/{wheel.name}"
        with ThreadPoolExecutor(20) as pool:
            bodies = list(pool.map(lambda _i: requests.get(url, timeout=120), range(20)))
        assert all(b.status_code == 200 for b in bodies)
        assert {hashlib.sha256(b.content).hexdigest() for b in bodies} == {expected}
        assert up.count("file", wheel.name) == 1
        assert server.log().count(f"Caching {wheel.name}") == 1
    finally:
        up.stop()


@pytest.mark.parametrize("fault", ["truncate", "wrong-hash"])
def test_streamed_fault_breaks_the_download_and_caches_nothing(live_server, real_wheels: Path, fault: str) -> None:
    up = LocalUpstream(real_wheels, flavour="json").start()
    try:
        server = live_server(fallback="cache", cache_update="everyone", upstream_url=up.url, upstream_stream_size=0)
        # larger than a few stream chunks: the client has bytes and a 200 when the fault shows
        wheel = next(p for p in up.dists() if project_of(p.name) == "charset-normalizer")
        up.faults[wheel.name] = fault
        url = f"{server.url}packages/charset-normalizer/{wheel.name}"
        assert requests.get(server.index_url + "charset-normalizer/", timeout=30).status_code == 200
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(url, timeout=60)
        assert not (server.root / "packages" / "charset-normalizer" / wheel.name).exists()
        assert requests.get(server.url + "api/projects/charset-normalizer/files", timeout=30).status_code == 404
        up.faults.clear()
        fixed = requests.get(url, timeout=60)
        assert hashlib.sha256(fixed.content).hexdigest() == hashlib.sha256(wheel.read_bytes()).hexdigest()
    finally:
        up.stop()
