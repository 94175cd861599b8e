"""Conformance of the simple API (PEP 503, 629, 592, 658/714, 691, 700, 740, 792), HTML and JSON, at /simple/
and on a view (issue 14): each test runs on the built-in index, on a view at /<view>/simple/ with its
view-scoped downloads, and with /simple/ serving that view (default_view)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from tests.helpers import basic, upload
from tests.support.dists import make_sdist, make_wheel, read_metadata

JSON = "application/vnd.pypi.simple.v1+json"
HTML = "application/vnd.pypi.simple.v1+html"
VIEWS = {"all": {"members": ["default"]}}


@dataclass(frozen=True)
class Where:
    """Where the tests find the simple pages, the downloads and the JSON API, and the settings that serve them."""

    simple: str
    packages: str
    pypi: str
    settings: dict[str, Any] = field(default_factory=dict)


WHERES = {
    "index": Where("/simple/", "/packages/", "/pypi/"),
    "view": Where("/all/simple/", "/all/packages/", "/all/pypi/", {"views": VIEWS}),
    "default-view": Where("/simple/", "/all/packages/", "/pypi/", {"views": VIEWS, "default_view": "all"}),
}


@pytest.fixture(params=list(WHERES))
def where(request: pytest.FixtureRequest) -> Where:
    """The built-in index, a view of it, and /simple/ serving that view."""
    return WHERES[request.param]


@pytest.fixture
def settings(settings: dict[str, Any], where: Where) -> dict[str, Any]:
    """The usual settings plus what serves `where`."""
    return {**settings, **where.settings}


@pytest.fixture
def client(app, where: Where):
    """Flask's test client, which knows where the pages under test are."""
    test_client = app.test_client()
    test_client.where = where
    return test_client


@pytest.fixture
def demo(client, tmp_path: Path) -> dict[str, Path]:
    """An index holding demo-pkg 1.0 (wheel with requires-python, sdist) and 1.1 (wheel)."""
    files = {
        "wheel": make_wheel(tmp_path / "d", "Demo.Pkg", "1.0", requires_python=">=3.8,<4"),
        "sdist": make_sdist(tmp_path / "d", "Demo.Pkg", "1.0"),
        "wheel11": make_wheel(tmp_path / "d", "Demo.Pkg", "1.1"),
    }
    for path in files.values():
        assert upload(client, path).status_code == 200
    return files


def project(client, accept: str | None = None, headers: dict[str, str] | None = None):
    return client.get(
        client.where.simple + "demo-pkg/", headers={**({"Accept": accept} if accept else {}), **(headers or {})}
    )


def test_root_lists_projects_in_html_and_json(client, demo) -> None:
    simple = client.where.simple
    html = client.get(simple)
    assert html.status_code == 200 and html.mimetype == "text/html"
    hrefs = dict((text, href) for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', html.text))
    assert urljoin("http://localhost" + simple, hrefs["Demo.Pkg"]) == "http://localhost" + simple + "demo-pkg/"
    assert '<meta name="pypi:repository-version" content="1.4">' in html.text
    body = client.get(simple, headers={"Accept": JSON}).get_json(force=True)
    assert body == {"meta": {"api-version": "1.4"}, "projects": [{"name": "Demo.Pkg"}]}


def test_root_links_are_relative_one_per_line(client, demo, tmp_path: Path) -> None:
    """At /simple/ a project's link is relative, `name/` (PEP 503 allows it): a fifth less to send."""
    assert upload(client, make_wheel(tmp_path / "z", "Zeta", "1.0")).status_code == 200
    text = client.get(client.where.simple).text
    if client.where.simple == "/simple/":
        assert '<a href="demo-pkg/">Demo.Pkg</a>\n<a href="zeta/">Zeta</a>\n' in text
    assert "<br>" not in text


def test_content_type_and_vary(client, demo) -> None:
    for accept, mimetype in [(None, "text/html"), ("*/*", "text/html"), (HTML, HTML), (JSON, JSON)]:
        response = project(client, accept)
        assert response.mimetype == mimetype, accept
        assert "Accept" in response.headers["Vary"]
    assert client.get(client.where.simple + "demo-pkg/?format=" + JSON).mimetype == JSON


def test_normalised_redirects(client, demo) -> None:
    simple = client.where.simple
    for path in ["Demo.Pkg/", "demo_pkg/", "demo-pkg", "DEMO-PKG"]:
        response = client.get(simple + path)
        assert response.status_code == 301, path
        assert response.headers["Location"].endswith(simple + "demo-pkg/")
    assert client.get(simple.rstrip("/")).status_code in (301, 308)


def test_html_project_page_attributes(client, demo) -> None:
    text = project(client).text
    wheel = demo["wheel"]
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    meta_sha = hashlib.sha256(read_metadata(wheel)).hexdigest()
    anchor = re.search(rf"<a [^>]*>{re.escape(wheel.name)}</a>", text).group(0)
    assert f'href="{client.where.packages}demo-pkg/{wheel.name}#sha256={sha}"' in anchor
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in anchor
    assert f'data-core-metadata="sha256={meta_sha}"' in anchor
    assert f'data-dist-info-metadata="sha256={meta_sha}"' in anchor
    assert "data-yanked" not in anchor and "data-gpg-sig" not in anchor
    sdist_anchor = re.search(rf"<a [^>]*>{re.escape(demo['sdist'].name)}</a>", text).group(0)
    assert "data-requires-python" not in sdist_anchor and "data-core-metadata" not in sdist_anchor
    assert '<meta name="pypi:repository-version" content="1.4">' in text


def test_json_project_page(client, demo) -> None:
    body = json.loads(project(client, JSON).data)
    assert body["meta"] == {"api-version": "1.4"}
    assert body["name"] == "demo-pkg"
    assert body["versions"] == ["1.0", "1.1"]
    assert body["project-status"] == {"status": "active"}
    by_name = {f["filename"]: f for f in body["files"]}
    wheel = by_name[demo["wheel"].name]
    assert wheel["hashes"] == {"sha256": hashlib.sha256(demo["wheel"].read_bytes()).hexdigest()}
    assert wheel["core-metadata"] == {"sha256": hashlib.sha256(read_metadata(demo["wheel"])).hexdigest()}
    assert wheel["requires-python"] == ">=3.8,<4"
    assert wheel["yanked"] is False and wheel["provenance"] is None
    assert wheel["size"] == demo["wheel"].stat().st_size
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", wheel["upload-time"])
    assert "dist-info-metadata" not in wheel and "data-dist-info-metadata" not in json.dumps(body)
    sdist = by_name[demo["sdist"].name]
    assert sdist["core-metadata"] is False and "requires-python" not in sdist


def test_core_metadata_file_is_byte_for_byte(client, demo) -> None:
    packages = client.where.packages
    response = client.get(f"{packages}demo-pkg/{demo['wheel'].name}.metadata")
    assert response.status_code == 200 and response.data == read_metadata(demo["wheel"])
    assert client.get(f"{packages}demo-pkg/{demo['sdist'].name}.metadata").status_code == 404


def test_yank_shows_in_html_and_json(client, demo) -> None:
    name = demo["wheel11"].name
    r = client.post("/api/projects/demo-pkg/yank", json={"filename": name, "reason": "broken <build>"}, headers=basic())
    assert r.status_code == 200
    anchor = re.search(rf"<a [^>]*>{re.escape(name)}</a>", project(client).text).group(0)
    assert 'data-yanked="broken &lt;build&gt;"' in anchor
    files = {f["filename"]: f for f in json.loads(project(client, JSON).data)["files"]}
    assert files[name]["yanked"] == "broken <build>"
    client.post("/api/projects/demo-pkg/unyank", json={"filename": name}, headers=basic())
    client.post("/api/projects/demo-pkg/yank", json={"version": "1.1"}, headers=basic())
    anchor = re.search(rf"<a [^>]*>{re.escape(name)}</a>", project(client).text).group(0)
    assert 'data-yanked=""' in anchor
    files = {f["filename"]: f for f in json.loads(project(client, JSON).data)["files"]}
    assert files[name]["yanked"] is True


def test_project_status(client, demo, tmp_path: Path) -> None:
    r = client.put("/api/projects/demo-pkg/status", json={"status": "archived", "reason": "moved"}, headers=basic())
    assert r.status_code == 200
    text = project(client).text
    assert '<meta name="pypi:project-status" content="archived">' in text
    assert '<meta name="pypi:project-status-reason" content="moved">' in text
    assert json.loads(project(client, JSON).data)["project-status"] == {
        "status": "archived",
        "reason": "moved",
    }
    refused = upload(client, make_wheel(tmp_path / "n", "Demo.Pkg", "2.0"))
    assert refused.status_code == 409 and "archived" in refused.status
    assert client.get(f"{client.where.packages}demo-pkg/{demo['wheel'].name}").status_code == 200
    client.put("/api/projects/demo-pkg/status", json={"status": "quarantined"}, headers=basic())
    assert json.loads(project(client, JSON).data)["files"] == []
    assert client.get(f"{client.where.packages}demo-pkg/{demo['wheel'].name}").status_code == 404
    bad = client.put("/api/projects/demo-pkg/status", json={"status": "sleeping"}, headers=basic())
    assert bad.status_code == 409


def test_etag_last_modified_and_304(client, demo) -> None:
    first = project(client)
    assert first.headers["Cache-Control"] == "max-age=0, must-revalidate"
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert project(client, headers={"If-None-Match": etag}).status_code == 304
    assert project(client, headers={"If-Modified-Since": modified}).status_code == 304
    assert project(client, JSON, headers={"If-None-Match": etag}).status_code == 200  # other format, other ETag
    client.post("/api/projects/demo-pkg/yank", json={"version": "1.0"}, headers=basic())
    assert project(client, headers={"If-None-Match": etag}).status_code == 200
    root = client.get(client.where.simple)
    assert client.get(client.where.simple, headers={"If-None-Match": root.headers["ETag"]}).status_code == 304


@pytest.mark.parametrize("path", ["", "demo-pkg/"])
def test_pages_come_gzipped_to_clients_that_take_gzip_under_their_own_etag(client, demo, path: str) -> None:
    path = client.where.simple + path
    plain = client.get(path)
    packed = client.get(path, headers={"Accept-Encoding": "gzip, deflate"})  # what pip and uv send
    assert packed.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert gzip.decompress(packed.data) == plain.data
    assert {"Accept", "Accept-Encoding"} <= set(packed.headers["Vary"].replace(" ", "").split(","))
    assert packed.headers["ETag"] != plain.headers["ETag"]  # another representation, another validator
    again = {"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]}
    assert client.get(path, headers=again).status_code == 304
    assert client.get(path, headers={"If-None-Match": packed.headers["ETag"]}).status_code == 200
    assert client.get(path, headers={"Accept-Encoding": "identity"}).data == plain.data


def test_head_works_where_get_does(client, demo) -> None:
    where = client.where
    for path in [where.simple, where.simple + "demo-pkg/", f"{where.packages}demo-pkg/{demo['wheel'].name}"]:
        get, head = client.get(path), client.head(path)
        assert head.status_code == 200 and head.data == b""
        assert head.headers["Content-Length"] == get.headers["Content-Length"]


def test_file_download_ranges_and_validators(client, demo) -> None:
    path = f"{client.where.packages}demo-pkg/{demo['wheel'].name}"
    data = demo["wheel"].read_bytes()
    full = client.get(path)
    assert full.data == data and full.headers["Accept-Ranges"] == "bytes"
    assert int(full.headers["Content-Length"]) == len(data)
    assert full.headers["ETag"].strip('"') == hashlib.sha256(data).hexdigest()
    part = client.get(path, headers={"Range": "bytes=-100"})
    assert part.status_code == 206 and part.data == data[-100:]
    assert part.headers["Content-Range"] == f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}"
    assert client.get(path, headers={"If-None-Match": full.headers["ETag"]}).status_code == 304


def test_missing_things_are_404(client, demo) -> None:
    where = client.where
    assert client.get(where.simple + "nothing-here/").status_code == 404
    assert client.get(where.packages + "demo-pkg/demo_pkg-9.9.tar.gz").status_code == 404
    assert client.get(where.packages + "demo-pkg/..%2Fsecret").status_code == 404
    assert client.get(where.packages + "nothing-here/demo_pkg-1.0.tar.gz").status_code == 404
    assert client.get(where.pypi + "nothing-here/json").status_code == 404
    assert client.get(where.pypi + "demo-pkg/9.9/json").status_code == 404


def test_x_accel_redirect(tmp_path: Path, monkeypatch, settings, where: Where) -> None:
    from flaskpypi import create_app

    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    client = create_app({**settings, "x_sendfile": "nginx", "x_accel_prefix": "/_files/"}).test_client()
    wheel = make_wheel(tmp_path / "x", "demo", "1.0")
    upload(client, wheel)
    response = client.get(f"{where.packages}demo/{wheel.name}")
    assert response.headers["X-Accel-Redirect"] == f"/_files/demo/{wheel.name}"
    assert response.data == b""


def test_deleted_project_leaves_the_simple_index(client, demo) -> None:
    """A project whose files are all deleted is gone from /simple/ (HTML and JSON) and its page is a 404,
    as in the UI and /pypi/<p>/json; uploading it again brings it back."""
    assert client.delete("/api/projects/demo-pkg", headers=basic()).status_code == 200
    assert "demo-pkg" not in client.get(client.where.simple).text
    assert client.get(client.where.simple, headers={"Accept": JSON}).get_json(force=True)["projects"] == []
    for accept in (None, JSON):
        assert project(client, accept).status_code == 404
    assert client.get(client.where.pypi + "demo-pkg/json").status_code == 404
