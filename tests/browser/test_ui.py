"""The web UI in headless Chromium, as the seed user and an admin use it; writes tests/screenshots/*.png.

The tests of this module share one server, but each makes the projects and users it looks at (names no other
test uses), so each passes alone and in any order.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN
from tests.support.clients import Venv, check, run, uv_bin
from tests.support.dists import make_wheel
from tests.support.server import LiveServer

from .conftest import TIMEOUT_MS, log_in, screenshot, start_server, upload_file

pytestmark = pytest.mark.browser
README = """# Acme HTTP

A **small** HTTP client for the Acme platform, with retries and timeouts.

```python
import acme_http
client = acme_http.Client("https://api.acme.example", retries=3)
```

| Option | Default | Meaning |
|--------|---------|---------|
| `retries` | 3 | how often to retry |
| `timeout` | 10 | seconds per request |
"""
NEIGHBOURS = [
    ("acme-cli", "Command line tools for Acme deployments"),
    ("data-tools", "Clean and load tabular data"),
    ("fast-config", "A fast loader for configuration files"),
    ("legacy-lib", "An old library we keep"),
]
CAROL = ("carol", "carol-password")


def expect(target: Any) -> Any:
    """Playwright's polling assertions, with the patience of a loaded CI machine."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    return playwright_expect(target)


def test_the_seed_user_uploads_finds_installs_yanks_and_makes_a_token(
    server: LiveServer, new_page: Any, tmp_path: Path
) -> None:
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    log_in(page, server, *ADMIN)
    for name, summary in NEIGHBOURS:
        upload_file(server, make_wheel(tmp_path, name, "2.3.1", summary=summary))
    wheel = make_wheel(tmp_path, "acme-http", "1.0.0", summary="A small HTTP client for the Acme platform",
                       description=README, requires_python=">=3.9", requires_dist=["requests>=2.31"])  # fmt: skip
    page.get_by_role("link", name="Upload", exact=True).click()
    page.get_by_label("Files").set_input_files(str(wheel))
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(server.url + "project/acme-http/1.0.0/")
    expect(page.get_by_role("status")).to_have_text(f"Uploaded {wheel.name}.")

    page.get_by_role("link", name="flaskpypi").first.click()
    page.get_by_label("Search projects by name or summary").press_sequentially("acme http", delay=40)
    expect(page.locator("#results .name")).to_have_text(["acme-http"])  # live: the form was never submitted
    expect(page).to_have_url(re.compile(r"\?q=acme\+http$"))
    screenshot(page, "search")
    page.get_by_role("link", name=re.compile("^acme-http")).click()

    expect(page.get_by_role("heading", name="acme-http", exact=True)).to_be_visible()
    expect(page.locator(".readme table")).to_contain_text("how often to retry")
    expect(page.get_by_role("link", name=wheel.name)).to_be_visible()
    screenshot(page, "project")
    page.get_by_role("button", name="Copy the pip snippet").click()
    expect(page.locator("button[data-copy=install-cmd]")).to_have_text("Copied!")
    command = page.evaluate("navigator.clipboard.readText()")
    assert command == f"pip install -i {server.index_url} acme-http==1.0.0"
    venv = Venv.create(tmp_path / "venv", pip=True)
    check(run([venv.python, "-m", *shlex.split(command), "--no-deps"]))
    assert venv.version_of("acme-http") == "1.0.0"
    page.get_by_role("button", name="Copy the uv snippet").click()  # uv's command installs the same
    uv_command = page.evaluate("navigator.clipboard.readText()")
    assert uv_command == f"uv pip install --index-url {server.index_url} acme-http==1.0.0"
    uv_venv = Venv.create(tmp_path / "uv-venv", pip=True)
    check(run([uv_bin(), *shlex.split(uv_command)[1:], "--python", str(uv_venv.python), "--no-deps"]))
    assert uv_venv.version_of("acme-http") == "1.0.0"

    page.get_by_text("Yank…").click()
    page.get_by_label("Reason (optional)").fill("broken build")
    page.get_by_role("button", name=f"Yank {wheel.name}").click()
    expect(page.get_by_text("Yanked: broken build")).to_be_visible()
    facts = requests.get(server.url + "pypi/acme-http/json", timeout=30).json()["urls"][0]
    assert facts["yanked"] is True and facts["yanked_reason"] == "broken build"

    page.get_by_role("link", name="Account").click()
    page.get_by_label("Description").fill("CI of acme-http")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("pypi-")
    me = requests.get(server.url + "api/me", auth=("__token__", token), timeout=30).json()
    assert me["name"] == ADMIN[0] and me["via_token"] is True
    page.goto(server.url + "account/tokens")  # the token is shown once: a fresh page lists it without the secret
    expect(page.get_by_text("CI of acme-http")).to_be_visible()
    assert token not in page.content()

    page.goto(server.url)
    for name in ["acme-http", *(n for n, _ in NEIGHBOURS)]:
        expect(page.locator("#results .name", has_text=re.compile(f"^{name}$"))).to_have_count(1)
    screenshot(page, "home")


def test_an_admin_approves_a_pending_user_and_grants_a_permission(
    server: LiveServer, new_page: Any, tmp_path: Path
) -> None:
    upload_file(server, make_wheel(tmp_path, "carols-tools", "0.1", summary="What carol will work on"))
    carol = new_page()
    carol.goto(server.url + "account/register")
    carol.get_by_label("User name").fill(CAROL[0])
    carol.get_by_label("Password", exact=True).fill(CAROL[1])
    carol.get_by_label("Repeat the password").fill(CAROL[1])
    carol.get_by_role("button", name="Register").click()
    expect(carol.get_by_role("status")).to_contain_text("An administrator will approve your account")
    carol.goto(server.url + "account/login")
    carol.get_by_label("User name").fill(CAROL[0])
    carol.get_by_label("Password").fill(CAROL[1])
    carol.get_by_role("button", name="Log in").click()
    expect(carol.get_by_role("alert")).to_contain_text("awaits approval")

    admin = new_page()
    log_in(admin, server, *ADMIN)
    admin.get_by_role("link", name=re.compile("^Admin")).click()
    expect(admin.get_by_role("heading", name=re.compile("Waiting for approval"))).to_be_visible()
    screenshot(admin, "admin")
    admin.get_by_role("button", name="Approve carol").click()
    expect(admin.get_by_role("status")).to_have_text("Approved carol: they can log in now.")

    admin.get_by_role("navigation", name="Administration").get_by_role("link", name="Permissions").click()
    admin.get_by_label("Project", exact=True).fill("carols-tools")
    admin.get_by_label("To a").select_option("user")
    admin.get_by_label("Name", exact=True).fill(CAROL[0])
    admin.get_by_label("May", exact=True).select_option("write")
    admin.get_by_role("button", name="Grant").click()
    expect(admin.get_by_role("status")).to_have_text("User carol may now write carols-tools.")
    expect(admin.get_by_role("cell", name="user carol", exact=True)).to_be_visible()
    screenshot(admin, "admin-permissions")

    log_in(carol, server, *CAROL)
    carol.goto(server.url + "project/carols-tools/")
    expect(carol.get_by_text("Yank…")).to_be_visible()  # carol may write now
    audit = requests.get(server.url + "api/admin/audit", auth=ADMIN, timeout=30).json()["entries"]
    assert [e["action"] for e in audit[:2]] == ["perm.grant", "user.approve"]


def test_pages_work_on_a_phone_by_keyboard_and_without_javascript(
    server: LiveServer, new_page: Any, tmp_path: Path
) -> None:
    upload_file(server, make_wheel(tmp_path, "fastparse", "2.3.1", summary="A quixotic parser for configuration files"))
    phone = new_page(375, 740)
    for path, name in (("", "home-phone"), ("project/fastparse/", "project-phone")):
        phone.goto(server.url + path)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375, f"{path} scrolls sideways"
        screenshot(phone, name)
    phone.keyboard.press("Tab")  # on the project page: the first stop is the link past the header
    assert phone.evaluate("document.activeElement.textContent") == "Skip to the content"
    phone.keyboard.press("Enter")
    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.closest('main') !== null")

    plain = new_page(java_script_enabled=False)
    plain.goto(server.url)
    plain.get_by_label("Search projects by name or summary").fill("quixotic")
    plain.get_by_label("Search projects by name or summary").press("Enter")
    expect(plain).to_have_url(server.url + "?q=quixotic")
    expect(plain.locator("#results .name")).to_have_text(["fastparse"])
    plain.get_by_role("link", name=re.compile("^fastparse")).click()
    expect(plain.get_by_text(f"pip install -i {server.index_url} fastparse==2.3.1")).to_be_visible()
    expect(plain.locator("button[data-copy=install-cmd]")).to_be_hidden()  # copying needs the script


def test_a_private_index_shows_anonymous_visitors_the_login_page(tmp_path: Path, new_page: Any) -> None:
    server = start_server(tmp_path / "private", default_read="authenticated")
    try:
        upload_file(server, make_wheel(tmp_path, "top-secret", "1.0"))
        page = new_page()
        for path in ("", "project/top-secret/", "?q=top"):
            page.goto(server.url + path)
            expect(page).to_have_url(re.compile(r"/account/login\?next="))
            expect(page.get_by_role("heading", name="Log in")).to_be_visible()
            assert "top" not in page.locator("body").inner_text()
        page.goto(server.url)
        assert "top-secret" not in page.content() and "top_secret" not in page.content()
        page.get_by_label("User name").fill(ADMIN[0])
        page.get_by_label("Password").fill(ADMIN[1])
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#results .name")).to_have_text(["top-secret"])  # logged in, back on the home page
    finally:
        server.stop()
