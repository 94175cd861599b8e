"""Views at /<name>/simple/ over the built-in hosted index and a named upstream index (issue 14), through
the app: rules, resolution and permissions as every client sees them (HTML and PEP 691 JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flaskpypi import create_app
from flaskpypi.core import simple as pages
from flaskpypi.settings import SettingsError
from tests.conftest import base_settings
from tests.helpers import basic, upload
from tests.support.dists import make_wheel
from tests.support.upstream import LocalUpstream
from tests.unit.upstream_fixtures import json_upstream  # noqa: F401

JSON = {"Accept": pages.JSON_V1}


def _app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstream: LocalUpstream, **settings: object):
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    views = {
        "prod": {"members": ["default", {"index": "public", "min_age": "7d", "deny": ["acme-*"]}]},
        "fresh": {"members": ["default", "public"]},
        "snapshot": {"members": [{"index": "public", "uploaded_before": "2026-01-01"}]},
        "pinned": {"members": [{"index": "default", "pin": ["demo"]}, "public"]},
        "merged": {"members": ["default", "public"], "resolve": "merge"},
    }
    config = {**base_settings(tmp_path), "upstream_retry": 0, "views": views, **settings,
              "indexes": {"public": {"type": "upstream", "url": upstream.url, "mode": "redirect"}}}  # fmt: skip
    app = create_app(config)
    app.config["TESTING"] = True
    return app


def _files(client, path: str) -> list[str]:
    response = client.get(path, headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    return sorted(f["filename"] for f in response.get_json()["files"])


def test_views_apply_their_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 json_upstream: LocalUpstream) -> None:  # noqa: F811  # fmt: skip
    week_ago = datetime.now(UTC) - timedelta(days=8)
    old = json_upstream.dists("demo")[0]
    json_upstream.upload_times[old.name] = datetime(2025, 6, 1, tzinfo=UTC)
    for path in json_upstream.dists("demo")[1:]:
        json_upstream.upload_times[path.name] = week_ago + timedelta(days=7)  # a day old
    client = _app(tmp_path, monkeypatch, json_upstream).test_client()

    everything = _files(client, "/fresh/simple/demo/")
    assert everything == sorted(p.name for p in json_upstream.dists("demo"))
    assert _files(client, "/prod/simple/demo/") == [old.name]  # the cooldown hides the day-old files
    assert _files(client, "/snapshot/simple/demo/") == [old.name]
    page = client.get("/fresh/simple/demo/", headers=JSON).get_json()
    assert all(f["url"].startswith(json_upstream.url.rsplit("/simple", 1)[0]) for f in page["files"])
    assert "demo" in client.get("/fresh/simple/demo/").get_data(as_text=True)  # HTML too
    assert client.get("/fresh/simple/Demo").headers["Location"].endswith("/fresh/simple/demo/")


def test_hosted_names_win_and_pins_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        json_upstream: LocalUpstream) -> None:  # noqa: F811  # fmt: skip
    make_wheel(json_upstream.folder, "acme-tools", "99.0")  # the upstream publishes a higher version
    client = _app(tmp_path, monkeypatch, json_upstream).test_client()
    mine = make_wheel(tmp_path / "dists", "acme-tools", "1.0")
    assert upload(client, mine, auth=basic()).status_code == 200
    for view in ("prod", "fresh"):
        assert _files(client, f"/{view}/simple/acme-tools/") == [mine.name]
    merged = _files(client, "/merged/simple/acme-tools/")
    assert mine.name in merged and any("99.0" in name for name in merged)
    assert client.get("/pinned/simple/demo/", headers=JSON).status_code == 404  # pinned to default, not held
    assert _files(client, "/pinned/simple/other/")  # not pinned: the upstream supplies it
    assert client.get("/prod/simple/").status_code == 200
    assert [p["name"] for p in client.get("/prod/simple/", headers=JSON).get_json()["projects"]] == ["acme-tools"]
    assert _files(client, "/default/simple/acme-tools/") == [mine.name]  # each index answers at its own name
    assert client.get("/nope/simple/").status_code == 404


def test_an_unreadable_project_is_missing_in_every_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        json_upstream: LocalUpstream) -> None:  # noqa: F811  # fmt: skip
    client = _app(tmp_path, monkeypatch, json_upstream, default_read=["authenticated"]).test_client()
    assert client.get("/fresh/simple/demo/").status_code == 401
    assert client.get("/fresh/simple/", headers=JSON).status_code == 401
    response = client.get("/fresh/simple/demo/", headers={**JSON, **basic()})
    assert response.status_code == 200


def test_what_is_not_built_yet_is_refused_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    with pytest.raises(SettingsError, match=r"\[indexes.a..b\]: a hosted index's name is a storage folder"):
        create_app({**base_settings(tmp_path), "indexes": {"a..b": {"type": "hosted"}}})
    with pytest.raises(SettingsError, match="mode 'none' is not built for named upstream indexes"):
        create_app({**base_settings(tmp_path), "indexes": {"up": {"type": "upstream", "url": "http://127.0.0.1:9/",
                                                                   "mode": "none"}}})  # fmt: skip
    with pytest.raises(SettingsError, match=r"\[indexes.u..p\]: a caching upstream index's name is a storage folder"):
        create_app({**base_settings(tmp_path), "indexes": {"u..p": {"type": "upstream", "url": "http://127.0.0.1:9/"}}})


def test_index_and_view_list_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      json_upstream: LocalUpstream) -> None:  # noqa: F811  # fmt: skip
    app = _app(tmp_path, monkeypatch, json_upstream, default_view="prod")
    runner = app.test_cli_runner()
    indexes = json.loads(runner.invoke(args=["index", "list", "--json"]).output)
    assert [(i["name"], i["type"], i["default"]) for i in indexes] == [("default", "hosted", True),
                                                                       ("public", "upstream", False)]  # fmt: skip
    views = {v["name"]: v for v in json.loads(runner.invoke(args=["view", "list", "--json"]).output)}
    assert views["prod"]["default"] and views["prod"]["members"] == ["default", "public (deny=acme-* min_age=604800s)"]
    assert views["merged"]["resolve"] == "merge"
    table = runner.invoke(args=["view", "list"]).output
    assert table.splitlines()[0].split() == ["NAME", "RESOLVE", "DEFAULT", "MEMBERS"]


def test_default_view_is_what_simple_serves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            json_upstream: LocalUpstream) -> None:  # noqa: F811  # fmt: skip
    json_upstream.upload_times.update({p.name: datetime.now(UTC) for p in json_upstream.dists("demo")})
    client = _app(tmp_path, monkeypatch, json_upstream, default_view="fresh").test_client()
    assert _files(client, "/simple/demo/") == _files(client, "/fresh/simple/demo/") != []
    client = _app(tmp_path / "b", monkeypatch, json_upstream, default_view="prod").test_client()
    assert _files(client, "/simple/demo/") == []  # the cooldown of prod applies at /simple/
    client = _app(tmp_path / "c", monkeypatch, json_upstream).test_client()
    assert client.get("/simple/demo/").status_code == 404  # no default_view: today's server (fallback none)
