"""Fault figures, like bench/run.py's speed figures: run the fault scenarios against real servers and print a table.

    .venv/bin/python bench/hardening.py                  # every row, SQLite and PostgreSQL (when reachable)
    .venv/bin/python bench/hardening.py --quick          # fewer rounds (a couple of minutes)
    .venv/bin/python bench/hardening.py --only kill-uploads,identical --no-postgres

A row is a `Row` in ROWS: a name, a title and a function (work dir, database URL or None, quick) -> Figures
or a dict of column -> value. New rows (fuzzing, archive bombs) add an entry there and, if they measure
something new, a column in COLUMNS. Tests assert on the same scenarios (tests/e2e/test_faults.py);
nothing is asserted here. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import faults

PG_URL = os.environ.get("FLASKPYPI_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Row:
    """One scenario of the table."""

    name: str
    title: str
    run: Callable[[Path, str | None, bool], faults.Figures | dict[str, Any]]
    databases: tuple[str, ...] = ("sqlite", "postgresql")


# (column title, how to read it from a row's figures); a cell with nothing to say is left blank.
COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("kills done", lambda f: f.get("kills") if str(f.get("scenario", "")).startswith("kill") else None),
    ("retries ok", lambda f: f"{f['retries_ok']}/{f['retries']}" if f.get("retries") else None),
    ("temp files before restart", lambda f: f.get("temp_before") if f.get("kills") else None),
    ("temp files left", lambda f: f.get("temp_left")),
    ("pending claims left", lambda f: f.get("pending_left")),
    ("listed", lambda f: f.get("listed")),
    ("listed but broken", lambda f: f.get("broken")),
    ("missing or undone", lambda f: f.get("missing")),
    ("misfiled", lambda f: f.get("misfiled")),
    (
        "identical concurrent 200",
        lambda f: f"{f['concurrent_ok']}/{f['concurrent_total']}" if f.get("concurrent_total") else None,
    ),
    ("records", lambda f: f.get("records") if f.get("concurrent_total") else None),
]


def _kill_uploads(work: Path, db: str | None, quick: bool) -> faults.Figures:
    return faults.kill_during_uploads(work, rounds=15 if quick else 50, database_url=db)


def _kill_reindex(work: Path, db: str | None, quick: bool) -> faults.Figures:
    return faults.kill_during_reindex(work, kills=2 if quick else 5, projects=30 if quick else 60, database_url=db)


def _race_reindex(work: Path, db: str | None, quick: bool) -> faults.Figures:
    return faults.uploads_during_reindex(work, reindexes=2 if quick else 3, projects=40 if quick else 80,
                                         database_url=db)  # fmt: skip


def _identical(work: Path, db: str | None, quick: bool) -> faults.Figures:
    return faults.identical_concurrent_uploads(work, clients=20, database_url=db)


ROWS: list[Row] = [
    Row("kill-uploads", "kill -9 of the worker during uploads of a 3 MB wheel", _kill_uploads),
    Row("kill-reindex", "kill -9 of `reindex` after the database was lost", _kill_reindex),
    Row("race-reindex", "uploads, yanks, deletes during `reindex`", _race_reindex),
    Row("identical", "20 identical concurrent uploads", _identical),
]


def postgres_available() -> bool:
    """Whether the PostgreSQL server answers (the rows on it are skipped otherwise)."""
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3):
            return True
    except Exception:
        return False


def run_row(row: Row, database: str, quick: bool) -> dict[str, Any]:
    """Run one row on one database; its figures as a dict (an error becomes a note, not a crash)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"hardening-{row.name}-") as tmp:
        try:
            if database == "postgresql":
                with faults.fresh_postgres(PG_URL) as url:
                    result = row.run(Path(tmp), url, quick)
            else:
                result = row.run(Path(tmp), None, quick)
        except Exception as exc:  # a failed scenario is a row that says so
            result = {"notes": f"failed: {type(exc).__name__}: {exc}"[:200]}
    figures = dataclasses.asdict(result) if isinstance(result, faults.Figures) else dict(result)
    answers = figures.pop("answers", None) or {}
    notes = [figures.get("notes", "")] + [a if n == 1 else f"{n} x {a}" for a, n in answers.items()]
    figures["notes"] = "; ".join(n for n in notes if n)[:300]
    figures["seconds"] = time.monotonic() - started
    return figures


def table(results: list[tuple[Row, str, dict[str, Any]]]) -> str:
    """The Markdown table: one line per row and database, the columns any row filled, then notes."""
    used = [(title, get) for title, get in COLUMNS if any(get(f) is not None for _r, _d, f in results)]
    head = ["scenario", "database", *(title for title, _ in used), "seconds", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, database, figures in results:
        cells = [row.title, database]
        cells += ["" if get(figures) is None else str(get(figures)) for _title, get in used]
        cells += [f"{figures['seconds']:.0f}", figures.get("notes", "").replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--only", default="", help="comma-separated row names: " + ", ".join(r.name for r in ROWS))
    parser.add_argument("--no-postgres", action="store_true", help="SQLite rows only")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    wanted = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = wanted - {r.name for r in ROWS}
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    databases = ["sqlite"]
    if not args.no_postgres:
        if postgres_available():
            databases.append("postgresql")
        else:
            print(f"PostgreSQL does not answer at {PG_URL}: its rows are left out.", file=sys.stderr)
    results = []
    for row in ROWS:
        if wanted and row.name not in wanted:
            continue
        for database in databases:
            if database in row.databases:
                print(f"... {row.name} on {database}", file=sys.stderr, flush=True)
                results.append((row, database, run_row(row, database, args.quick)))
    report = table(results)
    print(report)
    if args.output:
        args.output.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
