"""The rebuild from storage: what an index rebuilt into an empty database serves, and its storage writes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.pool import Pool

from flaskpypi import create_app
from flaskpypi.storage import local
from tests.support.dists import make_wheel, read_metadata, sha256_hex

NORMAL, FULL = 1, 2  # PRAGMA synchronous


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


@pytest.mark.parametrize("index", ["default", "team"])
def test_a_rebuild_of_bare_wheels_flushes_storage_once_per_batch_not_per_file(
    tmp_path: Path, settings, monkeypatch, index: str
) -> None:
    folder = tmp_path / "packages" / ("" if index == "default" else f"_indexes/{index}")
    wheels = [make_wheel(folder / f"bare-{n}", f"bare-{n}", "1.0") for n in range(3)]
    fsyncs: list[int] = []
    flushes: list[str] = []
    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(fd))
    monkeypatch.setattr(local, "syncfs", lambda root: flushes.append(root))
    app = started(tmp_path, {**settings, "indexes": {"team": {"type": "hosted"}}}, monkeypatch)
    assert fsyncs == [] and flushes == [str(tmp_path / "packages")]  # one batch, one flush of the file system
    for wheel in wheels:
        assert json.loads(Path(f"{wheel}.json").read_text())["sha256"] == sha256_hex(wheel)
        assert Path(f"{wheel}.metadata").read_bytes() == read_metadata(wheel)
    monkeypatch.undo()
    prefix = "" if index == "default" else f"/{index}"
    page = app.test_client().get(f"{prefix}/simple/bare-1/").get_data(as_text=True)
    assert wheels[1].name in page


def test_an_empty_metadata_file_left_by_a_crash_is_written_again(tmp_path: Path, settings, monkeypatch) -> None:
    wheel = make_wheel(tmp_path / "packages" / "demo", "demo", "1.0")
    started(tmp_path, settings, monkeypatch)  # writes the sidecar and the .metadata
    sidecar = Path(f"{wheel}.json").read_bytes()
    Path(f"{wheel}.metadata").write_bytes(b"")  # what a crash between its write and the sync can leave
    client = started(tmp_path, {**settings, "database_url": f"sqlite:///{tmp_path / 'new.sqlite'}"},
                     monkeypatch).test_client()  # fmt: skip
    assert Path(f"{wheel}.metadata").read_bytes() == read_metadata(wheel)
    assert Path(f"{wheel}.json").read_bytes() == sidecar  # the sidecar (upload time, uploader) is kept
    assert client.get("/simple/demo/").status_code == 200


def test_only_the_rebuild_of_an_empty_index_commits_unflushed_and_no_connection_keeps_it(
    tmp_path: Path, settings, monkeypatch
) -> None:
    """An empty index's rebuild commits with synchronous=NORMAL (a lost commit loses its end marker too);
    afterwards, and in the rebuild of an index that holds rows, every connection flushes each commit."""
    seen: list[int] = []

    def note(dbapi_conn: Any, _record: Any) -> None:  # what each connection was set to when handed back
        if dbapi_conn is not None:
            seen.append(dbapi_conn.execute("PRAGMA synchronous").fetchone()[0])

    event.listen(Pool, "checkin", note)
    try:
        for n in range(3):
            make_wheel(tmp_path / "packages" / f"flush-{n}", f"flush-{n}", "1.0")
        app = started(tmp_path, settings, monkeypatch)  # the empty index is rebuilt at start
        assert NORMAL in seen
        seen.clear()
        assert app.test_client().get("/simple/flush-1/").status_code == 200
        make_wheel(tmp_path / "packages" / "flush-late", "flush-late", "1.0")
        later = started(tmp_path, settings, monkeypatch)  # a start over an index that holds rows: no rebuild
        result = later.test_cli_runner().invoke(args=["reindex"])  # its rebuild's commits are flushed
        assert "Indexed 4 projects, 4 files." in result.output
        assert later.test_client().get("/simple/flush-late/").status_code == 200
        assert seen and set(seen) == {FULL}
    finally:
        event.remove(Pool, "checkin", note)
