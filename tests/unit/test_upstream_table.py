"""pypicloud's fallback table, row by row: first the decision itself, then through the real views."""

from __future__ import annotations

from pathlib import Path

import pytest

from flaskpypi.upstream import Listing, decide, listing_for
from tests.helpers import basic, upload
from tests.support.dists import make_wheel
from tests.support.upstream import LocalUpstream
from tests.unit.upstream_fixtures import USERS, json_upstream, make_app  # noqa: F401

L, U, LU, LR = Listing.LOCAL, Listing.UPSTREAM, Listing.LOCAL_UPSTREAM, Listing.LOCAL_REDIRECT
R, A, N = Listing.REDIRECT, Listing.LOGIN, Listing.NOT_FOUND
# (package held, read, can update cache, logged in) -> response, in the order of pypicloud's tables.
CASES = [(0, 0, 0, 0), (0, 0, 0, 1), (0, 1, 0, 0), (0, 1, 0, 1), (0, 1, 1, 0), (0, 1, 1, 1),
         (1, 0, 0, 0), (1, 0, 0, 1), (1, 1, 0, 0), (1, 1, 0, 1), (1, 1, 1, 0), (1, 1, 1, 1)]  # fmt: skip
TABLE = {
    "none": [A, N, N, N, N, N, A, N, L, L, L, L],
    "redirect": [R, R, R, R, R, R, A, R, L, L, L, L],
    "cache": [A, N, A, N, U, U, A, N, L, L, L, L],
    "mirror": [A, R, A, R, U, U, A, R, A, LR, LU, LU],
}
ROWS = [(mode, *case, answer) for mode, answers in TABLE.items() for case, answer in zip(CASES, answers, strict=True)]


@pytest.mark.parametrize(("mode", "held", "read", "cache", "logged_in", "answer"), ROWS)
def test_decision_follows_pypicloud_table(mode: str, held: int, read: int, cache: int, logged_in: int,
                                          answer: Listing) -> None:  # fmt: skip
    assert decide(mode, bool(held), bool(read), bool(cache), bool(logged_in)) is answer


def test_cached_only_projects_keep_following_upstream_in_cache_mode() -> None:
    """The one extension: a project held through cached files only still lists upstream files to cachers."""
    assert listing_for("cache", True, True, True, True, cached_only=True) is Listing.LOCAL_UPSTREAM
    assert listing_for("cache", True, True, False, True, cached_only=True) is Listing.LOCAL
    assert listing_for("cache", True, True, True, True, cached_only=False) is Listing.LOCAL


def _settings(read: int, cache: int, logged_in: int) -> dict[str, list[str]]:
    """Defaults that give the row's permissions: `reader` may read, `cacher` may read and cache."""
    anonymous = not logged_in
    return {
        "default_read": ["everyone"] if read and anonymous else ["readers"],
        "default_write": ["nobody-group"],
        "cache_update": ["everyone"] if cache and anonymous else ["cachers"],
    }


def _user(read: int, cache: int) -> str:
    return "cacher" if cache else "reader" if read else "outsider"


@pytest.mark.parametrize(("mode", "held", "read", "cache", "logged_in", "answer"), ROWS)
def test_project_page_follows_pypicloud_table(make_app, json_upstream: LocalUpstream, tmp_path: Path, mode: str,  # noqa: F811
                                              held: int, read: int, cache: int, logged_in: int,
                                              answer: Listing) -> None:  # fmt: skip
    app = make_app(json_upstream, fallback=mode, **_settings(read, cache, logged_in))
    client = app.test_client()
    if held:
        private = make_wheel(tmp_path / "private", "demo", "9.0")
        assert upload(client, private).status_code == 200
        # merging a project that has uploads needs the admin's consent (dependency confusion)
        response = client.put("/api/projects/demo/upstream", json={"upstream_merge": True}, headers=basic())
        assert response.status_code == 200, response.text
    headers = basic(_user(read, cache), USERS[_user(read, cache)]) if logged_in else {}
    response = client.get("/simple/demo/", headers=headers)
    upstream_files = ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl", "demo-2.0.tar.gz"]
    if answer is Listing.LOGIN:
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers
    elif answer is Listing.NOT_FOUND:
        assert response.status_code == 404
    elif answer is Listing.REDIRECT:
        assert response.status_code == 302
        assert response.headers["Location"] == json_upstream.url + "demo/"
    else:
        assert response.status_code == 200, response.text
        body = response.text
        assert ("demo-9.0-py3-none-any.whl" in body) is (answer is not Listing.UPSTREAM)
        for filename in upstream_files:
            if answer is Listing.LOCAL:
                assert filename not in body
            elif answer is Listing.LOCAL_REDIRECT:
                assert f'href="http://127.0.0.1:{json_upstream.port}/files/{filename}#sha256=' in body
            else:
                assert f'href="/packages/demo/{filename}#sha256=' in body
