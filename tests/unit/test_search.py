"""The full-text index follows uploads, deletes, yanks and rebuilds in the same transaction; error pages."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text

from flaskpypi.extensions import db
from flaskpypi.index import search
from flaskpypi.index.rebuild import Rebuilder
from tests.helpers import basic, upload
from tests.support.dists import make_wheel


def names(client, query: str) -> list[str]:
    page = client.get("/", query_string={"q": query}).get_data(as_text=True)
    return re.findall(r'class="name">([^<]+)<', page)


def test_the_search_index_follows_uploads_deletes_and_rebuilds(app, client, tmp_path: Path) -> None:
    keywords = {"Keywords": "telescope,optics"}
    assert (
        upload(client, make_wheel(tmp_path, "stargazer", "1.0", summary="Look up", extra_metadata=keywords)).status_code
        == 200
    )
    assert upload(client, make_wheel(tmp_path, "stargazer", "2.0", summary="Look further up")).status_code == 200
    assert upload(client, make_wheel(tmp_path, "star", "1.0", summary="Short")).status_code == 200
    assert names(client, "star") == ["star", "stargazer"]  # exact first, then the prefix
    assert names(client, "further") == ["stargazer"]  # the newest file's summary
    assert names(client, "telescope") == []  # keywords of the newest file only: 2.0 has none
    assert client.delete("/api/projects/stargazer/versions/2.0", headers=basic()).status_code == 200
    assert names(client, "telescope") == ["stargazer"] and names(client, "further") == []
    assert client.delete("/api/projects/stargazer", headers=basic()).status_code == 200
    assert names(client, "telescope") == [] and names(client, "star") == ["star"]

    with app.app_context():  # lose the documents; a rebuild (`flaskpypi reindex`) writes them again
        db.session.execute(text("DELETE FROM project_fts"))
        db.session.commit()
        assert search.ranked(db.session, "short") == []
        runtime = app.extensions["flaskpypi"]
        Rebuilder(db.session, runtime.storage, runtime.policy).rebuild()
    assert names(client, "short") == ["star"]


def test_search_words_are_taken_literally(client, tmp_path: Path) -> None:
    assert (
        upload(client, make_wheel(tmp_path, "quote-lib", "1.0", summary='Handles "quotes" AND NOT ops')).status_code
        == 200
    )
    for query in ('"quotes', "AND NOT", "quote*", "ops)", "NEAR(x", "-", "'"):
        response = client.get("/", query_string={"q": query})
        assert response.status_code == 200, query
    assert names(client, '"quotes') == ["quote-lib"] and names(client, "NOT") == ["quote-lib"]


def test_error_pages_use_the_layout_for_browsers_and_stay_plain_for_clients(app, client) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("a bug")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for path, status in (("/no/such/page", 404), ("/boom", 500)):
        page = client.get(path, headers=browser)
        assert page.status_code == status and page.mimetype == "text/html"
        assert 'class="site-header"' in page.get_data(as_text=True) and "site-footer" in page.get_data(as_text=True)
        plain = client.get(path)
        assert plain.status_code == status and plain.mimetype == "text/plain"
        assert "Traceback" not in page.get_data(as_text=True) + plain.get_data(as_text=True)
    pip_accept = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
    pip = client.get("/simple/no-such-project/", headers={"Accept": pip_accept})
    assert pip.status_code == 404 and pip.mimetype != "text/html"
