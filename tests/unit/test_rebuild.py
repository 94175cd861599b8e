"""The rebuild from storage: what an index rebuilt into an empty database serves, and its storage writes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flaskpypi import create_app
from tests.support.dists import make_wheel


def started(tmp_path: Path, settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app started over what its storage folder holds now (an empty database is rebuilt at start)."""
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({**settings})
    app.config["TESTING"] = True
    return app


def names(client, query: str) -> list[str]:
    page = client.get("/", query_string={"q": query}).get_data(as_text=True)
    return re.findall(r'class="name">([^<]+)<', page)


def test_search_finds_projects_rebuilt_into_an_empty_database(tmp_path: Path, settings, monkeypatch) -> None:
    packages = tmp_path / "packages"
    make_wheel(packages / "stargazer", "stargazer", "1.0", summary="Look up at the sky")
    make_wheel(packages / "telescope-kit", "telescope-kit", "1.0", summary="Optics for amateurs")
    client = started(tmp_path, settings, monkeypatch).test_client()
    assert client.get("/simple/stargazer/").status_code == 200  # rebuilt
    assert names(client, "sky") == ["stargazer"]
    assert names(client, "optics") == ["telescope-kit"]
    assert names(client, "telescope") == ["telescope-kit"]
