"""The UI of issue 12 in headless Chromium: a real package's metadata, release and project actions, ranked search,
the home page's count, sort and paging, error pages in the site's layout, and axe-core on every page.

Each test makes its own projects (names no other test uses) on the module's server, or starts its own server
when it counts projects; every test passes alone and in any order.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN
from tests.support.corpus import ensure_corpus, load_entries
from tests.support.dists import make_sdist, make_wheel
from tests.support.server import LiveServer

from .conftest import check_page, log_in, screenshot, start_server, upload_file
from .test_ui import expect

pytestmark = pytest.mark.browser
REAL_WHEEL = "fastapi-0.165.0-py3-none-any.whl"  # classifiers, extras, license expression and file, URLs


def audit(server: LiveServer, project: str) -> list[str]:
    entries = requests.get(server.url + "api/admin/audit", params={"project": project}, auth=ADMIN, timeout=30)
    return [e["action"] for e in entries.json()["entries"]]


def test_an_empty_index_says_how_to_upload(tmp_path: Path, new_page: Any) -> None:
    server = start_server(tmp_path / "empty")
    try:
        page = new_page()
        page.goto(server.url)
        expect(page.get_by_text(f"twine upload --repository-url {server.index_url} dist/*")).to_be_visible()
        check_page(page)
        screenshot(page, "home-empty")
    finally:
        server.stop()


def test_a_real_package_shows_all_its_metadata(server: LiveServer, new_page: Any) -> None:
    entry = next(e for e in load_entries() if e.filename == REAL_WHEEL)
    wheel = ensure_corpus([entry]) / REAL_WHEEL
    upload_file(server, wheel)
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    page.goto(server.url + "project/fastapi/")
    about = page.locator("section[aria-labelledby=meta-title]")
    expect(about.locator("dt", has_text="License").first).to_be_visible()
    expect(about).to_contain_text("MIT")
    expect(about.locator("dt", has_text="License files")).to_be_visible()
    expect(about).to_contain_text("LICENSE")
    expect(about.locator(".tags li")).to_have_text(
        ["opentelemetry", "standard", "standard-no-fastapi-cloud-cli", "all"]
    )
    expect(about.get_by_role("link", name="Sebastián Ramírez")).to_have_attribute("href", "mailto:tiangolo@gmail.com")
    classifiers = about.locator(".classifiers")
    expect(classifiers.locator("dt", has_text="Intended Audience")).to_be_visible()
    expect(classifiers.locator("dt", has_text="Programming Language")).to_have_count(1)  # grouped once
    expect(classifiers).to_contain_text("Information Technology")
    for label, icon in (("Documentation", "docs"), ("Repository", "source"), ("Issues", "issues")):
        link = about.get_by_role("link", name=label, exact=True)
        expect(link).to_have_attribute("href", re.compile("^https://"))
        assert link.locator("svg.icon").count() == 1, f"{label} has no {icon} icon"
    expect(about).to_contain_text("Requires Python")
    files = page.locator("section[aria-labelledby=files-title]")
    facts = requests.get(server.url + "pypi/fastapi/json", timeout=30).json()["urls"][0]["digests"]
    for label, key in (("SHA256", "sha256"), ("MD5", "md5"), ("BLAKE2b-256", "blake2b_256")):
        expect(files.locator("dt", has_text=re.compile(f"^{label}$"))).to_be_visible()
        expect(files.get_by_text(facts[key])).to_be_visible()
    page.get_by_role("button", name="Copy the MD5 of " + REAL_WHEEL).click()
    assert page.evaluate("navigator.clipboard.readText()") == facts["md5"]
    page.get_by_text("poetry", exact=True).click()
    expect(page.locator("#poetry-source")).to_have_text(
        re.compile(f'url = "{re.escape(server.index_url)}"\npriority = "primary"')
    )
    page.get_by_text("pdm", exact=True).click()
    expect(page.locator("#pdm-source")).to_contain_text(f'url = "{server.index_url}"')
    expect(page.locator("#pdm-add")).to_have_text("pdm add fastapi==0.165.0")
    readme = Path(__file__).resolve().parents[2] / "README.md"
    assert 'priority = "primary"' in readme.read_text()  # the page and the README agree
    check_page(page)
    screenshot(page, "project-metadata")
    phone = new_page(390, 844)
    phone.goto(server.url + "project/fastapi/")
    check_page(phone)
    screenshot(phone, "project-metadata-phone")


def test_a_writer_yanks_deletes_releases_and_the_project_and_an_admin_sets_its_status(
    server: LiveServer, new_page: Any, tmp_path: Path
) -> None:
    page = new_page()
    log_in(page, server, *ADMIN)
    page.goto(server.url + "upload")
    first = [make_wheel(tmp_path, "rel-demo", "1.0"), make_sdist(tmp_path, "rel-demo", "1.0")]
    page.get_by_label("Files").set_input_files([str(p) for p in first])  # a wheel and its sdist at once
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(server.url + "project/rel-demo/1.0/")
    expect(page.get_by_role("status")).to_have_text(f"Uploaded {first[0].name}, {first[1].name}.")
    upload_file(server, make_wheel(tmp_path, "rel-demo", "2.0"))

    page.goto(server.url + "project/rel-demo/1.0/")
    page.get_by_text("Yank release…").click()
    page.get_by_label("Why yank the release (optional)").fill("bad release")
    page.get_by_role("button", name="Yank release 1.0").click()
    expect(page.get_by_role("status")).to_have_text("Yanked release 1.0 (2 files).")
    release = requests.get(server.url + "pypi/rel-demo/1.0/json", timeout=30).json()
    assert release["info"]["yanked"] is True and {f["yanked_reason"] for f in release["urls"]} == {"bad release"}
    screenshot(page, "release-yanked")
    page.get_by_role("button", name="Un-yank release 1.0").click()
    expect(page.get_by_role("status")).to_have_text("Un-yanked release 1.0.")
    assert requests.get(server.url + "pypi/rel-demo/1.0/json", timeout=30).json()["info"]["yanked"] is False

    page.get_by_text("Delete release…").click()
    page.get_by_role("button", name="Delete release 1.0").click()  # not confirmed: the browser refuses
    expect(page).to_have_url(server.url + "project/rel-demo/1.0/")
    page.get_by_label("Yes, delete every file of 1.0").check()
    page.get_by_role("button", name="Delete release 1.0").click()
    expect(page.get_by_role("status")).to_have_text("Deleted release 1.0 (2 files).")
    assert list(requests.get(server.url + "pypi/rel-demo/json", timeout=30).json()["releases"]) == ["2.0"]

    page.get_by_label("Status").select_option("deprecated")
    page.get_by_label("Reason", exact=True).fill("use rel-demo2")
    page.get_by_role("button", name="Set status").click()
    expect(page.get_by_role("status")).to_have_text("rel-demo is now deprecated.")
    expect(page.get_by_text("This project is deprecated: use rel-demo2")).to_be_visible()
    status = requests.get(server.url + "pypi/rel-demo/json", timeout=30).json()["info"]["project_status"]
    assert status == {"status": "deprecated", "reason": "use rel-demo2"}
    check_page(page)
    screenshot(page, "project-manage")

    page.get_by_text("Delete project…").click()
    page.get_by_label("Yes, delete every file of rel-demo").check()
    page.get_by_role("button", name="Delete project rel-demo").click()
    expect(page).to_have_url(server.url)
    expect(page.get_by_role("status")).to_have_text("Deleted project rel-demo (1 files).")
    assert requests.get(server.url + "pypi/rel-demo/json", timeout=30).status_code == 404
    actions = audit(server, "rel-demo")
    for action in ("yank", "unyank", "delete", "project.status"):
        assert action in actions, actions
    assert actions.count("delete") == 2  # the release, then the project


def test_a_writer_without_admin_rights_sees_no_status_form(server: LiveServer, new_page: Any, tmp_path: Path) -> None:
    upload_file(server, make_wheel(tmp_path, "status-guard", "1.0"))
    response = requests.post(server.url + "project/status-guard/status", data={"status": "archived"}, timeout=30)
    assert response.status_code in (400, 401, 403)  # no session, no CSRF token: nothing changes
    info = requests.get(server.url + "pypi/status-guard/json", timeout=30).json()["info"]
    assert info["project_status"]["status"] == "active"
    page = new_page()
    page.goto(server.url + "project/status-guard/")
    expect(page.get_by_role("heading", name="status-guard", exact=True)).to_be_visible()
    assert page.locator("select#status").count() == 0 and page.get_by_role("button", name="Set status").count() == 0


def test_search_ranks_exact_and_prefix_names_before_words(server: LiveServer, new_page: Any, tmp_path: Path) -> None:
    for name, summary, extra in (
        ("zebrafish-tools", "Helpers for zebrafish", {}),
        ("zebra-notes", "Mentions nothing", {"Keywords": "stripes,savanna"}),
        ("plain-lib", "A library about the zebra", {}),
        ("classy-lib", "Nothing here", {"Classifier": ["Topic :: Zebra Studies"]}),
        ("zebra", "The exact one", {}),
        ("quagga", "Extinct relative", {"Keywords": "zebra,extinct"}),
    ):
        upload_file(server, make_wheel(tmp_path, name, "1.0", summary=summary, extra_metadata=extra))
    page = new_page()
    page.goto(server.url + "?q=zebra")
    names = page.locator("#results .name")
    expect(names.first).to_have_text("zebra")
    shown = names.all_inner_texts()
    assert shown[:3] == ["zebra", "zebra-notes", "zebrafish-tools"], shown  # exact, then prefixes, shortest first
    assert set(shown[3:]) == {"plain-lib", "classy-lib", "quagga"}, shown
    assert shown.index("classy-lib") == len(shown) - 1  # a classifier weighs least
    expect(page.locator("#results li.exact .badge")).to_have_text("exact match")
    page.goto(server.url + "?q=savanna")
    expect(names).to_have_text(["zebra-notes"])  # keywords are searched
    page.goto(server.url + "?q=zebr+stud")
    expect(names).to_have_text(["classy-lib"])  # every word, each as a prefix
    page.goto(server.url + "?q=nothing-like-this-anywhere")
    expect(page.get_by_text("No project you can see matches")).to_be_visible()
    check_page(page, wide=False)


def test_the_home_page_counts_sorts_and_pages_both_ways(tmp_path: Path, new_page: Any) -> None:
    server = start_server(tmp_path / "many")
    try:
        names = [f"pkg-{i:03d}" for i in range(53)]
        for name in names:
            upload_file(server, make_wheel(tmp_path / "dists", name, "1.0"))
        page = new_page()
        page.goto(server.url)
        expect(page.locator("#result-note")).to_have_text("53 projects")
        rows = page.locator("#results .name")
        expect(rows).to_have_count(50)
        assert rows.first.inner_text() == names[-1]  # the last upload first
        page.get_by_role("link", name="Next →").click()
        expect(rows).to_have_text(names[2::-1])
        page.get_by_role("link", name="← Previous").click()
        expect(rows).to_have_count(50)
        assert rows.first.inner_text() == names[-1]
        assert page.get_by_role("link", name="← Previous").count() == 0
        page.get_by_role("link", name="name", exact=True).click()
        expect(rows.first).to_have_text(names[0])
        page.get_by_role("link", name="Next →").click()
        expect(rows).to_have_text(names[50:])
        page.get_by_role("link", name="← Previous").click()
        expect(rows).to_have_text(names[:50])
        check_page(page)
        screenshot(page, "home-sorted")
    finally:
        server.stop()


def test_error_pages_use_the_site_layout(server: LiveServer, new_page: Any) -> None:
    page = new_page()
    for path, status, title in (("no/such/page", 404, "Not found"), ("project/no-such-project/", 404, "Not found"),
                                ("admin/", 302, "Log in")):  # fmt: skip
        response = page.goto(server.url + path)
        assert response is not None and (response.status == status or response.request.redirected_from)
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        expect(page.get_by_role("link", name="flaskpypi").first).to_be_visible()  # the header
        expect(page.locator("footer")).to_contain_text(server.index_url)
        check_page(page, wide=False)
    page.goto(server.url + "no/such/page")
    screenshot(page, "error-404")
    log_in(page, server, *ADMIN)
    page.goto(server.url + "upload")
    page.context.clear_cookies()  # the form's session and CSRF token are gone: a 400 in the layout
    page.get_by_label("Files").set_input_files([])
    page.evaluate("document.querySelector('#dist-file').removeAttribute('required')")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name="Bad request")).to_be_visible()
    expect(page.locator("footer")).to_contain_text(server.index_url)
    carol_like = new_page()
    requests.post(server.url + "api/admin/users", json={"name": "dora", "password": "dora-password-1"},
                  auth=ADMIN, timeout=30)  # fmt: skip
    log_in(carol_like, server, "dora", "dora-password-1")
    response = carol_like.goto(server.url + "admin/users")
    assert response is not None and response.status == 403
    expect(carol_like.get_by_role("heading", name="Not allowed")).to_be_visible()
    check_page(carol_like, wide=False)
    plain = requests.get(server.url + "no/such/page", timeout=30)  # scripts and installers get one plain line
    assert plain.status_code == 404 and plain.headers["Content-Type"].startswith("text/plain")


PAGES = ("", "?q=axe", "?sort=name", "project/axe-demo/", "project/axe-demo/1.0/", "upload", "account/password",
         "account/tokens", "admin/", "admin/users", "admin/groups", "admin/permissions", "admin/tokens",
         "admin/audit", "no/such/page")  # fmt: skip
ANONYMOUS_PAGES = ("account/login", "account/register", "", "project/axe-demo/")


def test_every_page_passes_axe_at_1280_and_390_pixels_and_none_scrolls_sideways(
    server: LiveServer, new_page: Any, tmp_path: Path
) -> None:
    readme = "# Axe demo\n\nSee [the docs](https://example.org/docs).\n\n```console\n$ pip install axe-demo\n```\n"
    extra = {"Keywords": "axe,a11y", "Classifier": ["Topic :: Utilities"]}
    upload_file(server, make_wheel(tmp_path, "axe-demo", "1.0", description=readme, requires_dist=["requests"],
                                   description_content_type="text/markdown", extra_metadata=extra))  # fmt: skip
    for width, height in ((1280, 900), (390, 844)):
        page = new_page(width, height)
        for path in ANONYMOUS_PAGES:
            page.goto(server.url + path)
            check_page(page, wide=width == 1280)
        log_in(page, server, *ADMIN)
        page.goto(server.url + "account/tokens")
        page.get_by_label("Description", exact=True).fill(f"token of a very long description {width} " * 3)
        page.get_by_label("Projects", exact=True).fill("axe-demo, another-project-with-a-long-name")
        page.get_by_role("button", name="Create token").click()
        for path in PAGES:
            page.goto(server.url + path)
            check_page(page, wide=width == 1280)
        if width == 1280:  # the Revoke buttons are on screen, not behind a sideways scroll
            page.goto(server.url + "account/tokens")
            expect(page.get_by_role("button", name=re.compile("^Revoke token")).first).to_be_in_viewport()
            screenshot(page, "tokens")
