"""Fuzz (hypothesis, fixed seed): URLs, headers, upload forms and API bodies never get a 5xx, on SQLite and PostgreSQL.

A refused upload writes nothing: storage and the index tables are the same before and after. PostgreSQL is
where NUL bytes used to turn into 500s, so every strategy is run on both databases.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from flaskpypi import create_app
from flaskpypi.extensions import db
from tests.conftest import ADMIN, base_settings, postgres_database
from tests.helpers import basic, upload_form
from tests.support.dists import make_sdist, make_wheel

# 2 databases x (400 + 300 + 250 + 100) cases = 2,100 cases.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_app(request, tmp_path_factory) -> Iterator[tuple[Any, Path, Path]]:
    """An index with one project (a wheel and an sdist), on SQLite or PostgreSQL; (app, storage root, dists)."""
    root = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    config = {
        **base_settings(root),
        "login_limit_user": 10**6,
        "login_limit_address": 10**6,
        "login_limit_user_total": 10**6,
    }
    stack = ExitStack()
    if request.param == "postgres":
        config["database_url"] = stack.enter_context(postgres_database("flaskpypi_fuzz"))
    saved = {k: v for k, v in os.environ.items() if k.startswith("FLASKPYPI_")}
    for key in saved:
        del os.environ[key]
    os.environ["FLASKPYPI_INSTANCE_PATH"] = str(root / "instance")
    try:
        app = create_app(config)
        app.config["TESTING"] = True
        dists = root / "dists"
        client = app.test_client()
        for path in (make_wheel(dists, "demo", "1.0"), make_sdist(dists, "demo", "1.0")):
            response = client.post(
                "/simple/", data=upload_form(path), headers=basic(), content_type="multipart/form-data"
            )
            assert response.status_code == 200, response.status
        yield app, root / "packages", dists
    finally:
        os.environ.pop("FLASKPYPI_INSTANCE_PATH", None)
        os.environ.update(saved)
        stack.close()


def state(app: Any, storage: Path) -> tuple[Any, ...]:
    """What an upload could change: every stored object, and the index tables."""
    files = sorted((str(p.relative_to(storage)), p.stat().st_size) for p in storage.rglob("*") if p.is_file())
    with app.app_context():
        rows = db.session.execute(text("SELECT filename, state, yanked FROM files ORDER BY filename")).all()
        projects = db.session.execute(text("SELECT name, status, serial FROM projects ORDER BY name")).all()
        db.session.remove()
    return files, [tuple(r) for r in rows], [tuple(p) for p in projects]


def check(response: Any) -> None:
    assert response.status_code < 500, f"{response.status}: {response.get_data(as_text=True)[:300]}"


# -- strategies -------------------------------------------------------------------------------------------

NASTY = ["\x00", "\ud800", "%", "%00", "%ff", "%zz", "..", "/", "\\", "é", "\u202e", " ", "'", '"', "<", ";", "\t"]
nasty_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=5)), max_size=8).map("".join),
    st.sampled_from(["demo", "Demo", "demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz", "1.0", "x" * 300]),
)
# A URL segment: random bytes percent-encoded (invalid UTF-8 and %00 included), or raw text, or a nasty string.
segment = st.one_of(
    st.binary(max_size=30).map(lambda b: quote(b, safe="")),
    nasty_text.map(lambda s: quote(s.encode("utf-8", "surrogatepass"), safe="")),
    st.sampled_from(["demo", "DEMO", "demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz", "%00", "%", "%c0%ae", ""]),
)
URLS = [
    "/simple/{a}/",
    "/simple/{a}",
    "/simple/?format={a}",
    "/simple/demo/?format={a}",
    "/pypi/{a}/json",
    "/pypi/{a}/{b}/json",
    "/pypi/demo/{a}/json",
    "/packages/{a}/{b}",
    "/packages/demo/demo-1.0-py3-none-any.whl{a}",
    "/packages/demo/{a}.metadata",
    "/project/{a}/",
    "/project/demo/{a}/",
    "/?q={a}",
    "/?q={a}&page={b}",
    "/api/projects/{a}/files",
    "/{a}",
]
# Header values the test client can send: latin-1 without line breaks.
header_text = st.one_of(
    st.text(st.characters(min_codepoint=0, max_codepoint=255, blacklist_characters="\r\n"), max_size=60),
    st.sampled_from(["\x00", "*/*", "text/html;q=zz", "application/vnd.pypi.simple.v1+json;q=-1", "", " "]),
)
credentials = st.one_of(
    st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    st.tuples(nasty_text, nasty_text).map(
        lambda t: "Basic " + base64.b64encode(f"{t[0]}:{t[1]}".encode("utf-8", "surrogatepass")).decode()
    ),
    header_text.map(lambda s: "Basic " + s),
    header_text,
    st.sampled_from(["Basic", "Basic ====", "Bearer x", "Basic " + base64.b64encode(b"__token__:pypi-zz").decode()]),
)
ranges = st.one_of(
    st.tuples(st.integers(-5, 10**12), st.integers(-5, 10**12)).map(lambda t: f"bytes={t[0]}-{t[1]}"),
    st.integers(-(10**12), 10**12).map(lambda n: f"bytes={n}"),
    st.sampled_from(["bytes=zz", "bytes=0-0,0-0,1-1", "bytes=-0", "items=0-1", "bytes=5-1", "bytes=0-" * 50]),
    header_text,
)
dates = st.one_of(
    st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
    st.sampled_from(["Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "0", "-1", "yesterday"]),
    header_text,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Accept": header_text,
        "Authorization": credentials,
        "Range": ranges,
        "If-Range": st.one_of(header_text, dates),
        "If-None-Match": st.one_of(header_text, st.sampled_from(['"x"', "*", "W/", '"1-html", W/"2"'])),
        "If-Modified-Since": dates,
        "If-Unmodified-Since": dates,
        "Content-Type": header_text,
        "Accept-Encoding": header_text,
        "Cookie": header_text,
    },
)


@settings(FUZZ, max_examples=400)
@given(template=st.sampled_from(URLS), a=segment, b=segment, method=st.sampled_from(["GET", "GET", "HEAD"]))
def test_urls_never_answer_5xx(fuzz_app, template: str, a: str, b: str, method: str) -> None:
    app, _storage, _dists = fuzz_app
    check(app.test_client().open(template.format(a=a, b=b), method=method))


@settings(FUZZ, max_examples=300)
@given(
    url=st.sampled_from(
        [
            "/simple/",
            "/simple/demo/",
            "/packages/demo/demo-1.0-py3-none-any.whl",
            "/packages/demo/demo-1.0.tar.gz",
            "/packages/demo/demo-1.0-py3-none-any.whl.metadata",
            "/pypi/demo/json",
            "/project/demo/",
            "/?q=demo",
            "/readyz",
            "/api/projects/demo/files",
        ]
    ),
    sent=headers,
    method=st.sampled_from(["GET", "HEAD"]),
)
def test_headers_never_answer_5xx(fuzz_app, url: str, sent: dict[str, str], method: str) -> None:
    app, _storage, _dists = fuzz_app
    check(app.test_client().open(url, method=method, headers=sent))


FIELDS = [
    ":action", "protocol_version", "name", "version", "filetype", "pyversion", "metadata_version", "summary",
    "description", "author", "author_email", "license", "keywords", "classifiers", "requires_dist",
    "requires_python", "project_urls", "md5_digest", "sha256_digest", "blake2_256_digest", "attestations",
]  # fmt: skip


@st.composite
def upload_requests(draw: st.DrawFn, dists: Path) -> tuple[dict[str, Any], dict[str, str], str]:
    """A multipart upload: a real file (maybe renamed, cut or flipped) or random bytes, with fuzzed fields."""
    real = draw(st.sampled_from(sorted(dists.iterdir())))
    data = real.read_bytes()
    how = draw(st.sampled_from(["same", "cut", "flip", "random", "empty"]))
    if how == "cut":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "flip":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    elif how == "random":
        data = draw(st.binary(max_size=300))
    elif how == "empty":
        data = b""
    filename = draw(
        st.one_of(
            st.just(real.name),
            st.just(real.name.replace("1.0", "2.0")),
            nasty_text,
            nasty_text.map(lambda s: f"{s}-1.0-py3-none-any.whl"),
            nasty_text.map(lambda s: f"demo-{s}.tar.gz"),
        )
    )
    form = upload_form(real, data=data)
    form["content"] = (io.BytesIO(data), filename)
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=5, unique=True)):
        form[name] = draw(st.one_of(nasty_text, st.lists(nasty_text, max_size=3)))
    if draw(st.booleans()):
        form.pop(draw(st.sampled_from([*FIELDS, "content"])), None)
    for extra in draw(st.lists(nasty_text, max_size=2)):
        form[extra or "x"] = draw(nasty_text)
    auth = draw(st.sampled_from(["admin", "admin", "admin", "none", "wrong"]))
    sent = {"admin": basic(), "none": {}, "wrong": basic("mallory", "nope")}[auth]
    url = draw(st.sampled_from(["/simple/", "/", "/legacy/"]))
    return form, sent, url


@settings(FUZZ, max_examples=250)
@given(data=st.data())
def test_uploads_never_answer_5xx_and_refusals_write_nothing(fuzz_app, data: st.DataObject) -> None:
    app, storage, dists = fuzz_app
    form, sent, url = data.draw(upload_requests(dists))
    before = state(app, storage)
    try:
        response = app.test_client().post(url, data=form, headers=sent, content_type="multipart/form-data")
    except (UnicodeEncodeError, ValueError):
        return  # the test client cannot encode this form (lone surrogates in a field name): nothing was sent
    check(response)
    if response.status_code != 200:
        assert state(app, storage) == before, response.status


@settings(FUZZ, max_examples=100)
@given(
    path=st.sampled_from(["yank", "unyank", "status"]),
    body=st.dictionaries(st.sampled_from(["filename", "version", "reason", "status", "x"]), nasty_text, max_size=4),
    as_json=st.booleans(),
)
def test_api_bodies_never_answer_5xx(fuzz_app, path: str, body: dict[str, str], as_json: bool) -> None:
    app, storage, _dists = fuzz_app
    client = app.test_client()
    url = f"/api/projects/demo/{path}"
    method = client.put if path == "status" else client.post
    before = state(app, storage)
    try:
        if as_json:
            response = method(url, json=body, headers=basic())
        else:
            response = method(url, data=body, headers=basic())
    except (UnicodeEncodeError, ValueError):
        return
    check(response)
    if response.status_code != 200:
        assert state(app, storage) == before, response.status
    elif path != "status":  # undo a yank, so the next cases start from the same state
        client.post("/api/projects/demo/unyank", json={"version": "1.0"}, headers=basic())


def test_nul_in_urls_and_credentials_is_a_400_on_postgres(postgres_url: str, tmp_path: Path, monkeypatch) -> None:
    """The seen cases, on PostgreSQL: %00 in a project, a query, a JSON API name, a file URL; NUL in Basic auth."""
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({**base_settings(tmp_path), "database_url": postgres_url})
    client = app.test_client()
    for url in ["/simple/%00/", "/?q=%00", "/pypi/%00/json", "/packages/demo/demo-1.0.tar.gz%00", "/project/%00/"]:
        response = client.get(url)
        assert response.status_code == 400, (url, response.status)
        assert "NUL" in response.status + response.get_data(as_text=True), response.status  # UI pages: HTML
    nul_user = {"Authorization": "Basic " + base64.b64encode(f"{ADMIN[0]}\x00:{ADMIN[1]}".encode()).decode()}
    assert client.get("/simple/", headers=nul_user).status_code == 401
    assert client.post("/api/projects/demo/yank", json={"version": "\x00"}, headers=basic()).status_code == 400
    with app.app_context():
        db.engine.dispose()
