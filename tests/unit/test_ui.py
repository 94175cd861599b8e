"""The web UI through Flask's test client: listings and search, project pages, forms, permissions and CSRF."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from flaskpypi.extensions import db
from flaskpypi.index.browse import Cursor, ProjectBrowser
from flaskpypi.index.models import File, Project
from flaskpypi.web.ui.describe import render_html
from tests.conftest import ADMIN
from tests.helpers import basic, upload
from tests.support.dists import make_sdist, make_wheel

TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {**settings, "auth_backend": "sql", "registration": "approval"}


def csrf(client, path: str = "/account/login") -> str:
    match = TOKEN.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, name: str = ADMIN[0], password: str = ADMIN[1]) -> None:
    response = client.post("/account/login", data={"username": name, "password": password, "csrf_token": csrf(client)})
    assert response.status_code == 302, response.get_data(as_text=True)


def logout(client) -> None:
    client.post("/account/logout", data={"csrf_token": csrf(client, "/")})


def add_user(client, name: str, password: str | None = None) -> tuple[str, str]:
    password = password or f"{name}-password"
    response = client.post("/api/admin/users", json={"name": name, "password": password}, headers=basic())
    assert response.status_code == 201
    return name, password


def send(client, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """POST a UI form with the session's CSRF token, following the redirect to the page that reports it."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf(client, "/")}, follow_redirects=True, **kwargs)


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def test_an_empty_index_shows_how_to_upload(client) -> None:
    page = text(client.get("/"))
    assert "twine upload --repository-url http://localhost/simple/ dist/*" in page
    assert "poetry publish" in page and "uv publish --publish-url http://localhost/simple/" in page
    assert 'id="q"' not in page  # no search box over nothing


def test_home_lists_newest_first_and_searches_on_the_server(client, tmp_path: Path) -> None:
    for name, summary in [("alpha-parser", "Parses things"), ("beta", "An HTTP client"), ("gamma_tools", "Tools")]:
        assert upload(client, make_wheel(tmp_path, name, "1.0", summary=summary)).status_code == 200
    page = text(client.get("/"))
    assert page.index("gamma_tools") < page.index("beta") < page.index("alpha-parser")
    assert 'name="q"' in page and 'for="q"' in page  # a labelled search box

    def found(query: str) -> list[str]:
        body = text(client.get("/", query_string={"q": query, "partial": "1"}))
        assert "<html" not in body  # the live search swaps the list alone
        return re.findall(r'class="name">([^<]+)<', body)

    assert found("http") == ["beta"]
    assert found("ALPHA") == ["alpha-parser"]
    assert found("parses things") == ["alpha-parser"]
    assert found("gamma-tools") == ["gamma_tools"]  # names match in any spelling
    assert found("%") == [] and found("a%r") == []  # LIKE wildcards are literal
    assert found("beta")[0] == "beta" and "exact match" in text(client.get("/?q=beta"))
    assert "No project you can see matches" in text(client.get("/?q=nothing-like-it"))


def test_search_and_pages_hide_what_the_visitor_may_not_read(client, tmp_path: Path) -> None:
    bob = add_user(client, "bob")
    for name in ("secret-sauce", "public-sauce"):
        assert upload(client, make_wheel(tmp_path, name, "1.0")).status_code == 200
    assert client.put("/api/admin/projects/secret-sauce/grants/user/bob", json={"permission": "read"},
                      headers=basic()).status_code == 200  # fmt: skip
    anonymous = text(client.get("/?q=sauce"))
    assert "public-sauce" in anonymous and "secret-sauce" not in anonymous
    hidden = client.get("/project/secret-sauce/")
    assert hidden.status_code == 404 and "<html" in text(hidden)  # an HTML page, and no hint it exists
    login(client, *bob)
    assert "secret-sauce" in text(client.get("/?q=sauce"))
    assert client.get("/project/secret-sauce/").status_code == 200


def test_a_private_index_shows_anonymous_visitors_the_login_page(client, tmp_path: Path) -> None:
    assert upload(client, make_wheel(tmp_path, "hush-hush", "1.0")).status_code == 200
    assert client.put("/api/admin/defaults", json={"read": ["authenticated"]}, headers=basic()).status_code == 200
    for path in ("/", "/?q=hush", "/project/hush-hush/", "/upload", "/account/tokens", "/admin/"):
        response = client.get(path)
        assert response.status_code == 302 and "/account/login?next=" in response.headers["Location"], path
    login_page = client.get("/", follow_redirects=True)
    assert "Log in" in text(login_page) and "hush" not in text(login_page)
    login(client)
    assert "hush-hush" in text(client.get("/"))


def test_the_project_page_shows_each_file(app, client, tmp_path: Path) -> None:
    readme = "# Demo\n\nSome **bold** text.\n\n<script>alert('x')</script>\n"
    wheel = make_wheel(tmp_path, "Demo.Pkg", "1.0", description=readme, requires_python=">=3.9")
    for dist in (wheel, make_sdist(tmp_path, "Demo.Pkg", "1.0"), make_wheel(tmp_path, "Demo.Pkg", "0.9")):
        assert upload(client, dist).status_code == 200
    with app.app_context():
        db.session.query(File).filter(File.version == "0.9").update({"origin": "cache", "uploader": None})
        db.session.commit()
        sha = db.session.query(File.sha256).filter(File.filename == wheel.name).scalar()
    assert client.get("/project/demo_pkg/").headers["Location"] == "/project/demo-pkg/"
    page = text(client.get("/project/demo-pkg/"))
    assert "<strong>bold</strong>" in page and "<script>alert" not in page
    assert wheel.name in page and "demo_pkg-1.0.tar.gz" in page and sha in page
    assert "&gt;=3.9" in page and "by</dt><dd>admin" in page.lower().replace("\n", "")
    assert "pip install -i http://localhost/simple/ Demo.Pkg==1.0" in page
    assert "[[tool.poetry.source]]" in page and "url = &#34;http://localhost/simple/&#34;" in page
    assert "uploaded" in page and "cached from upstream" not in page
    assert client.post("/api/projects/demo-pkg/yank", json={"filename": wheel.name, "reason": "broken"},
                       headers=basic()).status_code == 200  # fmt: skip
    assert "Yanked: broken" in text(client.get("/project/demo-pkg/1.0/"))
    old = text(client.get("/project/demo-pkg/0.9/"))
    assert "cached from upstream" in old and "latest is 1.0" in old
    assert client.get("/project/demo-pkg/7.7/").status_code == 302


def test_descriptions_are_rendered_and_sanitised() -> None:
    assert "<em>rst</em>" in render_html("Title\n=====\n\nAn *rst* text.\n", None)
    assert "<strong>md</strong>" in render_html("A **md** text", "text/markdown; variant=CommonMark")
    assert "<script" not in render_html("<script>x()</script>", "text/markdown")
    assert "&lt;b&gt;" in render_html("<b>plain</b>", "text/plain")
    broken = render_html(".. raw:: html\n\n   <script>x()</script>\n", "text/x-rst")
    assert "<script" not in broken and "raw::" in broken  # rst that fails shows as text


def test_every_form_needs_the_csrf_token(client, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "demo", "1.0")
    assert upload(client, wheel).status_code == 200
    login(client)
    forms = {
        "/upload": {"content": (wheel.open("rb"), "demo-2.0-py3-none-any.whl")},
        "/project/demo/yank": {"filename": wheel.name},
        "/project/demo/delete": {"filename": wheel.name, "confirm": wheel.name},
        "/account/tokens": {"description": "x"},
        "/account/password": {"current": ADMIN[1], "new": "new-password-1", "confirm": "new-password-1"},
        "/admin/users": {"name": "mallory", "password": "mallory-password"},
        "/admin/permissions": {"project": "demo", "kind": "user", "subject": "admin", "permission": "read"},
        "/admin/defaults": {"read": "nobody"},
    }
    for path, data in forms.items():
        response = client.post(path, data=data)
        assert response.status_code == 400 and "form expired" in text(response), path
    facts = client.get("/pypi/demo/json").get_json()["urls"][0]
    assert facts["yanked"] is False
    assert client.get("/api/admin/users", headers=basic()).get_json()["users"] == []
    assert client.get("/api/admin/grants", headers=basic()).get_json()["grants"] == []


def test_writers_yank_unyank_and_delete_after_confirming(client, tmp_path: Path) -> None:
    alice, bob = add_user(client, "alice"), add_user(client, "bob")
    wheel = make_wheel(tmp_path, "demo", "1.0")
    assert upload(client, wheel, auth=basic(*alice)).status_code == 200
    for who, permission in ((alice, "write"), (bob, "read")):
        client.put(f"/api/admin/projects/demo/grants/user/{who[0]}", json={"permission": permission}, headers=basic())
    login(client, *bob)
    page = text(client.get("/project/demo/"))
    assert "Yank…" not in page and "Delete…" not in page
    refused = send(client, "/project/demo/yank", {"filename": wheel.name})
    assert "may not write demo" in text(refused)
    logout(client)
    login(client, *alice)
    yanked = send(client, "/project/demo/yank", {"filename": wheel.name, "reason": "bad build"})
    assert f"Yanked {wheel.name}." in text(yanked) and "Yanked: bad build" in text(yanked)
    assert client.get("/pypi/demo/json", headers=basic()).get_json()["urls"][0]["yanked_reason"] == "bad build"
    assert "Un-yanked" in text(send(client, "/project/demo/unyank", {"filename": wheel.name}))
    unconfirmed = send(client, "/project/demo/delete", {"filename": wheel.name})
    assert "Confirm the deletion" in text(unconfirmed)
    assert client.get(f"/packages/demo/{wheel.name}", headers=basic()).status_code == 200
    deleted = send(client, "/project/demo/delete", {"filename": wheel.name, "confirm": wheel.name})
    assert f"Deleted {wheel.name}." in text(deleted) and "no files at the moment" in text(deleted)
    assert client.get(f"/packages/demo/{wheel.name}", headers=basic()).status_code == 404


def test_uploading_from_the_browser(client, tmp_path: Path) -> None:
    alice = add_user(client, "alice")
    wheel = make_wheel(tmp_path, "browser-made", "2.0")
    assert client.get("/upload").status_code == 302  # anonymous visitors log in first
    login(client, *alice)
    assert 'enctype="multipart/form-data"' in text(client.get("/upload"))
    response = send(client, "/upload", {"content": (wheel.open("rb"), wheel.name)})
    assert response.request.path == "/project/browser-made/2.0/" and f"Uploaded {wheel.name}." in text(response)
    assert client.get("/pypi/browser-made/json").get_json()["urls"][0]["uploader"] == "alice"
    again = send(client, "/upload", {"content": (wheel.open("rb"), wheel.name)})
    assert "nothing changed" in text(again)
    bad = send(client, "/upload", {"content": (tmp_path.joinpath("x.txt").open("wb+"), "notes.txt")})
    assert bad.request.path == "/upload" and 'class="flash error"' in text(bad)
    assert "Choose a wheel" in text(send(client, "/upload", {}))


def test_admin_pages_are_for_admins(client) -> None:
    alice = add_user(client, "alice")
    pages = ("/admin/", "/admin/users", "/admin/groups", "/admin/permissions", "/admin/tokens", "/admin/audit")
    assert all(client.get(p).status_code == 302 for p in pages)
    login(client, *alice)
    assert all(client.get(p).status_code == 403 for p in pages)
    assert ">Admin<" not in text(client.get("/"))
    assert "is not an administrator" in text(send(client, "/admin/users", {"name": "eve", "password": "eve-password"}))
    assert [u["name"] for u in client.get("/api/admin/users", headers=basic()).get_json()["users"]] == ["alice"]
    logout(client)
    login(client)
    assert all(client.get(p).status_code == 200 for p in pages)


def test_admins_approve_users_and_manage_groups_and_grants(client, tmp_path: Path) -> None:
    registration = {"username": "carol", "password": "carol-password", "confirm": "carol-password",
                    "csrf_token": csrf(client, "/account/register")}  # fmt: skip
    assert client.post("/account/register", data=registration).status_code == 200
    assert upload(client, make_wheel(tmp_path, "demo", "1.0")).status_code == 200
    login(client)
    overview = text(client.get("/admin/"))
    assert "carol" in overview and "Approve" in overview
    assert "Approved carol" in text(send(client, "/admin/users/carol/approve"))
    assert "Added group team" in text(send(client, "/admin/groups", {"name": "team", "description": "Devs"}))
    assert "Added carol to team" in text(send(client, "/admin/groups/team/members", {"user": "carol"}))
    granted = send(client, "/admin/permissions", {"project": "Demo", "kind": "group", "subject": "team",
                                                  "permission": "write"})  # fmt: skip
    assert "Group team may now write demo" in text(granted)
    assert client.get("/api/admin/grants", headers=basic()).get_json()["grants"] == [
        {"project": "demo", "kind": "group", "subject": "team", "permission": "write"}]  # fmt: skip
    ghosts = {"project": "demo", "kind": "group", "subject": "ghosts", "permission": "read"}
    assert "No group named" in text(send(client, "/admin/permissions", ghosts))
    assert "group <strong>team</strong>" in text(client.get("/project/demo/"))  # the project's own panel
    send(client, "/admin/permissions/revoke", {"project": "demo", "kind": "group", "subject": "team"})
    assert client.get("/api/admin/grants", headers=basic()).get_json()["grants"] == []
    assert "Type carol to confirm" in text(send(client, "/admin/users/carol/remove"))
    audit = text(client.get("/admin/audit?action=user.approve"))
    assert '<span class="badge">user.approve' in audit and '<span class="badge">perm.grant' not in audit
    logout(client)
    login(client, "carol", "carol-password")


def test_users_manage_their_tokens_and_password(client) -> None:
    alice = add_user(client, "alice")
    login(client, *alice)
    created = client.post("/account/tokens", data={"description": "ci", "permission": "read", "projects": "demo",
                                                   "expires_days": "30", "csrf_token": csrf(client, "/")})  # fmt: skip
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    token = re.search(r"pypi-[0-9a-f]{16}_[A-Za-z0-9_-]+", text(created)).group(0)
    assert client.get("/api/me", headers=basic("__token__", token)).get_json()["via_token"] is True
    listing = text(client.get("/account/tokens"))
    assert token not in listing and "ci" in listing and "demo" in listing
    token_id = client.get("/api/tokens", headers=basic(*alice)).get_json()["tokens"][0]["id"]
    assert "Revoked token ci" in text(send(client, f"/account/tokens/{token_id}/revoke"))
    assert client.get("/api/me", headers=basic("__token__", token)).status_code == 401
    assert "number of days" in text(send(client, "/account/tokens", {"expires_days": "soon"}))
    wrong = send(client, "/account/password", {"current": "guess", "new": "new-secret-1", "confirm": "new-secret-1"})
    assert "current password is wrong" in text(wrong)
    changed = send(client, "/account/password", {"current": alice[1], "new": "new-secret-1", "confirm": "new-secret-1"})
    assert "password was changed" in text(changed)
    assert client.get("/api/me", headers=basic("alice", "new-secret-1")).status_code == 200
    assert client.get("/api/me", headers=basic(*alice)).status_code == 401


def test_a_password_change_ends_the_users_other_sessions(app, client) -> None:
    bob = add_user(client, "bob")
    login(client, *bob)
    other = app.test_client()  # bob's second browser
    login(other, *bob)
    assert other.get("/api/me").get_json()["name"] == "bob"
    changed = send(
        client, "/account/password", {"current": bob[1], "new": "bob-new-secret", "confirm": "bob-new-secret"}
    )
    assert "password was changed" in text(changed)
    assert client.get("/api/me").get_json()["name"] == "bob"  # the session that changed it goes on
    assert other.get("/api/me").status_code == 401  # every other one ends
    login(other, "bob", "bob-new-secret")
    assert other.get("/api/me").get_json()["name"] == "bob"


def test_the_listing_pages_through_many_projects(app) -> None:
    with app.app_context():
        for i in range(12):
            project = Project(name=f"p{i}", display_name=f"P{i}", summary="s", settings={})
            db.session.add(project)
            db.session.flush()
            db.session.add(File(project=project, filename=f"p{i}-1.0.tar.gz", name=f"p{i}", version="1.0",
                                packagetype="sdist", size=1, sha256="0", md5="0", blake2b_256="0",
                                upload_time=project.last_update))  # fmt: skip
        db.session.commit()
        browser = ProjectBrowser(db.session, batch=3)
        readable = lambda rows: [r for r in rows if r.name not in ("p3", "p4", "p5", "p6")]  # noqa: E731
        for sort, order in (("updated", (11, 10, 9, 8, 7, 2, 1, 0)), ("name", (0, 1, 10, 11, 2, 7, 8, 9))):
            pages, cursor = [], None
            while True:
                page = browser.listing(sort, cursor, None, 3, readable)
                pages.append(page)
                if page.next is None:
                    break
                cursor = page.next
            assert [r.name for p in pages for r in p.rows] == [f"p{i}" for i in order]
            assert page.latest == {r.id: "1.0" for r in page.rows}
            assert pages[0].previous is None and all(p.previous for p in pages[1:])
            back = browser.listing(sort, None, pages[-1].previous, 3, readable)  # back from the last page
            assert back.rows == pages[-2].rows and back.next == pages[-2].next
            first = browser.listing(sort, None, pages[1].previous, 3, readable)
            assert first.rows == pages[0].rows and first.previous is None
        assert browser.count() == 12
    assert Cursor.decode("12-x") is None and Cursor.decode(None) is None and Cursor.decode("9" * 30 + "-1") is None


def test_admin_pages_say_where_users_come_from_with_a_read_only_backend(tmp_path: Path, monkeypatch) -> None:
    from flaskpypi import create_app
    from tests.conftest import base_settings

    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    client = create_app({**base_settings(tmp_path), "auth_backend": "config"}).test_client()
    login(client)
    for path in ("/admin/", "/admin/users", "/admin/groups"):
        assert "come from the <code>config</code> auth backend" in text(client.get(path)), path
    permissions = text(client.get("/admin/permissions"))
    assert "Grant a permission" not in permissions and "edited there" in permissions
    assert "read-only" in text(send(client, "/admin/groups", {"name": "team"}))
    assert "read-only" in text(send(client, "/account/password", {"current": ADMIN[1], "new": "x" * 12}))


@pytest.mark.postgres
def test_search_and_paging_on_postgresql(postgres_url: str, tmp_path: Path, monkeypatch) -> None:
    from flaskpypi import create_app
    from tests.conftest import base_settings

    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({**base_settings(tmp_path), "database_url": postgres_url})
    client = app.test_client()
    for name, summary in [("Alpha_Parser", "Parses 100% of things"), ("beta", "An HTTP client"), ("gamma", "x")]:
        assert upload(client, make_wheel(tmp_path, name, "1.0", summary=summary)).status_code == 200
    found = lambda q: re.findall(r'class="name">([^<]+)<', text(client.get("/", query_string={"q": q})))  # noqa: E731
    assert found("alpha-parser") == ["Alpha_Parser"] and found("HTTP") == ["beta"] and found("100%") == ["Alpha_Parser"]
    with app.app_context():
        browser, everything = ProjectBrowser(db.session, batch=2), lambda rows: rows
        first = browser.listing("updated", None, None, 2, everything)
        second = browser.listing("updated", first.next, None, 2, everything)
        assert [r.name for r in first.rows + second.rows] == ["gamma", "beta", "alpha-parser"] and second.next is None
