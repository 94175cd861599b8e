"""Fixtures: app/client/runner as in Flask's docs, a live server factory, databases and dists."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from flaskpypi import create_app
from tests.support.postgres import fresh_database
from tests.support.server import LiveServer

ADMIN = ("admin", "s3cret-Admin")
PG_URL = os.environ.get("FLASKPYPI_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where everything must run."""
    if IN_CI:
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _clean_flaskpypi_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("FLASKPYPI_"):
            monkeypatch.delenv(key)


def base_settings(tmp_path: Path) -> dict[str, Any]:
    """Settings of a throwaway index under tmp_path."""
    return {
        "storage_url": (tmp_path / "packages").as_uri(),
        "database_url": f"sqlite:///{tmp_path / 'index.sqlite'}",
        "secret_key": "test-secret",
        "admin_user": ADMIN[0],
        "admin_password": ADMIN[1],
    }


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, Any]:
    """Settings for the app fixture; tests change them before asking for `app`."""
    return base_settings(tmp_path)


@pytest.fixture
def app(tmp_path: Path, settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    """The Flask app on a temporary instance folder."""
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    application = create_app({**settings})
    application.config["TESTING"] = True
    yield application


@pytest.fixture
def client(app):
    """Flask's test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Flask's CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start real servers (gunicorn) with settings (extra_env: e.g. GUNICORN_CMD_ARGS); all stop after the test."""
    started: list[LiveServer] = []

    def start(root: Path | None = None, *, extra_env: dict[str, str] | None = None, **settings: Any) -> LiveServer:
        where = root or tmp_path / f"server{len(started)}"
        where.mkdir(parents=True, exist_ok=True)
        server = LiveServer(where, {**base_settings(where), **settings}, extra_env=extra_env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with postgres_database() as url:
        yield url


@contextmanager
def postgres_database(prefix: str = "flaskpypi") -> Iterator[str]:
    """A fresh database on the test server; skipped on a laptop without one, failed in CI."""
    try:
        import psycopg
    except ImportError:
        missing("psycopg is not installed")
    with ExitStack() as stack:
        try:
            url = stack.enter_context(fresh_database(PG_URL, prefix))
        except psycopg.OperationalError as exc:
            missing(f"no PostgreSQL server at {PG_URL}: {exc}")
        yield url
