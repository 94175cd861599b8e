"""Views end to end (issue 14): gunicorn, real pip and uv installing through /<view>/simple/ over the built-in
hosted index and a named upstream index, with a cooldown, a snapshot and a private name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import ADMIN
from tests.support.clients import Venv, check, pip_install, twine_upload, uv_pip_install
from tests.support.dists import make_wheel
from tests.support.upstream import LocalUpstream

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


def test_pip_and_uv_install_through_views(live_server, upstream: LocalUpstream, tmp_path: Path) -> None:
    views = {
        "cool": {"members": ["default", {"index": "public", "min_age": "7d"}]},
        "fresh": {"members": ["default", "public"]},
        "snapshot": {"members": ["default", {"index": "public", "uploaded_before": "2026-01-01"}]},
    }
    indexes = {"public": {"type": "upstream", "url": upstream.url, "mode": "redirect"}}
    server = live_server(indexes=indexes, views=views, upstream_retry=0)
    mine = make_wheel(tmp_path / "dists", "acme-lib", "1.0")
    check(twine_upload(server.url + "legacy/", [mine], *ADMIN))

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
