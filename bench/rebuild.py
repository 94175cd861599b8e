"""Rebuild benchmark: the index rebuilt from storage on file:// and on S3 (moto), SQLite or PostgreSQL.

Each measured step runs in a fresh process (time, CPU seconds, peak RSS of that process); on S3 the moto
server's request log gives the requests per object. Steps:
  first    an empty database over bare wheels (every wheel read; sidecars and .metadata written)
  empty    an empty database over a storage with sidecars (a new host or a lost database: one GET a file)
  again    `reindex` of an index already in step (nothing changes)

    python bench/rebuild.py --files 7000 --backend file
    python bench/rebuild.py --files 20000 --backend s3 --database postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from dataset import ensure_dataset  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
CACHE = Path(os.environ.get("FLASKPYPI_BENCH_DATA", Path(tempfile.gettempdir()) / "flaskpypi-bench"))


def step(storage_url: str, database_url: str, env: dict[str, str]) -> dict[str, float]:
    """Run one rebuild in a fresh process; its time, CPU and peak memory."""
    code = (
        "import json, resource, sys, time, logging\n"
        "from flaskpypi import create_app\n"
        "from flaskpypi.extensions import db\n"
        "from flaskpypi.index.rebuild import Rebuilder\n"
        "app = create_app({'storage_url': sys.argv[1], 'database_url': sys.argv[2], 'secret_key': 'bench',\n"
        "                  'auto_reindex': False, 'log_level': 'WARNING'})\n"
        "with app.app_context():\n"
        "    rt = app.extensions['flaskpypi']\n"
        "    t, c = time.perf_counter(), time.process_time()\n"
        "    projects, files = Rebuilder(db.session, rt.storage, rt.policy).rebuild()\n"
        "    t, c = time.perf_counter() - t, time.process_time() - c\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'seconds': t, 'cpu': c, 'peak_mib': peak, 'files': files, 'projects': projects}))\n"
    )
    instance = tempfile.mkdtemp(prefix="flaskpypi-bench-instance-")
    out = subprocess.run([sys.executable, "-c", code, storage_url, database_url], capture_output=True, text=True,
                         env={**os.environ, **env, "FLASKPYPI_INSTANCE_PATH": instance}, check=False)  # fmt: skip
    shutil.rmtree(instance, ignore_errors=True)
    if out.returncode:
        raise SystemExit(f"rebuild failed:\n{out.stdout}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def new_database(kind: str, work: Path) -> tuple[str, callable]:
    """A fresh database URL and a function that drops it."""
    if kind == "sqlite":
        path = work / f"db-{uuid.uuid4().hex[:8]}.sqlite"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    import psycopg

    name = f"flaskpypi_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return PG_ADMIN.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}", drop


def fill_s3(emulator: object, url: str, packages: Path) -> None:
    from flaskpypi.storage import load_storage

    storage = load_storage(url, emulator.options)  # type: ignore[attr-defined]
    paths = [p for p in packages.rglob("*.whl")]

    def put(path: Path) -> None:
        with path.open("rb") as stream:
            storage.put(f"{path.parent.name}/{path.name}", stream)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, paths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=7000, help="files in the data set (default 7,000)")
    parser.add_argument("--backend", choices=["file", "s3"], default="file")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    big = 2000 if args.files >= 7000 else args.files // 4  # issue 15's set: 5,000 projects + one of 2,000
    dataset = ensure_dataset(CACHE, args.files - big, big)
    work = Path(tempfile.mkdtemp(prefix="flaskpypi-bench-rebuild-"))
    env: dict[str, str] = {}
    emulator = None
    try:
        if args.backend == "file":
            packages = work / "packages"
            shutil.copytree(dataset.packages, packages)
            url = packages.as_uri()
        else:
            from tests.support.emulators import start

            emulator = start("s3")
            url = emulator.storage_url()
            env = dict(emulator.env)
            started = time.perf_counter()
            fill_s3(emulator, url, dataset.packages)
            print(f"(filled moto with {args.files} wheels in {time.perf_counter() - started:.0f} s)")
        print(f"rebuild of {args.files} files ({dataset.project_count} projects) on {args.backend}, "
              f"{args.database}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        print("| step | seconds | CPU s | ms CPU/file | peak MiB | requests/file |")
        print("|---|---|---|---|---|---|")
        database, drop = new_database(args.database, work)
        try:
            for name in ("first", "empty", "again"):
                if name == "empty":
                    drop()
                    database, drop = new_database(args.database, work)
                before = len(emulator.requests()) if emulator else 0
                figures = step(url, database, env)
                per = (len(emulator.requests()) - before) / args.files if emulator else float("nan")
                print(f"| {name} | {figures['seconds']:.1f} | {figures['cpu']:.1f} | "
                      f"{1000 * figures['cpu'] / args.files:.2f} | {figures['peak_mib']:.0f} | "
                      f"{'-' if per != per else f'{per:.2f}'} |", flush=True)  # fmt: skip
        finally:
            drop()
    finally:
        if emulator is not None:
            emulator.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
