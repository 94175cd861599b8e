"""Views end to end (issue 14): gunicorn, real pip, uv and poetry installing through /<view>/simple/ over the
built-in hosted index and a named upstream index, with a cooldown, a snapshot and a private name; a project
the asker may not read is missing in every view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ADMIN
from tests.support.clients import (
    Venv,
    check,
    pip_install,
    poetry_install_from_source,
    poetry_venv,
    twine_upload,
    uv_pip_install,
    with_credentials,
)
from tests.support.dists import make_wheel
from tests.support.server import LiveServer
from tests.support.upstream import LocalUpstream
from tests.unit.upstream_fixtures import USERS, hashed_users

pytestmark = pytest.mark.e2e


@pytest.fixture
def upstream(tmp_path: Path):
    """demo 1.0 (uploaded upstream long ago) and 2.0 (yesterday); acme-lib 99.0 (a confusion attempt)."""
    folder = tmp_path / "upstream"
    old = make_wheel(folder, "demo", "1.0")
    new = make_wheel(folder, "demo", "2.0")
    make_wheel(folder, "acme-lib", "99.0")
    server = LocalUpstream(folder, flavour="json")
    server.upload_times[old.name] = datetime(2025, 6, 1, tzinfo=UTC)
    server.upload_times[new.name] = datetime.now(UTC) - timedelta(days=1)
    server.start()
    yield server
    server.stop()


def _installed(venv: Venv, name: str) -> str | None:
    return {k.lower().replace("_", "-"): v for k, v in venv.installed().items()}.get(name)


VIEWS = {
    "cool": {"members": ["default", {"index": "public", "min_age": "7d"}]},
    "fresh": {"members": ["default", "public"]},
    "snapshot": {"members": ["default", {"index": "public", "uploaded_before": "2026-01-01"}]},
}


@pytest.fixture
def server(live_server, upstream: LocalUpstream, tmp_path: Path) -> LiveServer:
    """The views over `default` (holding acme-lib 1.0, and secret-lib 1.0 that only `reader` may read) and
    the upstream (files link to it: redirect mode)."""
    indexes = {"public": {"type": "upstream", "url": upstream.url, "mode": "redirect"}}
    server = live_server(indexes=indexes, views=VIEWS, upstream_retry=0, users=hashed_users(),
                         grants={"secret-lib": {"reader": "read"}})  # fmt: skip
    mine = [make_wheel(tmp_path / "dists", name, "1.0") for name in ("acme-lib", "secret-lib")]
    check(twine_upload(server.url + "legacy/", mine, *ADMIN))
    return server


def test_pip_and_uv_install_through_views(server: LiveServer, tmp_path: Path) -> None:
    cool = Venv.create(tmp_path / "cool", pip=True)
    check(pip_install(cool, server.url + "cool/simple/", "demo", "acme-lib"))
    assert _installed(cool, "demo") == "1.0"  # 2.0 was uploaded upstream yesterday: not offered
    assert _installed(cool, "acme-lib") == "1.0"  # the private name, never the upstream's 99.0

    fresh = Venv.create(tmp_path / "fresh")
    check(uv_pip_install(fresh, server.url + "fresh/simple/", "demo", "acme-lib"))
    assert _installed(fresh, "demo") == "2.0"
    assert _installed(fresh, "acme-lib") == "1.0"

    snapshot = Venv.create(tmp_path / "snapshot", pip=True)
    check(pip_install(snapshot, server.url + "snapshot/simple/", "demo"))
    assert _installed(snapshot, "demo") == "1.0"
    refused = pip_install(snapshot, server.url + "snapshot/simple/", "demo==2.0")
    assert refused.returncode != 0


def test_poetry_locks_and_installs_through_views(server: LiveServer, tmp_path: Path) -> None:
    """A poetry source per view: through the cooldown view the day-old demo 2.0 is never locked."""
    cool = tmp_path / "poetry-cool"
    check(poetry_install_from_source(cool, server.url + "cool/simple/", "demo"))
    assert _installed(poetry_venv(cool), "demo") == "1.0"
    lock = (cool / "poetry.lock").read_text()
    assert "demo-1.0-py3-none-any.whl" in lock and "demo-2.0" not in lock
    refused = poetry_install_from_source(tmp_path / "poetry-cool-2", server.url + "cool/simple/", "demo",
                                         constraint="==2.0")  # fmt: skip
    assert refused.returncode != 0

    fresh = tmp_path / "poetry-fresh"
    check(poetry_install_from_source(fresh, server.url + "fresh/simple/", "demo"))
    assert _installed(poetry_venv(fresh), "demo") == "2.0"
    hosted = tmp_path / "poetry-hosted"  # a hosted file through the view's own download URL
    check(poetry_install_from_source(hosted, server.url + "cool/simple/", "acme-lib"))
    assert _installed(poetry_venv(hosted), "acme-lib") == "1.0"


def test_a_project_the_user_may_not_read_is_missing_in_every_view(server: LiveServer, tmp_path: Path) -> None:
    """secret-lib is private to `reader`: `outsider` and anonymous users cannot install it through any view,
    as if it did not exist; `reader` can."""
    venv = Venv.create(tmp_path / "venv", pip=True)
    for view in ("cool", "fresh", "default"):
        url = server.url + f"{view}/simple/"
        assert pip_install(venv, url, "secret-lib").returncode != 0
        outsider = pip_install(venv, with_credentials(url, "outsider", USERS["outsider"]), "secret-lib")
        assert outsider.returncode != 0 and "No matching distribution" in outsider.stdout + outsider.stderr
    check(pip_install(venv, with_credentials(server.url + "cool/simple/", "reader", USERS["reader"]), "secret-lib"))
    assert _installed(venv, "secret-lib") == "1.0"


def test_pip_installs_through_a_view_whose_upstream_member_caches(live_server, upstream: LocalUpstream,
                                                                  tmp_path: Path) -> None:  # fmt: skip
    """The upstream member in cache mode: the first install fetches demo 2.0 once into `_indexes/public/`,
    the second (another venv, pip's cache off) installs it with the upstream stopped."""
    indexes = {"public": {"type": "upstream", "url": upstream.url, "mode": "cache"}}
    server = live_server(indexes=indexes, views=VIEWS, upstream_retry=0, cache_update=["everyone"])
    wheel = "demo-2.0-py3-none-any.whl"
    first = Venv.create(tmp_path / "first", pip=True)
    check(pip_install(first, server.url + "fresh/simple/", "demo", extra_args=["--no-cache-dir"]))
    assert _installed(first, "demo") == "2.0"
    assert upstream.count("file", wheel) == 1
    assert (server.root / "packages" / "_indexes" / "public" / "demo" / wheel).is_file()
    upstream.stop()
    again = Venv.create(tmp_path / "again", pip=True)
    check(pip_install(again, server.url + "fresh/simple/", "demo", extra_args=["--no-cache-dir"]))
    assert _installed(again, "demo") == "2.0"
    assert upstream.count("file", wheel) == 1


def test_a_pinned_project_comes_only_from_its_upstream(live_server, upstream: LocalUpstream, tmp_path: Path) -> None:
    """`torchy` is pinned to a second upstream: pip and uv take its 1.0 from there, never the first upstream's
    higher 9.0, which is not even asked for; other names still come from the first upstream."""
    make_wheel(upstream.folder, "torchy", "9.0")
    wheels = LocalUpstream(tmp_path / "wheels", flavour="json")
    make_wheel(wheels.folder, "torchy", "1.0")
    wheels.start()
    try:
        indexes = {"public": {"type": "upstream", "url": upstream.url, "mode": "redirect"},
                   "wheels": {"type": "upstream", "url": wheels.url, "mode": "redirect"}}  # fmt: skip
        views = {"pinned": {"members": ["default", "public", {"index": "wheels", "pin": ["torchy"]}]}}
        server = live_server(indexes=indexes, views=views, upstream_retry=0)
        index = server.url + "pinned/simple/"
        venv = Venv.create(tmp_path / "pip", pip=True)
        check(pip_install(venv, index, "torchy"))
        assert _installed(venv, "torchy") == "1.0"
        check(pip_install(venv, index, "demo"))  # not pinned: from the first upstream
        assert _installed(venv, "demo") == "2.0"
        uv = Venv.create(tmp_path / "uv")
        check(uv_pip_install(uv, index, "torchy"))
        assert _installed(uv, "torchy") == "1.0"
        refused = pip_install(Venv.create(tmp_path / "refused", pip=True), index, "torchy==9.0")
        assert refused.returncode != 0
        assert upstream.counts["page:torchy"] == 0 and wheels.counts["page:torchy"] >= 1
    finally:
        wheels.stop()
