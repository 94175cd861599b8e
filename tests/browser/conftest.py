"""Headless Chromium (Debian's, driven by Playwright) against a real server; screenshots go to tests/screenshots/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN, base_settings, missing
from tests.support.server import LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
TIMEOUT_MS = 30_000  # a loaded CI machine renders slowly; expectations poll until then


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """The system Chromium, launched once per test session (Playwright's own download is not used)."""
    if not Path(CHROMIUM).exists():
        missing("Chromium is not installed: run scripts/test-deps.sh (apt-get install chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium: Any) -> Iterator[Any]:
    """Open pages in fresh browser contexts (own cookies); all are closed after the test, which fails if
    the Content-Security-Policy blocked anything (an inline script or style the templates still have)."""
    contexts: list[Any] = []
    blocked: list[str] = []

    def open_page(width: int = 1280, height: int = 900, **options: Any) -> Any:
        context = chromium.new_context(viewport={"width": width, "height": height}, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not blocked, f"the Content-Security-Policy blocked: {blocked}"


def start_server(root: Path, **settings: Any) -> LiveServer:
    """A gunicorn server with the sql auth plugin, self-registration and the test admin."""
    root.mkdir(parents=True, exist_ok=True)
    merged = {**base_settings(root), "auth_backend": "sql", "registration": "approval", **settings}
    return LiveServer(root, merged).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One index for a module's tests, which run in order and build on each other's data."""
    live = start_server(tmp_path_factory.mktemp("ui-server"))
    yield live
    live.stop()


def upload_file(server: LiveServer, path: Path, auth: tuple[str, str] = ADMIN) -> None:
    """Upload a dist as twine does (the legacy API), to have more than one project to look at."""
    with path.open("rb") as handle:
        response = requests.post(server.index_url, auth=auth, files={"content": (path.name, handle)},
                                 data={":action": "file_upload", "protocol_version": "1"}, timeout=60)  # fmt: skip
    assert response.status_code == 200, response.text


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as tests/screenshots/<name>.png (the README links there)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


def log_in(page: Any, server: LiveServer, name: str, password: str) -> None:
    """Log in through the form, with the keyboard (Enter submits)."""
    page.goto(server.url + "account/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(re.compile(r"^(?!.*/account/login).*$"))


AXE = Path(__file__).resolve().parents[1] / "emulators" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page: Any) -> list[str]:
    """WCAG 2.1 A/AA violations of impact serious or critical that axe-core finds on the page as it is now.

    axe is evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern.
    """
    if not AXE.exists():
        missing("axe-core is not installed: run scripts/test-deps.sh (npm ci in tests/emulators)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def sideways(page: Any) -> list[str]:
    """What scrolls sideways: the page itself, or any box of it (a table's wrapper) wider than it shows."""
    return page.evaluate(
        """() => {
          const found = [];
          const root = document.documentElement;
          if (root.scrollWidth > root.clientWidth) found.push('the page: ' + root.scrollWidth + 'px');
          document.querySelectorAll('.table-wrap, pre.snippet').forEach(el => {
            if (el.scrollWidth > el.clientWidth + 1) found.push(el.className + ': ' + el.scrollWidth + 'px');
          });
          return found;
        }"""
    )


def check_page(page: Any, wide: bool = True) -> None:
    """No serious or critical axe violation; with `wide`, nothing scrolls sideways either."""
    found = axe_violations(page)
    assert not found, "\n".join([page.url, *found])
    if wide:
        assert not (scrolled := sideways(page)), f"{page.url} scrolls sideways: {scrolled}"
