"""What every client sees of a view beyond its simple pages (issue 14): the JSON API at /<view>/pypi/, downloads
scoped to the view (a file the view filters out is a 404 there), and hidden projects missing everywhere."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flaskpypi import create_app
from tests.conftest import base_settings
from tests.helpers import basic, upload
from tests.support.dists import make_wheel, read_metadata
from tests.support.upstream import LocalUpstream
from tests.unit.test_views_web import JSON, _app
from tests.unit.upstream_fixtures import USERS, hashed_users, json_upstream  # noqa: F401

VIEWS = {
    "old": {"members": [{"index": "default", "versions": {"hosted*": "<2"}}, "public"]},
    "cool": {"members": [{"index": "default", "min_age": "7d"}, {"index": "public", "min_age": "7d"}]},
    "fresh": {"members": ["default", "public"]},
    "acme": {"members": [{"index": "default", "allow": ["acme-*"]}, "public"]},
}


@pytest.fixture
def hosted(tmp_path: Path) -> dict[str, Path]:
    """hosted-lib 1.0 and 2.0, wheels made here (uploaded by each test)."""
    return {v: make_wheel(tmp_path / "dists", "hosted-lib", v, summary=f"v{v}") for v in ("1.0", "2.0")}


def _client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstream: LocalUpstream, hosted: dict[str, Path],
            **settings: object):  # fmt: skip
    app = _app(tmp_path, monkeypatch, upstream, **{"views": VIEWS, **settings})
    client = app.test_client()
    for path in hosted.values():
        assert upload(client, path, auth=basic()).status_code == 200
    return client


def test_json_api_of_a_view_shows_what_the_view_offers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       json_upstream: LocalUpstream,  # noqa: F811
                                                       hosted: dict[str, Path]) -> None:  # fmt: skip
    client = _client(tmp_path, monkeypatch, json_upstream, hosted)
    old = client.get("/old/pypi/hosted-lib/json").get_json()
    assert list(old["releases"]) == ["1.0"] and old["info"]["version"] == "1.0"
    assert old["info"]["summary"] == "v1.0" and old["info"]["name"] == "hosted-lib"
    assert old["info"]["release_url"].endswith("/old/pypi/hosted-lib/1.0/json")
    [url] = old["urls"]
    assert url["url"] == f"http://localhost/old/packages/hosted-lib/{hosted['1.0'].name}"
    assert url["digests"]["sha256"] == hashlib.sha256(hosted["1.0"].read_bytes()).hexdigest()
    assert old["last_serial"] == client.get("/pypi/hosted-lib/json").get_json()["last_serial"] > 0
    assert client.get("/old/pypi/hosted-lib/2.0/json").status_code == 404  # filtered: absent
    assert client.get("/old/pypi/Hosted_Lib/1.0/json").get_json()["info"]["version"] == "1.0"
    assert client.get("/cool/pypi/hosted-lib/json").status_code == 404  # every file too young
    whole = client.get("/pypi/hosted-lib/json").get_json()  # the built-in index: unchanged
    assert list(whole["releases"]) == ["1.0", "2.0"] and whole["info"]["version"] == "2.0"
    assert client.get("/nope/pypi/hosted-lib/json").status_code == 404


def test_json_api_of_upstream_projects_says_what_their_page_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 json_upstream: LocalUpstream,  # noqa: F811
                                                                 hosted: dict[str, Path]) -> None:  # fmt: skip
    client = _client(tmp_path, monkeypatch, json_upstream, hosted)
    body = client.get("/fresh/pypi/demo/json").get_json()
    assert list(body["releases"]) == ["1.0", "2.0"] and body["info"]["version"] == "2.0"
    info = body["info"]
    assert info["name"] == "demo" and info["summary"] is None and info["classifiers"] == []
    assert body["last_serial"] == 0
    files = {f["filename"]: f for f in body["urls"]}
    sdist = files["demo-2.0.tar.gz"]
    path = json_upstream.folder / "demo-2.0.tar.gz"
    assert sdist["digests"] == {"md5": None, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                "blake2b_256": None}  # fmt: skip
    assert sdist["url"].startswith(json_upstream.url.rsplit("/simple", 1)[0])  # redirect mode: the upstream's URL
    assert sdist["packagetype"] == "sdist" and sdist["size"] == path.stat().st_size
    assert files["demo-2.0-py3-none-any.whl"]["packagetype"] == "bdist_wheel"
    one = client.get("/fresh/pypi/demo/1.0/json").get_json()
    assert one["info"]["requires_python"] == ">=3.8"


def test_a_cooldown_applies_to_the_json_api_of_upstream_projects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 json_upstream: LocalUpstream,  # noqa: F811
                                                                 hosted: dict[str, Path]) -> None:  # fmt: skip
    for path in json_upstream.dists("demo"):
        young = path.name.startswith("demo-2.0")
        json_upstream.upload_times[path.name] = datetime.now(UTC) - timedelta(days=1 if young else 300)
    client = _client(tmp_path, monkeypatch, json_upstream, hosted)
    assert list(client.get("/cool/pypi/demo/json").get_json()["releases"]) == ["1.0"]
    assert client.get("/cool/pypi/demo/2.0/json").status_code == 404
    assert list(client.get("/fresh/pypi/demo/json").get_json()["releases"]) == ["1.0", "2.0"]


def test_downloads_are_scoped_to_the_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          json_upstream: LocalUpstream,  # noqa: F811
                                          hosted: dict[str, Path]) -> None:  # fmt: skip
    client = _client(tmp_path, monkeypatch, json_upstream, hosted)
    one, two = hosted["1.0"].name, hosted["2.0"].name
    page = client.get("/old/simple/hosted-lib/", headers=JSON).get_json()
    assert page["versions"] == ["1.0"]
    assert [f["url"].split("#")[0] for f in page["files"]] == [f"/old/packages/hosted-lib/{one}"]
    got = client.get(f"/old/packages/hosted-lib/{one}")
    assert got.status_code == 200 and got.data == hosted["1.0"].read_bytes()
    assert got.headers["Cache-Control"] == "public, no-cache"  # revalidated: the view may stop offering it
    assert (
        client.get(f"/old/packages/hosted-lib/{one}", headers={"If-None-Match": got.headers["ETag"]}).status_code == 304
    )
    assert client.get(f"/old/packages/hosted-lib/{one}.metadata").data == read_metadata(hosted["1.0"])
    assert client.head(f"/old/packages/hosted-lib/{one}").status_code == 200
    assert client.get(f"/old/packages/hosted-lib/{two}").status_code == 404  # the view filters it out
    assert client.get(f"/old/packages/hosted-lib/{two}.metadata").status_code == 404
    assert client.get(f"/cool/packages/hosted-lib/{one}").status_code == 404  # too young for the cooldown
    assert client.get(f"/fresh/packages/hosted-lib/{two}").status_code == 200
    assert client.get(f"/default/packages/hosted-lib/{two}").status_code == 200  # the index as a view
    assert client.get(f"/packages/hosted-lib/{two}").status_code == 200  # today's URL: the built-in index
    assert client.get("/fresh/packages/demo/demo-2.0.tar.gz").status_code == 404  # upstream files link upstream
    assert client.get("/old/packages/hosted-lib/..%2Fsecret").status_code == 404
    assert client.get(f"/nope/packages/hosted-lib/{one}").status_code == 404
    client.put("/api/projects/hosted-lib/status", json={"status": "quarantined"}, headers=basic())
    assert client.get(f"/fresh/packages/hosted-lib/{one}").status_code == 404  # PEP 792, as at /packages/


def test_default_view_answers_the_json_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           json_upstream: LocalUpstream,  # noqa: F811
                                           hosted: dict[str, Path]) -> None:  # fmt: skip
    client = _client(tmp_path, monkeypatch, json_upstream, hosted, default_view="old")
    assert list(client.get("/pypi/hosted-lib/json").get_json()["releases"]) == ["1.0"]
    assert client.get("/pypi/hosted-lib/2.0/json").status_code == 404
    assert list(client.get("/pypi/demo/json").get_json()["releases"]) == ["1.0", "2.0"]  # from the upstream
    page = client.get("/simple/hosted-lib/", headers=JSON).get_json()
    assert [f["url"].split("#")[0] for f in page["files"]] == [f"/old/packages/hosted-lib/{hosted['1.0'].name}"]


def test_a_project_the_asker_may_not_read_is_missing_in_every_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   json_upstream: LocalUpstream,  # noqa: F811
                                                                   hosted: dict[str, Path]) -> None:  # fmt: skip
    """hosted-lib and acme-tools are private to `reader`; the upstream publishes an acme-tools too."""
    grants = {"hosted-lib": {"reader": "read"}, "acme-tools": {"reader": "read"}}
    client = _client(tmp_path, monkeypatch, json_upstream, hosted, users=hashed_users(), grants=grants)
    assert upload(client, make_wheel(tmp_path / "d", "acme-tools", "1.0"), auth=basic()).status_code == 200
    one = hosted["1.0"].name
    reader, outsider = basic("reader", USERS["reader"]), basic("outsider", USERS["outsider"])
    for view in ("fresh", "old", "default"):
        paths = [f"/{view}/simple/hosted-lib/", f"/{view}/pypi/hosted-lib/json", f"/{view}/pypi/hosted-lib/1.0/json",
                 f"/{view}/packages/hosted-lib/{one}", f"/{view}/simple/acme-tools/"]  # fmt: skip
        for path in paths:
            assert client.get(path, headers=outsider).status_code == 404, path  # the same as a missing project
            assert client.get(path).status_code == 401, path  # anonymous: asked to log in, never shown
            assert client.get(path, headers=reader).status_code == 200, path
        names = [p["name"] for p in client.get(f"/{view}/simple/", headers={**JSON, **outsider}).get_json()["projects"]]
        assert "hosted-lib" not in names and "acme-tools" not in names


def test_the_ui_browses_by_index_and_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          json_upstream: LocalUpstream,  # noqa: F811
                                          hosted: dict[str, Path]) -> None:  # fmt: skip
    grants = {"hosted-lib": {"reader": "read"}}
    client = _client(tmp_path, monkeypatch, json_upstream, hosted, users=hashed_users(), grants=grants)
    reader, outsider = basic("reader", USERS["reader"]), basic("outsider", USERS["outsider"])
    home = client.get("/", headers=reader).text
    assert '<select id="scope" name="index">' in home and '<option value="old">old (view of default, public)' in home
    scoped = client.get("/?index=acme", headers=reader).text
    assert "Projects in acme" in scoped and "hosted-lib" not in scoped  # acme admits acme-* from default only
    old = client.get("/?index=old", headers=reader).text
    assert 'href="/project/hosted-lib/?index=old"' in old and "/old/simple/" in old
    assert client.get("/?index=nope", headers=reader).status_code == 404

    page = client.get("/project/hosted-lib/?index=old", headers=reader).text
    one, two = hosted["1.0"].name, hosted["2.0"].name
    assert f'<a href="/old/packages/hosted-lib/{one}">{one}</a>' in page and two not in page
    assert '<span class="badge">default</span>' in page  # the index the file came from
    upstream = client.get("/project/demo/?index=fresh", headers=reader).text  # held upstream only
    assert "demo-2.0.tar.gz" in upstream and '<span class="badge">public</span>' in upstream
    assert client.get("/project/hosted-lib/?index=fresh", headers=outsider).status_code == 404
    assert (
        client.get("/project/Hosted_Lib/?index=old", headers=reader)
        .headers["Location"]
        .endswith("/project/hosted-lib/?index=old")
    )
    plain = client.get("/project/hosted-lib/", headers=reader).text  # the latest release, with its index
    assert plain.count("index default</span>") == 1 and '<select id="scope" name="index">' in plain


def test_two_upstream_indexes_keep_their_own_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`a` lacks `remote`, `b` has it: a's "no such project" must not be read as b's (each index keeps its
    upstream pages and health under its own storage prefix)."""
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    make_wheel(tmp_path / "a", "other", "1.0")
    remote = make_wheel(tmp_path / "b", "remote", "1.0")
    a, b = LocalUpstream(tmp_path / "a").start(), LocalUpstream(tmp_path / "b").start()
    try:
        indexes = {name: {"type": "upstream", "url": up.url, "mode": "redirect"} for name, up in (("a", a), ("b", b))}
        views = {"both": {"members": ["default", "a", "b"]}}
        app = create_app({**base_settings(tmp_path), "indexes": indexes, "views": views, "upstream_retry": 0})
        client = app.test_client()
        assert client.get("/a/simple/remote/").status_code == 404
        page = client.get("/both/simple/remote/", headers=JSON)
        assert page.status_code == 200 and [f["filename"] for f in page.get_json()["files"]] == [remote.name]
        assert client.get("/a/simple/remote/").status_code == 404
    finally:
        a.stop()
        b.stop()
