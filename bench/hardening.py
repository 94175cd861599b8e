"""Fault figures, like bench/run.py's speed figures: run the fault scenarios against real servers and print a table.

    .venv/bin/python bench/hardening.py                  # every row, SQLite and PostgreSQL (when reachable)
    .venv/bin/python bench/hardening.py --quick          # fewer rounds (a couple of minutes)
    .venv/bin/python bench/hardening.py --only kill-uploads,identical --no-postgres

Rows: kill -9 during uploads and during reindex, writes racing a reindex, identical concurrent uploads,
hostile archives (bombs, damage) with the workers' peak memory, and the fuzz tests' case count.

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
    ("hostile files refused (400)", lambda f: f"{f['refused']}/{f['hostile']}" if f.get("hostile") else None),
    ("peak worker MB", lambda f: f.get("peak_mb")),
    ("fuzz cases", lambda f: f.get("fuzz_cases")),
    ("fuzz failures (5xx or writes)", lambda f: f.get("fuzz_failures")),
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


def _hostile_files(work: Path) -> list[Path]:
    from tests.support import hostile
    from tests.support.dists import make_sdist, make_wheel

    wheel = make_wheel(work / "ok", "damaged", "1.0", description="text " * 2000)
    sdist = make_sdist(work / "ok", "truncated", "1.0")
    bad = work / "bad"
    bad.mkdir()
    (bad / wheel.name).write_bytes(hostile.damaged_deflate(wheel))
    (bad / sdist.name).write_bytes(hostile.cut(sdist, 4))
    return [
        hostile.zip_bomb_wheel(work / "b1", "zipbomb", inflated=1024**3),
        hostile.gzip_bomb_sdist(work / "b2", "gzipbomb", inflated=1024**3),
        hostile.zip_sdist_with_huge_pkg_info(work / "b3", "pkginfobomb", inflated=256 * 1024**2),
        bad / wheel.name,
        bad / sdist.name,
    ]


def _bombs(work: Path, db: str | None, quick: bool) -> dict[str, Any]:
    """Archive bombs (1 GiB inflated from about 1 MB), a damaged deflate stream and a cut gzip trailer, uploaded
    to a live server; the highest peak RSS (VmHWM) of its workers afterwards."""
    import requests

    from tests.conftest import ADMIN, base_settings
    from tests.support.server import LiveServer

    files = _hostile_files(work)
    settings = {**base_settings(work / "server"), **({"database_url": db} if db else {})}
    server = LiveServer(work / "server", settings).start()
    try:
        answers = []
        for path in files:
            with path.open("rb") as handle:
                form = {":action": "file_upload", "protocol_version": "1"}
                response = requests.post(server.index_url, auth=ADMIN, files={"content": (path.name, handle)},
                                         data=form, timeout=120)  # fmt: skip
            answers.append(f"{path.name}: {response.status_code}")
        peaks = []
        for pid in faults.children(server.process.pid):
            status = Path(f"/proc/{pid}/status").read_text()
            peaks += [int(line.split()[1]) // 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
    finally:
        server.stop()
    refused = sum(a.endswith(": 400") for a in answers)
    return {"hostile": len(files), "refused": refused, "peak_mb": max(peaks, default=None),
            "notes": ", ".join(a for a in answers if not a.endswith(": 400"))}  # fmt: skip


def _fuzz(work: Path, db: str | None, quick: bool) -> dict[str, Any]:
    """The suite's hypothesis fuzz tests (fixed seed, SQLite and PostgreSQL), with hypothesis' statistics."""
    import re
    import subprocess

    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_fuzz.py",
               "--hypothesis-show-statistics"]  # fmt: skip
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=1800)
    passing = sum(int(n) for n in re.findall(r"(\d+) passing examples", done.stdout))
    failing = sum(int(n) for n in re.findall(r"(\d+) failing examples", done.stdout))
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    return {"fuzz_cases": passing + failing, "fuzz_failures": failing, "notes": summary}


ROWS: list[Row] = [
    Row("kill-uploads", "kill -9 of the worker during uploads of a 3 MB wheel", _kill_uploads),
    Row("kill-reindex", "kill -9 of `reindex` after the database was lost", _kill_reindex),
    Row("race-reindex", "uploads, yanks, deletes during `reindex`", _race_reindex),
    Row("identical", "20 identical concurrent uploads", _identical),
    Row("bombs", "zip/gzip bombs (1 GiB), damaged deflate, cut gzip trailer", _bombs, ("sqlite",)),
    Row("fuzz", "hypothesis fuzz: URLs, headers, upload forms, API bodies (both databases)", _fuzz, ("sqlite",)),
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
