"""Fixtures shared by the upstream tests: generated distributions behind a local upstream, apps on it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flaskpypi import create_app
from flaskpypi.auth.passwords import hash_password
from tests.conftest import base_settings
from tests.support.dists import make_sdist, make_wheel
from tests.support.upstream import LocalUpstream

USERS = {"reader": "reader-pass-1", "cacher": "cacher-pass-1", "outsider": "outsider-pass-1"}
GROUPS = {"readers": ["reader", "cacher"], "cachers": ["cacher"]}


def fill_upstream(folder: Path) -> Path:
    """demo 1.0 (wheel, requires-python) and 2.0 (wheel, sdist); acme-tools 1.0; other 1.0."""
    folder.mkdir(parents=True, exist_ok=True)
    make_wheel(folder, "demo", "1.0", requires_python=">=3.8")
    make_wheel(folder, "demo", "2.0")
    make_sdist(folder, "demo", "2.0")
    make_wheel(folder, "acme-tools", "1.0")
    make_wheel(folder, "other", "1.0")
    return folder


@pytest.fixture(params=["json", "html"])
def upstream(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalUpstream]:
    """The local upstream in both flavours: PEP 691 JSON + HTML, and HTML only."""
    server = LocalUpstream(fill_upstream(tmp_path / "upstream"), flavour=request.param).start()
    yield server
    server.stop()


@pytest.fixture
def json_upstream(tmp_path: Path) -> Iterator[LocalUpstream]:
    """The local upstream speaking PEP 691 JSON (and HTML)."""
    server = LocalUpstream(fill_upstream(tmp_path / "upstream"), flavour="json").start()
    yield server
    server.stop()


AppFactory = Callable[..., Flask]


@functools.cache
def hashed_users() -> dict[str, str]:
    """The users' password hashes, derived once (the KDF is slow on purpose)."""
    return {user: hash_password(password) for user, password in USERS.items()}


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    """Build an app on a fresh instance folder with upstream settings (users reader, cacher, outsider)."""
    count = 0

    def build(upstream: LocalUpstream | None = None, **settings: Any) -> Flask:
        nonlocal count
        count += 1
        root = tmp_path / f"app{count}"
        monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(root / "instance"))
        config = {**base_settings(root), "users": hashed_users(),
                  "groups": GROUPS, "upstream_retry": 0}  # fmt: skip
        if upstream is not None:
            config["upstream_url"] = upstream.url
        app = create_app({**config, **settings})
        app.config["TESTING"] = True
        return app

    return build
