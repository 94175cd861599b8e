"""Cache and mirror modes through the views: listing, fetching, verification, pass-through of upstream facts,
storage like an upload, reindex, dependency confusion, the minimum age, page TTL, ETags and stale-if-error."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flaskpypi.core.records import FileRecord
from tests.helpers import basic, upload
from tests.support.dists import make_wheel, read_metadata
from tests.support.upstream import LocalUpstream
from tests.unit.upstream_fixtures import json_upstream, make_app, upstream  # noqa: F401

JSON = "application/vnd.pypi.simple.v1+json"
WHEEL = "demo-1.0-py3-none-any.whl"
CACHING = {"fallback": "cache", "cache_update": ["everyone"]}


def page(client, name: str = "demo", **headers: str):
    return client.get(f"/simple/{name}/", headers={"Accept": JSON, **headers})


def files(response) -> dict[str, dict]:
    return {f["filename"]: f for f in response.get_json(force=True)["files"]}


def storage_keys(app) -> set[str]:
    return {s.key for s in app.extensions["flaskpypi"].storage.iter_files()}


def test_cache_mode_lists_upstream_files_and_caches_on_first_download(make_app, upstream: LocalUpstream) -> None:  # noqa: F811
    app = make_app(upstream, **CACHING)
    client = app.test_client()
    listed = files(page(client))
    assert set(listed) == {WHEEL, "demo-2.0-py3-none-any.whl", "demo-2.0.tar.gz"}
    assert listed[WHEEL]["url"] == f"/packages/demo/{WHEEL}"
    assert listed[WHEEL]["requires-python"] == ">=3.8"
    original = (upstream.folder / WHEEL).read_bytes()
    assert listed[WHEEL]["hashes"]["sha256"] == hashlib.sha256(original).hexdigest()
    response = client.get(f"/packages/demo/{WHEEL}")
    assert response.status_code == 200 and response.data == original
    assert upstream.count("file", WHEEL) == 1
    again = client.get(f"/packages/demo/{WHEEL}")
    assert again.data == original and upstream.count("file", WHEEL) == 1
    # stored exactly like an upload: the file, its PEP 658 metadata and a sidecar saying origin=cache
    keys = storage_keys(app)
    assert {f"demo/{WHEEL}", f"demo/{WHEEL}.metadata", f"demo/{WHEEL}.json"} <= keys
    record = FileRecord.from_json(app.extensions["flaskpypi"].storage.read(f"demo/{WHEEL}.json"))
    assert record.origin == "cache" and record.sha256 == hashlib.sha256(original).hexdigest()
    api = client.get("/api/projects/demo/files").get_json()
    assert [(f["filename"], f["origin"]) for f in api["files"]] == [(WHEEL, "cache")]


def test_cached_wheel_has_the_upstream_core_metadata(make_app, upstream: LocalUpstream) -> None:  # noqa: F811
    client = make_app(upstream, **CACHING).test_client()
    metadata = read_metadata(upstream.folder / WHEEL)
    before = client.get(f"/packages/demo/{WHEEL}.metadata")  # pip asks for it before the wheel
    assert before.status_code == 200 and before.data == metadata
    assert upstream.count("file", WHEEL) == 0
    client.get(f"/packages/demo/{WHEEL}")
    after = files(page(client))[WHEEL]
    assert after["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert client.get(f"/packages/demo/{WHEEL}.metadata").data == metadata
    assert upstream.count("metadata", WHEEL) == 1


def test_upstream_facts_pass_through(make_app, json_upstream: LocalUpstream) -> None:  # noqa: F811
    """PEP 592 yanks (also of files cached before the yank), PEP 700 upload-time and size, PEP 740, PEP 792."""
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    json_upstream.upload_times[WHEEL] = when
    json_upstream.provenance["demo-2.0-py3-none-any.whl"] = b'{"attestation_bundles": []}'
    client = make_app(json_upstream, **CACHING).test_client()
    client.get(f"/packages/demo/{WHEEL}")
    json_upstream.yanked[WHEEL] = "broken"
    json_upstream.yanked["demo-2.0.tar.gz"] = ""
    client = make_app(json_upstream, **CACHING, upstream_ttl=0).test_client()
    client.get(f"/packages/demo/{WHEEL}")
    listed = files(page(client))
    assert listed[WHEEL]["yanked"] == "broken" and listed["demo-2.0.tar.gz"]["yanked"] is True
    assert listed[WHEEL]["upload-time"] == "2024-05-06T07:08:09.123456Z"
    assert listed[WHEEL]["size"] == (json_upstream.folder / WHEEL).stat().st_size
    provenance = json_upstream.provenance_url("demo-2.0-py3-none-any.whl")
    assert listed["demo-2.0-py3-none-any.whl"]["provenance"] == provenance
    assert client.get("/packages/demo/demo-2.0-py3-none-any.whl").status_code == 200
    cached = files(page(client))["demo-2.0-py3-none-any.whl"]["provenance"]
    assert cached.endswith("/packages/demo/demo-2.0-py3-none-any.whl.provenance")
    served = client.get("/packages/demo/demo-2.0-py3-none-any.whl.provenance")
    assert served.data == b'{"attestation_bundles": []}'
    json_upstream.status["demo"] = ("quarantined", "malware report")
    quarantined = page(make_app(json_upstream, **CACHING).test_client()).get_json(force=True)
    assert quarantined["project-status"] == {"status": "quarantined", "reason": "malware report"}
    assert quarantined["files"] == []


def test_html_only_upstream_has_no_size_or_upload_time(make_app, tmp_path: Path) -> None:  # noqa: F811
    from tests.unit.upstream_fixtures import fill_upstream

    server = LocalUpstream(fill_upstream(tmp_path / "up"), flavour="html").start()
    try:
        client = make_app(server, **CACHING).test_client()
        listed = files(page(client))[WHEEL]
        assert "size" not in listed and "upload-time" not in listed
        assert listed["requires-python"] == ">=3.8" and listed["core-metadata"]
        assert server.count("page", "demo") == 1
    finally:
        server.stop()


def test_reindex_restores_cached_files(make_app, json_upstream: LocalUpstream) -> None:  # noqa: F811
    app = make_app(json_upstream, **CACHING)
    client = app.test_client()
    client.get(f"/packages/demo/{WHEEL}")
    result = app.test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    api = client.get("/api/projects/demo/files").get_json()
    assert [(f["filename"], f["origin"]) for f in api["files"]] == [(WHEEL, "cache")]
    assert client.get(f"/packages/demo/{WHEEL}.metadata").data == read_metadata(json_upstream.folder / WHEEL)


def test_users_without_cache_update_get_what_is_cached(make_app, json_upstream: LocalUpstream) -> None:  # noqa: F811
    app = make_app(json_upstream, fallback="cache", cache_update=["cachers"], default_write=["nobody"])
    client = app.test_client()
    assert page(client).status_code == 401  # nothing cached, anonymous: log in first
    assert page(client, **basic("reader", "reader-pass-1")).status_code == 404
    assert client.get(f"/packages/demo/{WHEEL}", headers=basic("reader", "reader-pass-1")).status_code == 404
    cacher = basic("cacher", "cacher-pass-1")
    assert client.get(f"/packages/demo/{WHEEL}", headers=cacher).status_code == 200
    assert set(files(page(client))) == {WHEEL}  # anonymous readers now see the cached file, only it
    assert len(files(page(client, **cacher))) == 3  # cachers still see what upstream offers
    assert client.get("/packages/demo/demo-2.0.tar.gz").status_code == 401


# -- dependency confusion -------------------------------------------------------------------------------


def test_private_project_is_never_merged_unless_allowed(make_app, json_upstream: LocalUpstream, tmp_path: Path) -> None:  # noqa: F811
    app = make_app(json_upstream, fallback="mirror", cache_update=["everyone"])
    client = app.test_client()
    assert upload(client, make_wheel(tmp_path / "p", "demo", "0.1")).status_code == 200
    assert set(files(page(client))) == {"demo-0.1-py3-none-any.whl"}
    assert client.get(f"/packages/demo/{WHEEL}").status_code == 404
    assert json_upstream.count() == 0  # the upstream was not even asked
    allowed = client.put("/api/projects/demo/upstream", json={"upstream_merge": True}, headers=basic())
    assert allowed.get_json()["effective"] == "mirror"
    assert set(files(page(client))) == {"demo-0.1-py3-none-any.whl", WHEEL, "demo-2.0-py3-none-any.whl",
                                        "demo-2.0.tar.gz"}  # fmt: skip
    client.delete("/api/projects/demo/files/demo-0.1-py3-none-any.whl", headers=basic())
    client.put("/api/projects/demo/upstream", json={"upstream_merge": None}, headers=basic())
    gone = page(client)  # a deleted upload still keeps the name private: no upstream file, and the project is gone
    assert gone.status_code == 404 and WHEEL not in gone.text


def test_reserved_prefixes_deny_and_allow_lists(make_app, json_upstream: LocalUpstream) -> None:  # noqa: F811
    client = make_app(json_upstream, **CACHING, private_prefixes=["Acme_*"], upstream_deny=["other"]).test_client()
    assert page(client, name="acme-tools").status_code == 404
    assert client.get("/packages/acme-tools/acme_tools-1.0-py3-none-any.whl").status_code == 404
    assert page(client, name="other").status_code == 404
    assert page(client).status_code == 200
    assert json_upstream.count("page", "acme-tools") == 0 and json_upstream.count("page", "other") == 0
    only_demo = make_app(json_upstream, **CACHING, upstream_allow=["dem?"]).test_client()
    assert page(only_demo, name="other").status_code == 404 and page(only_demo).status_code == 200


def test_admin_overrides_mode_per_project(make_app, json_upstream: LocalUpstream) -> None:  # noqa: F811
    app = make_app(json_upstream, fallback="none", cache_update=["everyone"])
    client = app.test_client()
    assert page(client).status_code == 404
    client.put("/api/projects/demo/upstream", json={"fallback": "cache"}, headers=basic())
    assert len(files(page(client))) == 3
    refused = client.put("/api/projects/demo/upstream", json={"fallback": "sideways"}, headers=basic())
    assert refused.status_code == 400
    assert client.put("/api/projects/demo/upstream", json={"fallback": None}).status_code == 401
    result = app.test_cli_runner().invoke(args=["cache", "project", "demo", "--fallback", "default"])
    assert result.exit_code == 0, result.output
    assert page(client).status_code == 404  # no file, no setting left and no upstream behind it: no project


def test_min_age_hides_young_upstream_files(make_app, json_upstream: LocalUpstream) -> None:  # noqa: F811
    old = datetime.now(UTC) - timedelta(days=30)
    for path in json_upstream.dists("demo"):
        json_upstream.upload_times[path.name] = old
    json_upstream.upload_times["demo-2.0-py3-none-any.whl"] = datetime.now(UTC)
    client = make_app(json_upstream, **CACHING, upstream_min_age="7d").test_client()
    assert set(files(page(client))) == {WHEEL, "demo-2.0.tar.gz"}
    assert client.get("/packages/demo/demo-2.0-py3-none-any.whl").status_code == 404
    assert json_upstream.count("file") == 0
    client.put("/api/projects/demo/upstream", json={"min_age_exempt": True}, headers=basic())
    assert "demo-2.0-py3-none-any.whl" in files(page(client))
    assert client.get("/packages/demo/demo-2.0-py3-none-any.whl").status_code == 200


def test_min_age_without_upload_time_counts_from_first_sight(make_app, tmp_path: Path) -> None:  # noqa: F811
    from tests.unit.upstream_fixtures import fill_upstream

    server = LocalUpstream(fill_upstream(tmp_path / "up"), flavour="html").start()
    try:
        client = make_app(server, **CACHING, upstream_min_age="1h").test_client()
        assert files(page(client)) == {}
    finally:
        server.stop()


# -- pages: TTL, ETag, stale-if-error -----------------------------------------------------------------


def test_page_is_reused_within_ttl_then_revalidated_with_etag(make_app, upstream: LocalUpstream) -> None:  # noqa: F811
    client = make_app(upstream, **CACHING).test_client()
    page(client), page(client), client.get("/simple/demo/")
    assert upstream.count("page", "demo") == 1
    client = make_app(upstream, **CACHING, upstream_ttl=0).test_client()
    first = page(client)
    second = page(client)
    assert upstream.count("revalidated", "demo") == 1
    assert first.get_json(force=True) == second.get_json(force=True)


@pytest.mark.parametrize("fault", ["500", "timeout", "stopped"])
def test_upstream_failure_serves_last_good_page_and_logs_once(make_app, json_upstream: LocalUpstream, fault: str,  # noqa: F811
                                                              caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    app = make_app(json_upstream, **CACHING, upstream_ttl=0, upstream_timeout=0.5)
    client = app.test_client()
    good = page(client).get_json(force=True)
    if fault == "stopped":
        json_upstream.stop()
    else:
        json_upstream.faults.update({"demo": fault, "other": fault})
    with caplog.at_level(logging.INFO, logger="flaskpypi"):
        for _ in range(3):
            stale = page(client)
            assert stale.status_code == 200 and stale.get_json(force=True) == good
    assert sum("is failing" in r.getMessage() for r in caplog.records) == 1
    assert not any("http" in r.getMessage() and "@" in r.getMessage() for r in caplog.records)
    # without a good copy the client gets a clear 502
    response = page(client, name="other")
    assert response.status_code == 502 and "cannot be reached" in response.text
    if fault != "stopped":
        json_upstream.faults.clear()
        json_upstream.release.set()
        with caplog.at_level(logging.INFO, logger="flaskpypi"):
            assert page(client, name="other").status_code == 200
        assert any("answers again" in r.getMessage() for r in caplog.records)


def test_upstream_404_is_404(make_app, json_upstream: LocalUpstream) -> None:  # noqa: F811
    client = make_app(json_upstream, **CACHING).test_client()
    assert page(client, name="no-such-thing").status_code == 404
    assert page(client, name="no-such-thing").status_code == 404
    assert json_upstream.count("page", "no-such-thing") == 1  # kept for the TTL like a found page


# -- file faults: nothing cached, a clear error ----------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "timeout", "truncate", "wrong-hash"])
def test_file_fetch_faults_cache_nothing(make_app, json_upstream: LocalUpstream, fault: str) -> None:  # noqa: F811
    app = make_app(json_upstream, **CACHING, upstream_timeout=0.5)
    client = app.test_client()
    assert page(client).status_code == 200
    json_upstream.faults[WHEEL] = fault
    response = client.get(f"/packages/demo/{WHEEL}")
    assert response.status_code == 502
    assert WHEEL in response.text and response.text.count("\n") == 1
    assert not any(key.startswith(f"demo/{WHEEL}") and not key.endswith(".metadata") for key in storage_keys(app))
    assert client.get("/api/projects/demo/files").status_code == 404
    json_upstream.faults.clear()
    json_upstream.release.set()
    fixed = client.get(f"/packages/demo/{WHEEL}")
    assert fixed.status_code == 200 and fixed.data == (json_upstream.folder / WHEEL).read_bytes()


def test_prune_removes_cached_files(make_app, json_upstream: LocalUpstream, tmp_path: Path) -> None:  # noqa: F811
    app = make_app(json_upstream, **CACHING)
    client = app.test_client()
    client.get(f"/packages/demo/{WHEEL}")
    client.get("/packages/other/other-1.0-py3-none-any.whl")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["cache", "prune"]).exit_code != 0  # says what to prune
    kept = runner.invoke(args=["cache", "prune", "--older-than", "30d"])
    assert kept.exit_code == 0 and "0 cached files removed" in kept.output
    gone = runner.invoke(args=["cache", "prune", "--project", "other"])
    assert "1 cached files removed" in gone.output
    assert not any(k.startswith("other/") for k in storage_keys(app))
    assert [f["filename"] for f in client.get("/api/projects/demo/files").get_json()["files"]] == [WHEEL]
    assert client.get("/packages/other/other-1.0-py3-none-any.whl").status_code == 200  # fetched again
    assert json_upstream.count("file", "other-1.0-py3-none-any.whl") == 2
    everything = runner.invoke(args=["cache", "prune", "--older-than", "0s"])
    assert "2 cached files removed" in everything.output, everything.output
    assert json.loads(client.get("/simple/", headers={"Accept": JSON}).data)["projects"] == []


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_streamed_fetch_failing_before_the_first_byte_is_a_clear_502(make_app, json_upstream: LocalUpstream,  # noqa: F811
                                                                     fault: str) -> None:  # fmt: skip
    app = make_app(json_upstream, **CACHING, upstream_stream_size=0, upstream_timeout=0.5)
    client = app.test_client()
    assert page(client).status_code == 200
    json_upstream.faults[WHEEL] = fault
    response = client.get(f"/packages/demo/{WHEEL}")
    assert response.status_code == 502 and WHEEL in response.text
    json_upstream.faults.clear()
    json_upstream.release.set()
    streamed = client.get(f"/packages/demo/{WHEEL}")
    assert streamed.status_code == 200 and streamed.is_streamed
    assert streamed.data == (json_upstream.folder / WHEEL).read_bytes()
    assert f"demo/{WHEEL}.json" in storage_keys(app)
