"""Browsing by index and view in headless Chromium (issue 14): the selector scopes the home page and a project
page, a scoped project page says which index each file came from, and axe-core passes on all of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.dists import make_wheel

from .conftest import check_page, start_server, upload_file
from .test_ui import expect

pytestmark = pytest.mark.browser
VIEWS = {"stable": {"members": [{"index": "default", "versions": "<2", "prereleases": False}]},
         "tools": {"members": [{"index": "default", "allow": ["tool-*"]}]}}  # fmt: skip


def test_the_selector_scopes_pages_to_a_view_and_they_pass_axe(tmp_path: Path, new_page: Any) -> None:
    server = start_server(tmp_path / "views", views=VIEWS)
    try:
        for version in ("1.0", "2.0"):
            upload_file(server, make_wheel(tmp_path / "d", "view-demo", version))
        upload_file(server, make_wheel(tmp_path / "d", "tool-x", "1.0"))
        page = new_page()
        page.goto(server.url)
        page.get_by_label("Index or view").select_option("tools")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_role("heading", name="Projects in tools")).to_be_visible()
        expect(page.get_by_role("link", name="view-demo")).to_have_count(0)
        page.goto(server.url + "project/view-demo/")
        page.get_by_label("Index or view").select_option("stable")
        page.get_by_role("button", name="Show").click()
        files = page.locator("section[aria-labelledby=files-title]")
        expect(files.get_by_role("link", name="view_demo-1.0-py3-none-any.whl")).to_have_attribute(
            "href", "/stable/packages/view-demo/view_demo-1.0-py3-none-any.whl"
        )
        expect(files).not_to_contain_text("view_demo-2.0")
        expect(files.locator("td .badge", has_text="default")).to_have_count(1)
        for width, height in ((1280, 900), (390, 844)):
            scoped = new_page(width, height)
            for path in ("?index=stable", "?index=tools", "project/view-demo/?index=stable", "project/view-demo/"):
                scoped.goto(server.url + path)
                check_page(scoped, wide=width == 1280)
    finally:
        server.stop()
