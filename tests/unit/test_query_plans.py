"""Every listing page is O(what it shows) on PostgreSQL at 50,000 projects: EXPLAIN of the queries behind the
UI home page, the UI search, /simple/ and a project page read no table whole that the page does not show."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Select, text

from flaskpypi.extensions import db
from flaskpypi.index import search
from flaskpypi.index.browse import ProjectBrowser
from flaskpypi.index.models import LIVE, File, Project
from flaskpypi.index.rebuild import Rebuilder
from flaskpypi.index.service import IndexService

pytestmark = pytest.mark.postgres
PROJECTS = 50_000
NEWEST = (Project.last_update.desc(), Project.id.desc())


@pytest.fixture
def settings(settings: dict[str, Any], postgres_url: str) -> dict[str, Any]:
    return {**settings, "database_url": postgres_url}


def fill(session: Any) -> None:
    """50,000 projects with a live file each, and 500 whose only file is deleted (generated in SQL)."""
    session.execute(
        text("""
        INSERT INTO projects (name, display_name, summary, status, status_reason, settings, created, last_update,
                              serial)
        SELECT 'proj' || i, 'Proj' || i, 'the summary of project ' || i, 'active', '', '{}', now(),
               now() - (i || ' seconds')::interval, i
        FROM generate_series(1, :n) i"""),
        {"n": PROJECTS},
    )
    session.execute(
        text("""
        INSERT INTO files (project_id, filename, name, version, packagetype, python_version, size, sha256, md5,
                           blake2b_256, upload_time, requires_python, summary, yanked, yanked_reason, origin, state,
                           metadata)
        SELECT id, name || '-1.0-py3-none-any.whl', name, '1.0', 'bdist_wheel', 'py3', 1000, 'x', 'x', 'x', now(),
               '', '', false, '', 'upload', CASE WHEN id % 100 = 0 THEN 'deleted' ELSE 'live' END, '{}'
        FROM projects""")
    )
    session.commit()


def copy_to_staging(session: Any) -> None:
    """Every tenth project, with its file, in hosted index `staging` too (as a promotion leaves them)."""
    session.execute(
        text("""
        INSERT INTO projects (index_name, name, display_name, summary, status, status_reason, settings, created,
                              last_update, serial)
        SELECT 'staging', name, display_name, summary, status, status_reason, settings, created, last_update, serial
        FROM projects WHERE id % 10 = 0""")
    )
    session.execute(
        text("""
        INSERT INTO files (project_id, index_name, filename, name, version, packagetype, python_version, size,
                           sha256, md5, blake2b_256, upload_time, requires_python, summary, yanked, yanked_reason,
                           origin, state, metadata)
        SELECT s.id, 'staging', f.filename, f.name, f.version, f.packagetype, f.python_version, f.size, f.sha256,
               f.md5, f.blake2b_256, f.upload_time, f.requires_python, f.summary, f.yanked, f.yanked_reason,
               f.origin, f.state, f.metadata
        FROM files f JOIN projects d ON d.id = f.project_id AND d.index_name = 'default'
        JOIN projects s ON s.index_name = 'staging' AND s.name = d.name""")
    )
    session.commit()


def plan(session: Any, stmt: Select) -> dict[str, Any]:
    sql = str(stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    return session.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)).scalar()[0]["Plan"]


def explain(session: Any, sql: Any, params: dict[str, Any]) -> dict[str, Any]:
    return session.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql.text), params).scalar()[0]["Plan"]


def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]


def scanned(node: dict[str, Any]) -> set[str]:
    """Tables read whole (sequential scans), and the ones a hashed subplan reads whole."""
    whole = {n["Relation Name"] for n in nodes(node) if n["Node Type"] == "Seq Scan"}
    hashed = [n for n in nodes(node) if str(n.get("Subplan Name", "")).startswith("hashed")]
    return whole | {"hashed:" + r for h in hashed for r in scanned(h)}


def rows_read(node: dict[str, Any]) -> int:
    """Rows the plan's scans returned or threw away, over all loops."""
    return sum((n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0)) * n.get("Actual Loops", 1)
               for n in nodes(node) if "Scan" in n["Node Type"])  # fmt: skip


def test_pages_read_what_they_show_at_50000_projects(app) -> None:
    with app.app_context():
        session = db.session
        fill(session)
        Rebuilder(session, app.extensions["flaskpypi"].storage).analyze()  # what a rebuild ends with
        browser = ProjectBrowser(session)
        home = plan(session, browser._base().order_by(*NEWEST).limit(browser.batch))
        assert scanned(home) == set() and rows_read(home) < 10 * browser.batch, home
        search.refresh_all(session.connection())  # the search documents, as the migration fills them
        by_name = plan(session, search.name_query("postgresql", "proj4242"))
        assert scanned(by_name) == set() and rows_read(by_name) < 1000, by_name
        sql, params = search.text_query("postgresql", "project 4242")
        by_words = explain(session, sql, params)
        assert scanned(by_words) == set() and rows_read(by_words) < 1000, by_words
        miss = explain(session, *search.text_query("postgresql", "nothing-like-this"))
        assert scanned(miss) == set() and rows_read(miss) < 10, miss
        root = plan(session, IndexService(session, app.extensions["flaskpypi"].storage).project_names_query())
        assert not {t for t in scanned(root) if "files" in t}, root  # one probe per project listed, no more
        assert root["Actual Rows"] == PROJECTS - PROJECTS // 100
        session.rollback()
        project = session.scalar(text("SELECT id FROM projects WHERE name = 'proj777'"))
        files = plan(session, Project.__table__.select().where(Project.name == "proj777"))
        assert scanned(files) == set(), files
        live = plan(session, File.__table__.select().where(File.project_id == project, File.state == LIVE))
        assert scanned(live) == set() and rows_read(live) <= 2, live
        session.rollback()
        copy_to_staging(session)  # a tenth of the projects in a second hosted index
        Rebuilder(session, app.extensions["flaskpypi"].storage).analyze()
        storage = app.extensions["flaskpypi"].storage
        staging = IndexService(session, storage, index="staging")
        root = plan(session, staging.project_names_query())
        assert "projects" not in scanned(root) and root["Actual Rows"] == PROJECTS // 10 - PROJECTS // 100, root
        assert rows_read(root) < 4 * PROJECTS // 10, root  # the staging rows, not every index's
        for service in (staging, IndexService(session, storage)):
            facts = plan(session, service.file_facts_query("proj770", "proj770-1.0-py3-none-any.whl"))
            assert scanned(facts) == set() and rows_read(facts) <= 4, facts
        default_root = plan(session, IndexService(session, storage).project_names_query())
        assert default_root["Actual Rows"] == PROJECTS - PROJECTS // 100, default_root
