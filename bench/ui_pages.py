"""The home page and search at 100,000 projects: p50/p99 of the page (the app in process, no HTTP) and of the
search query alone, on SQLite (FTS5) and PostgreSQL (tsvector + GIN) when reachable.

    .venv/bin/python bench/ui_pages.py                       # 100,000 projects, both databases
    .venv/bin/python bench/ui_pages.py --projects 20000 --no-postgres

Rows are generated directly in the database (a project, one live file with keywords and classifiers), then
the full-text documents are built as migration 0006 builds them. Writes bench/ui_results.md. Nothing is
asserted; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, insert, text

PG_ADMIN_URL = os.environ.get("FLASKPYPI_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_DB = "flaskpypi_bench_ui"
WORDS = ("http async client server parser config data frame plot image audio test mock cli tool web api json yaml "
         "toml xml sql orm cache queue task worker stream file path time date math stats graph net crypto auth "
         "token log trace metric deploy cloud storage build wheel lint format type doc").split()  # fmt: skip
CLASSIFIERS = ["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License",
               "Operating System :: OS Independent", "Topic :: Software Development :: Libraries",
               "Topic :: Internet :: WWW/HTTP", "Development Status :: 4 - Beta", "Intended Audience :: Developers",
               "Topic :: Scientific/Engineering", "Framework :: Flask", "Typing :: Typed"]  # fmt: skip
QUERIES = {
    "search hit (a name)": "",  # the name of a generated project, filled in by fill()
    "search hit (a word, ~2% of projects)": "crypto stream",
    "search miss": "zzyzx-nothing-here",
}


def fill(url: str, count: int) -> float:
    """Write `count` projects with one live file each; returns seconds spent building the search documents."""
    from flaskpypi.index.migrate import upgrade
    from flaskpypi.index.models import File, Project
    from flaskpypi.index.search import refresh_all

    engine = create_engine(url)
    upgrade(engine)
    rng = random.Random(12)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for first in range(0, count, 5000):
            projects, files = [], []
            for i in range(first, min(count, first + 5000)):
                a, b = rng.sample(WORDS, 2)
                name = f"{a}-{b}-{i}"
                if i == count // 2:
                    QUERIES["search hit (a name)"] = name
                summary = " ".join(rng.sample(WORDS, 6)).capitalize()
                when = start + timedelta(minutes=i)
                projects.append({"id": i + 1, "name": name, "display_name": name, "summary": summary,
                                 "status": "active", "status_reason": "", "settings": {}, "created": when,
                                 "last_update": when, "serial": i + 1})  # fmt: skip
                meta = {"keywords": rng.sample(WORDS, 3), "classifiers": rng.sample(CLASSIFIERS, 4), "summary": summary}
                files.append({"project_id": i + 1, "filename": f"{name.replace('-', '_')}-1.0-py3-none-any.whl",
                              "name": name, "version": "1.0", "packagetype": "bdist_wheel", "python_version": "py3",
                              "size": 1000, "sha256": "0" * 64, "md5": "0" * 32, "blake2b_256": "0" * 64,
                              "upload_time": when, "requires_python": "", "summary": summary, "yanked": False,
                              "yanked_reason": "", "origin": "upload", "state": "live", "meta": meta})  # fmt: skip
            conn.execute(insert(Project), projects)
            conn.execute(insert(File), files)
        conn.execute(text("INSERT INTO counters (name, value) VALUES ('serial', :n)"), {"n": count})
        began = time.perf_counter()
        refresh_all(conn)
        built = time.perf_counter() - began
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return built


def timed(run: Callable[[], object], rounds: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds of `rounds` runs after 3 warm-up runs."""
    for _ in range(3):
        run()
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def measure(url: str, work: Path, rounds: int) -> list[tuple[str, float, float]]:
    from flaskpypi import create_app
    from flaskpypi.extensions import db
    from flaskpypi.index import search

    os.environ["FLASKPYPI_INSTANCE_PATH"] = str(work / "instance")
    app = create_app({"storage_url": (work / "packages").as_uri(), "database_url": url, "secret_key": "bench",
                      "auto_reindex": False})  # fmt: skip
    client = app.test_client()
    rows = []

    def page(path: str) -> Callable[[], object]:
        def get() -> object:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            return response

        return get

    rows.append(("home page (first page, by last upload)", *timed(page("/"), rounds)))
    rows.append(("home page (by name, a page in the middle)", *timed(page("/?sort=name&after=m"), rounds)))
    for label, query in QUERIES.items():
        rows.append((f"{label}: page", *timed(page("/?q=" + query.replace(" ", "+")), rounds)))
        with app.app_context():
            rows.append((f"{label}: query alone", *timed(lambda q=query: search.ranked(db.session, q), rounds)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--output", default=str(Path(__file__).with_name("ui_results.md")))
    args = parser.parse_args()
    results: dict[str, list[tuple[str, float, float]]] = {}
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sqlite_url = f"sqlite:///{work / 'index.sqlite'}"
        built = fill(sqlite_url, args.projects)
        notes.append(f"SQLite: search documents of {args.projects:,} projects built in {built:.1f} s")
        results["SQLite"] = measure(sqlite_url, work / "sqlite", args.rounds)
        if not args.no_postgres:
            try:
                admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB}"))
                    conn.execute(text(f"CREATE DATABASE {PG_DB}"))
            except Exception as exc:  # no PostgreSQL here: the SQLite column stands alone
                notes.append(f"PostgreSQL skipped: {type(exc).__name__}")
            else:
                pg_url = admin.url.set(database=PG_DB).render_as_string(hide_password=False)
                built = fill(pg_url, args.projects)
                notes.append(f"PostgreSQL: search documents of {args.projects:,} projects built in {built:.1f} s")
                results["PostgreSQL"] = measure(pg_url, work / "pg", args.rounds)
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
    heads = list(results)
    lines = [
        "## Home page and search at scale",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. {args.projects:,} projects with one live file each; the app in "
        f"process (Flask test client, no HTTP); {args.rounds} rounds after 3 warm-up ones; milliseconds.",
        "",
        "| What | " + " | ".join(f"{h} p50 ms | {h} p99 ms" for h in heads) + " |",
        "| --- | " + " | ".join("---: | ---:" for _ in heads) + " |",
    ]
    for i, (label, *_rest) in enumerate(results[heads[0]]):
        cells = " | ".join(f"{results[h][i][1]:.2f} | {results[h][i][2]:.2f}" for h in heads)
        lines.append(f"| {label} | {cells} |")
    lines += ["", *[f"- {n}" for n in notes], ""]
    report = "\n".join(lines)
    Path(args.output).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
