"""Hosted indexes beyond `default` (issue 14) through the app: uploads at /<name>/legacy/ and /<name>/simple/,
their storage keys, downloads, yank and delete, promotion (API and CLI), rebuild from storage, and the
migration of a database made by the schema before indexes (0007)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError

from flaskpypi import create_app
from flaskpypi.auth.audit import entries
from flaskpypi.extensions import db
from flaskpypi.index.migrate import upgrade
from flaskpypi.index.models import File, Project
from tests.conftest import base_settings
from tests.helpers import basic, upload
from tests.support.dists import make_wheel
from tests.unit.test_auth_web import add_user

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
WHEEL = "demo-1.0-py3-none-any.whl"


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, Any]:
    return {**base_settings(tmp_path), "auth_backend": "sql",
            "indexes": {"main": {"type": "hosted"}, "staging": {"type": "hosted"}},
            "views": {"release": {"members": ["main", "staging"]}}}  # fmt: skip


def keys(app) -> set[str]:
    return {stored.key for stored in app.extensions["flaskpypi"].storage.iter_files()}


def page(client, path: str) -> dict[str, Any]:
    response = client.get(path, headers=JSON)
    assert response.status_code == 200, (path, response.get_data(as_text=True))
    return response.get_json()


def promote(client, project: str, source: str, target: str, version: str | None = None, **headers: str) -> Any:
    body = {"project": project, "from": source, "to": target, **({"version": version} if version else {})}
    return client.post("/api/promote", json=body, headers=headers or basic())


def test_uploads_to_a_hosted_index_are_kept_under_its_name(app, client, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "demo", "1.0")
    assert upload(client, wheel, "/staging/legacy/").status_code == 200
    assert upload(client, make_wheel(tmp_path, "demo", "1.1"), "/staging/simple/").status_code == 200
    assert upload(client, make_wheel(tmp_path, "other", "2.0"), "/staging/legacy").status_code == 200
    assert f"_indexes/staging/demo/{WHEEL}" in keys(app)
    assert f"_indexes/staging/demo/{WHEEL}.json" in keys(app)
    assert f"_indexes/staging/demo/{WHEEL}.metadata" in keys(app)
    assert not any(k.startswith("demo/") for k in keys(app))

    files = page(client, "/staging/simple/demo/")["files"]
    assert [f["filename"] for f in files] == [WHEEL, "demo-1.1-py3-none-any.whl"]
    assert files[0]["url"].startswith("/staging/packages/demo/")
    assert files[0]["hashes"]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    download = client.get(files[0]["url"], headers=basic())
    assert download.status_code == 200 and download.data == wheel.read_bytes()
    assert client.get(files[0]["url"] + ".metadata", headers=basic()).status_code == 200
    assert [p["name"] for p in page(client, "/staging/simple/")["projects"]] == ["demo", "other"]
    through = page(client, "/release/simple/demo/")["files"]  # the view takes it from staging, at its own URL
    assert [{**f, "url": ""} for f in through] == [{**f, "url": ""} for f in files]
    assert [f["url"] for f in through] == [f["url"].replace("/staging/", "/release/") for f in files]
    assert client.get(through[0]["url"], headers=basic()).data == wheel.read_bytes()
    # the other indexes know nothing of it
    assert client.get("/simple/demo/", headers=JSON).status_code == 404
    assert client.get("/main/simple/demo/", headers=JSON).status_code == 404
    assert client.get(f"/packages/demo/{WHEEL}", headers=basic()).status_code == 404
    assert client.get(f"/main/packages/demo/{WHEEL}", headers=basic()).status_code == 404
    assert page(client, "/simple/")["projects"] == []
    # a filename is unique per index: the default index takes other bytes under the same name
    other_bytes = make_wheel(tmp_path / "b", "demo", "1.0", summary="other bytes")
    assert upload(client, other_bytes).status_code == 200
    assert client.get(f"/packages/demo/{WHEEL}", headers=basic()).data == other_bytes.read_bytes()
    assert client.get(f"/staging/packages/demo/{WHEEL}", headers=basic()).data == wheel.read_bytes()
    # and refuses other bytes under a name it holds, as before
    assert upload(client, other_bytes, "/staging/legacy/").status_code == 400


def test_what_is_not_a_hosted_index_takes_no_upload(app, client, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "demo", "1.0")
    assert upload(client, wheel, "/release/legacy/").status_code == 404  # a view
    assert upload(client, wheel, "/nope/simple/").status_code == 404
    assert client.get(f"/release/packages/demo/{WHEEL}", headers=basic()).status_code == 404
    anonymous = client.post("/staging/legacy/", data={}, content_type="multipart/form-data")
    assert anonymous.status_code == 401


def test_yank_and_delete_act_on_the_index_asked(app, client, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "demo", "1.0")
    for url in ("/staging/legacy/", "/"):
        assert upload(client, wheel, url).status_code == 200
    response = client.post("/api/projects/demo/yank?index=staging", json={"version": "1.0", "reason": "rc"},
                           headers=basic())  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    assert page(client, "/staging/simple/demo/")["files"][0]["yanked"] == "rc"
    assert page(client, "/simple/demo/")["files"][0]["yanked"] is False
    listing = client.get("/api/projects/demo/files?index=staging", headers=basic()).get_json()
    assert listing["index"] == "staging" and listing["files"][0]["download"].startswith("/staging/packages/")
    assert client.delete(f"/api/projects/demo/files/{WHEEL}?index=staging", headers=basic()).status_code == 200
    assert client.get("/staging/simple/demo/", headers=JSON).status_code == 404
    assert page(client, "/simple/demo/")["files"][0]["filename"] == WHEEL
    assert client.post("/api/projects/demo/yank?index=release", json={"version": "1.0"},
                       headers=basic()).status_code == 404  # fmt: skip


def test_default_index_names_where_the_root_upload_urls_write(tmp_path: Path, monkeypatch, settings) -> None:
    monkeypatch.setenv("FLASKPYPI_INSTANCE_PATH", str(tmp_path / "instance"))
    client = create_app({**settings, "default_index": "staging"}).test_client()
    assert upload(client, make_wheel(tmp_path, "demo", "1.0"), "/legacy/").status_code == 200
    assert [f["filename"] for f in page(client, "/staging/simple/demo/")["files"]] == [WHEEL]
    assert client.get("/default/simple/demo/", headers=JSON).status_code == 404
    yank = client.post("/api/projects/demo/yank", json={"version": "1.0"}, headers=basic())  # default_index too
    assert yank.status_code == 200 and page(client, "/staging/simple/demo/")["files"][0]["yanked"] is True


def test_promotion_copies_the_same_bytes_once(app, client, tmp_path: Path) -> None:
    wheel, sdist = make_wheel(tmp_path, "demo", "1.0"), make_wheel(tmp_path, "demo", "2.0rc1")
    for path in (wheel, sdist):
        assert upload(client, path, "/staging/legacy/").status_code == 200
    response = promote(client, "Demo", "staging", "main", "1.0")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["promoted"] == [WHEEL] and response.get_json()["present"] == []
    main = page(client, "/main/simple/demo/")["files"]
    staging = page(client, "/staging/simple/demo/")["files"]
    assert [f["filename"] for f in main] == [WHEEL]
    assert main[0]["hashes"] == staging[0]["hashes"] and main[0]["core-metadata"] == staging[0]["core-metadata"]
    assert main[0]["upload-time"] == staging[0]["upload-time"]
    assert client.get(main[0]["url"], headers=basic()).data == wheel.read_bytes()
    assert {f"_indexes/main/demo/{WHEEL}{s}" for s in ("", ".json", ".metadata")} <= keys(app)
    # again: nothing changes
    again = promote(client, "demo", "staging", "main", "1.0")
    assert again.status_code == 200 and again.get_json()["present"] == [WHEEL] and again.get_json()["promoted"] == []
    # every version: the one left is copied, the one there is left alone
    everything = promote(client, "demo", "staging", "main").get_json()
    assert everything["promoted"] == ["demo-2.0rc1-py3-none-any.whl"] and everything["present"] == [WHEEL]
    with app.app_context():
        logged = entries(db.session, action="promote")
        assert [(e.actor, e.project, e.detail["source"], e.detail["target"]) for e in logged] == [
            ("admin", "demo", "staging", "main")
        ] * 2


def test_promotion_refuses_other_bytes_under_the_same_name(app, client, tmp_path: Path) -> None:
    assert upload(client, make_wheel(tmp_path, "demo", "1.0"), "/staging/legacy/").status_code == 200
    other = make_wheel(tmp_path / "b", "demo", "1.0", summary="other bytes")
    assert upload(client, other, "/main/legacy/").status_code == 200
    response = promote(client, "demo", "staging", "main", "1.0")
    assert response.status_code == 409, response.get_data(as_text=True)
    assert "already has another file" in response.get_data(as_text=True)
    assert client.get(f"/main/packages/demo/{WHEEL}", headers=basic()).data == other.read_bytes()
    assert promote(client, "demo", "staging", "main", "9.9").status_code == 404
    assert promote(client, "nope", "staging", "main").status_code == 404
    assert promote(client, "demo", "staging", "staging").status_code == 409
    assert promote(client, "demo", "staging", "release").status_code == 404  # a view is no hosted index
    assert client.post("/api/promote", json={"project": "demo"}, headers=basic()).status_code == 400


def test_only_admins_promote(app, client, tmp_path: Path) -> None:
    assert upload(client, make_wheel(tmp_path, "demo", "1.0"), "/staging/legacy/").status_code == 200
    add_user(client, "alice", "alice-password")
    assert promote(client, "demo", "staging", "main", **basic("alice", "alice-password")).status_code == 403
    assert client.post("/api/promote", json={"project": "demo", "from": "staging", "to": "main"}).status_code == 401
    assert client.get("/main/simple/demo/", headers=JSON).status_code == 404


def test_promote_command(app, client, runner, tmp_path: Path) -> None:
    assert upload(client, make_wheel(tmp_path, "demo", "1.0"), "/staging/legacy/").status_code == 200
    result = runner.invoke(args=["promote", "demo==1.0", "--from", "staging", "--to", "main", "--json"])
    assert result.exit_code == 0, result.output
    assert [(r["filename"], r["outcome"]) for r in json.loads(result.output)] == [(WHEEL, "promoted")]
    result = runner.invoke(args=["promote", "demo", "--from", "staging", "--to", "main"])
    assert result.exit_code == 0 and "Promoted 0 of 1 files" in result.output
    assert runner.invoke(args=["promote", "demo==", "--from", "staging", "--to", "main"]).exit_code == 2
    assert runner.invoke(args=["promote", "demo", "--from", "staging", "--to", "release"]).exit_code == 2
    missing = runner.invoke(args=["promote", "demo==3", "--from", "staging", "--to", "main"])
    assert missing.exit_code == 1 and "No version 3 of project" in missing.output
    with app.app_context():
        assert [e.actor for e in entries(db.session, action="promote")] == ["cli"]
    listing = {r["name"]: r for r in json.loads(runner.invoke(args=["index", "list", "--json"]).output)}
    assert (listing["main"]["projects"], listing["main"]["files"]) == (1, 1)
    assert (listing["default"]["projects"], listing["default"]["files"]) == (0, 0)


def test_reindex_restores_every_hosted_index(app, client, settings, tmp_path: Path) -> None:
    assert upload(client, make_wheel(tmp_path, "demo", "1.0"), "/staging/legacy/").status_code == 200
    assert upload(client, make_wheel(tmp_path, "demo", "1.1"), "/").status_code == 200
    assert promote(client, "demo", "staging", "main").status_code == 200
    before = {i: page(client, f"/{i}/simple/demo/")["files"] for i in ("default", "main", "staging")}
    with app.app_context():
        db.session.execute(text("DELETE FROM files"))
        db.session.execute(text("DELETE FROM projects"))
        db.session.commit()
    assert client.get("/main/simple/demo/", headers=JSON).status_code == 404
    result = create_app(settings).test_cli_runner().invoke(args=["reindex"])  # (this app rebuilt as it started)
    assert result.exit_code == 0 and "Indexed 3 projects, 3 files" in result.output, result.output
    after = {i: page(client, f"/{i}/simple/demo/")["files"] for i in ("default", "main", "staging")}
    assert after == before


def _rows_at_0007(url: str) -> None:
    engine = create_engine(url)
    upgrade(engine, "0007_pending_access")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO projects (id, name, display_name, summary, status, status_reason, settings, created, "
            "last_update, serial) VALUES (7, 'demo', 'Demo', 's', 'active', '', '{}', '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00', 3)"
        ))  # fmt: skip
        conn.execute(text(
            "INSERT INTO files (id, project_id, filename, name, version, packagetype, python_version, size, sha256, "
            "md5, blake2b_256, upload_time, requires_python, summary, yanked, yanked_reason, origin, state, "
            "metadata) VALUES (9, 7, :f, 'demo', '1.0', 'bdist_wheel', 'py3', 10, 'a', 'b', 'c', "
            "'2026-01-01 00:00:00', '', '', false, '', 'upload', 'live', '{}')"
        ), {"f": WHEEL})  # fmt: skip
    upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(select(Project.id, Project.index_name, Project.name)).all() == [(7, "default", "demo")]
        assert conn.execute(select(File.id, File.index_name, File.project_id)).all() == [(9, "default", 7)]
        # a name and a filename are unique per index now
        conn.execute(text(
            "INSERT INTO projects (id, index_name, name, display_name, summary, status, status_reason, settings, "
            "created, last_update, serial) VALUES (8, 'main', 'demo', 'Demo', '', 'active', '', '{}', "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 4)"
        ))  # fmt: skip
        conn.execute(text(
            "INSERT INTO files (project_id, index_name, filename, name, version, packagetype, python_version, size, "
            "sha256, md5, blake2b_256, upload_time, requires_python, summary, yanked, yanked_reason, origin, state, "
            "metadata) VALUES (8, 'main', :f, 'demo', '1.0', 'bdist_wheel', 'py3', 10, 'a', 'b', 'c', "
            "'2026-01-01 00:00:00', '', '', false, '', 'upload', 'live', '{}')"
        ), {"f": WHEEL})  # fmt: skip
    with pytest.raises(IntegrityError, match=r"(?i)unique"), engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO projects (index_name, name, display_name, summary, status, status_reason, settings, "
            "created, last_update, serial) VALUES ('main', 'demo', 'Demo', '', 'active', '', '{}', "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 5)"
        ))  # fmt: skip
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.exec_driver_sql("DELETE FROM projects WHERE id = 8")  # the reference followed the renames
            assert conn.exec_driver_sql("SELECT count(*) FROM files").scalar() == 1
            conn.commit()
    engine.dispose()


def test_migration_from_the_schema_before_indexes_sqlite(tmp_path: Path) -> None:
    _rows_at_0007(f"sqlite:///{tmp_path / 'old.sqlite'}")


@pytest.mark.postgres
def test_migration_from_the_schema_before_indexes_postgresql(postgres_url: str) -> None:
    _rows_at_0007(postgres_url)


def test_the_ui_home_scoped_to_an_index_or_view_lists_its_own_projects(client, tmp_path: Path) -> None:
    """`/?index=staging` lists staging's projects (not the built-in index's); a view lists its members'."""
    assert upload(client, make_wheel(tmp_path / "d", "only-default", "1.0"), "/legacy/").status_code == 200
    assert upload(client, make_wheel(tmp_path / "s", "only-staging", "1.0"), "/staging/legacy/").status_code == 200
    assert upload(client, make_wheel(tmp_path / "m", "both-lib", "1.0"), "/main/legacy/").status_code == 200
    assert upload(client, make_wheel(tmp_path / "t", "both-lib", "2.0"), "/staging/legacy/").status_code == 200
    for path in ("/?index=staging", "/?index=staging&sort=name", "/?index=staging&q=only"):
        text = client.get(path, headers=basic()).get_data(as_text=True)
        assert "/project/only-staging/" in text and "/project/only-default/" not in text, path
    plain = client.get("/", headers=basic()).get_data(as_text=True)
    assert "/project/only-default/" in plain and "/project/only-staging/" not in plain
    release = client.get("/?index=release&sort=name", headers=basic()).get_data(as_text=True)
    assert release.count('href="/project/both-lib/?index=release"') == 1  # held by both members: listed once
    assert "/project/only-staging/" in release and "/project/only-default/" not in release
