"""A named upstream index in cache mode (issue 14), through the app: views link its files here, the first
download fetches one once into `_indexes/<upstream>/`, later ones (and a reindex) need no upstream."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text

from flaskpypi import create_app
from flaskpypi.core import simple as pages
from flaskpypi.core.records import FileRecord
from flaskpypi.extensions import db
from flaskpypi.index.models import File
from tests.conftest import base_settings
from tests.support.dists import read_metadata
from tests.support.upstream import LocalUpstream
from tests.unit.upstream_fixtures import json_upstream  # noqa: F401

JSON = {"Accept": pages.JSON_V1}
WHEEL = "demo-1.0-py3-none-any.whl"
NEW = "demo-2.0-py3-none-any.whl"


def _settings(tmp_path: Path, upstream: LocalUpstream) -> dict[str, object]:
    views = {"fresh": {"members": ["default", "public"]},
             "prod": {"members": ["default", {"index": "public", "min_age": "7d"}]}}  # fmt: skip
    indexes = {"public": {"type": "upstream", "url": upstream.url, "mode": "cache", "ttl": 3600}}
    return {**base_settings(tmp_path), "upstream_retry": 0, "cache_update": ["everyone"], "views": views,
            "indexes": indexes}  # fmt: skip


@pytest.fixture
def cache_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, json_upstream: LocalUpstream) -> Flask:  # noqa: F811
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    for path in json_upstream.dists("demo"):  # 1.0 is old, 2.0 a day old (a week's cooldown hides it)
        old = path.name == WHEEL
        json_upstream.upload_times[path.name] = datetime.now(UTC) - timedelta(days=400 if old else 1)
    app = create_app(_settings(tmp_path, json_upstream))
    app.config["TESTING"] = True
    return app


def _keys(app: Flask) -> set[str]:
    return {s.key for s in app.extensions["flaskpypi"].storage.iter_files()}


def _rows(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(select(File.index_name, File.filename, File.origin)).all()
        db.session.remove()
    return sorted((r[0], r[1], r[2]) for r in rows)


def test_first_download_through_a_view_is_fetched_once_and_stored_under_the_upstream_index(
        cache_app: Flask, json_upstream: LocalUpstream) -> None:  # noqa: F811  # fmt: skip
    client = cache_app.test_client()
    original = (json_upstream.folder / WHEEL).read_bytes()
    listed = {f["filename"]: f for f in client.get("/fresh/simple/demo/", headers=JSON).get_json()["files"]}
    assert listed[WHEEL]["url"] == f"/fresh/packages/demo/{WHEEL}"  # here, not the upstream
    assert listed[WHEEL]["hashes"]["sha256"] == hashlib.sha256(original).hexdigest()
    metadata_hash = hashlib.sha256(read_metadata(json_upstream.folder / WHEEL)).hexdigest()
    assert listed[WHEEL]["core-metadata"] == {"sha256": metadata_hash}
    own = client.get("/public/simple/demo/", headers=JSON).get_json()["files"]
    assert {f["url"] for f in own} >= {f"/public/packages/demo/{WHEEL}"}  # the index's own page too
    html = client.get("/fresh/simple/demo/").get_data(as_text=True)
    assert f'href="/fresh/packages/demo/{WHEEL}#sha256={hashlib.sha256(original).hexdigest()}"' in html
    assert _rows(cache_app) == []

    response = client.get(f"/fresh/packages/demo/{WHEEL}")
    assert response.status_code == 200 and response.data == original
    assert json_upstream.count("file", WHEEL) == 1
    again = client.get(f"/public/packages/demo/{WHEEL}")  # the index itself serves what the view stored
    assert again.status_code == 200 and again.data == original
    assert client.get(f"/fresh/packages/demo/{WHEEL}.metadata").data == read_metadata(json_upstream.folder / WHEEL)
    assert json_upstream.count("file", WHEEL) == 1 and json_upstream.count("metadata", WHEEL) == 0

    stored = {f"_indexes/public/demo/{WHEEL}", f"_indexes/public/demo/{WHEEL}.json",
              f"_indexes/public/demo/{WHEEL}.metadata"}  # fmt: skip
    keys = _keys(cache_app)
    assert stored <= keys and f"demo/{WHEEL}" not in keys  # never in the built-in index's part
    sidecar = cache_app.extensions["flaskpypi"].storage.read(f"_indexes/public/demo/{WHEEL}.json")
    assert FileRecord.from_json(sidecar).origin == "cache"
    assert _rows(cache_app) == [("public", WHEEL, "cache")]
    api = client.get("/public/pypi/demo/json").get_json()
    urls = {u["url"].split("localhost", 1)[-1] for u in api["releases"]["1.0"]}
    assert urls == {f"/public/packages/demo/{WHEEL}"}  # the JSON API links here too


def test_a_cached_file_is_served_with_the_upstream_stopped(cache_app: Flask, json_upstream: LocalUpstream) -> None:  # noqa: F811
    client = cache_app.test_client()
    assert client.get(f"/fresh/packages/demo/{WHEEL}").status_code == 200
    json_upstream.stop()
    page = client.get("/fresh/simple/demo/", headers=JSON)  # the upstream's page is kept for its TTL
    assert page.status_code == 200 and WHEEL in {f["filename"] for f in page.get_json()["files"]}
    response = client.get(f"/fresh/packages/demo/{WHEEL}")
    assert response.status_code == 200 and response.data == (json_upstream.folder / WHEEL).read_bytes()
    missing = client.get(f"/fresh/packages/demo/{NEW}")  # listed, never fetched: a clear 502, nothing stored
    assert missing.status_code == 502 and "Could not fetch" in missing.get_data(as_text=True)
    assert not any(NEW in key for key in _keys(cache_app))


def test_a_file_the_view_filters_out_is_missing_and_never_fetched(cache_app: Flask,
                                                                  json_upstream: LocalUpstream) -> None:  # noqa: F811  # fmt: skip
    client = cache_app.test_client()
    assert [f["filename"] for f in client.get("/prod/simple/demo/", headers=JSON).get_json()["files"]] == [WHEEL]
    for name in (NEW, NEW + ".metadata", "demo-2.0.tar.gz"):
        assert client.get(f"/prod/packages/demo/{name}").status_code == 404  # the cooldown hides 2.0
    assert json_upstream.count("file", NEW) == 0 and json_upstream.count("metadata", NEW) == 0
    assert not any(NEW in key for key in _keys(cache_app)) and _rows(cache_app) == []
    assert client.get(f"/fresh/packages/demo/{NEW}").status_code == 200  # another view offers it


def test_a_file_whose_sha256_differs_is_refused_and_not_stored(cache_app: Flask,
                                                               json_upstream: LocalUpstream) -> None:  # noqa: F811  # fmt: skip
    json_upstream.faults[WHEEL] = "wrong-hash"
    client = cache_app.test_client()
    response = client.get(f"/fresh/packages/demo/{WHEEL}")
    assert response.status_code == 502 and "failed verification" in response.get_data(as_text=True)
    assert not any(WHEEL in key for key in _keys(cache_app)) and _rows(cache_app) == []
    json_upstream.faults.clear()
    assert client.get(f"/fresh/packages/demo/{WHEEL}").status_code == 200  # fetched again once it is right


def test_users_without_cache_update_get_only_what_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            json_upstream: LocalUpstream) -> None:  # noqa: F811  # fmt: skip
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({**_settings(tmp_path, json_upstream), "cache_update": ["authenticated"]})
    client = app.test_client()
    assert client.get(f"/fresh/packages/demo/{WHEEL}").status_code == 401
    assert json_upstream.count("file", WHEEL) == 0


def test_reindex_keeps_a_cached_file_under_its_upstream_index(cache_app: Flask, json_upstream: LocalUpstream,  # noqa: F811
                                                               tmp_path: Path) -> None:  # fmt: skip
    client = cache_app.test_client()
    assert client.get(f"/fresh/packages/demo/{WHEEL}").status_code == 200
    metadata = client.get(f"/fresh/packages/demo/{NEW}.metadata")  # PEP 658 alone: kept, the wheel not fetched
    assert metadata.status_code == 200 and metadata.data == read_metadata(json_upstream.folder / NEW)
    assert json_upstream.count("file", NEW) == 0
    with cache_app.app_context():
        db.session.execute(text("DELETE FROM files"))
        db.session.execute(text("DELETE FROM projects"))
        db.session.commit()
        db.session.remove()
    assert _rows(cache_app) == []
    result = create_app(_settings(tmp_path, json_upstream)).test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code == 0 and "Indexed 1 projects, 1 files" in result.output, result.output
    assert _rows(cache_app) == [("public", WHEEL, "cache")]
    listed = cache_app.test_cli_runner().invoke(args=["index", "list", "--json"])
    assert '"files": 1' in listed.output, listed.output
    json_upstream.stop()  # the restored row serves the stored file: no fetch needed
    response = client.get(f"/fresh/packages/demo/{WHEEL}")
    assert response.status_code == 200 and response.data == (json_upstream.folder / WHEEL).read_bytes()
