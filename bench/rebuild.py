"""Rebuild benchmark: the index rebuilt from storage on file:// and on S3 (moto), SQLite or PostgreSQL.

Every step is the product's own command, `flaskpypi reindex`, in a fresh process (wall time, CPU seconds and
peak RSS of that process, from wait4; start-up and migrations included). On S3 the moto server's request log
gives the requests per object by kind, and its /proc entry its own CPU and peak memory. Steps:
  first    an empty database over bare wheels: the app's first start rebuilds (every wheel read; sidecars and
           .metadata written)
  empty    an empty database over a storage with sidecars (a new host or a lost database): the first start
           rebuilds, one GET a file
  again    `reindex` of an index already in step (one listing to count for the progress bar, then the
           rebuild); a server runs over the same database and storage and a new wheel is uploaded to it every
           second while the rebuild runs (the latency of each is printed)

Data sets are cached under $FLASKPYPI_BENCH_DATA (default /tmp/flaskpypi-bench), outside git: the wheels,
and the same tree with sidecars (made once by the `first` step on file:// and SQLite, which is measured and
printed then). moto is filled from that tree in its own process (bench/moto_filled.py), then serves.

    python bench/rebuild.py --files 7000 --backend file
    python bench/rebuild.py --files 100000 --backend s3 --database postgresql --steps empty,again
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]

from dataset import DataSet, ensure_dataset  # noqa: E402
from procs import BenchError, timed  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
CACHE = Path(os.environ.get("FLASKPYPI_BENCH_DATA", Path(tempfile.gettempdir()) / "flaskpypi-bench"))
BIN = Path(sys.executable).parent
STEPS = ("first", "empty", "again")
UPLOAD_EVERY = 1.0  # seconds between uploads during the `again` step
SECRET = "bench"


def flaskpypi_env(storage_url: str, database_url: str, instance: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASKPYPI_")}
    env.update(extra)
    env.update(FLASKPYPI_STORAGE_URL=storage_url, FLASKPYPI_DATABASE_URL=database_url,
               FLASKPYPI_SECRET_KEY=SECRET, FLASKPYPI_INSTANCE_PATH=str(instance),
               FLASKPYPI_LOG_LEVEL="WARNING")  # fmt: skip
    return env


def reindex(storage_url: str, database_url: str, env: dict[str, str], work: Path,
            while_running: Callable[[subprocess.Popen[bytes]], None] | None = None) -> dict[str, float]:  # fmt: skip
    """`flaskpypi reindex` in a fresh process: its wall time, CPU seconds, peak MiB and the files it indexed."""
    instance = Path(tempfile.mkdtemp(prefix="instance-", dir=work))
    try:
        run = timed([str(BIN / "flaskpypi"), "reindex"], env=flaskpypi_env(storage_url, database_url, instance, env),
                    cwd=work, while_running=while_running)  # fmt: skip
    except BenchError as error:
        raise SystemExit(f"reindex failed: {error}") from None
    finally:
        shutil.rmtree(instance, ignore_errors=True)
    found = re.search(r"Indexed (\d+) projects, (\d+) files", run.output)
    if not found:
        raise SystemExit(f"reindex said:\n{run.output[-3000:]}")
    return {"seconds": run.seconds, "cpu": run.cpu, "peak_mib": run.peak_mib,
            "projects": int(found[1]), "files": int(found[2])}  # fmt: skip


def new_database(kind: str, work: Path) -> tuple[str, Callable[[], None]]:
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


def rebuilding(database_url: str) -> bool:
    """Whether a rebuild is running now (its marker row is there)."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30) as conn:
            return conn.execute("SELECT 1 FROM counters WHERE name = 'rebuild-running'").fetchone() is not None
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM counters WHERE name = 'rebuild-running'").fetchone() is not None


def link_tree(source: Path, dest: Path) -> None:
    """A copy of a cached tree made of hard links (nothing rewrites a file in place: writers replace)."""
    subprocess.run(["cp", "-al", str(source), str(dest)], check=True)


def sidecar_tree(dataset: DataSet, work: Path) -> tuple[Path, dict[str, float] | None]:
    """The data set with every sidecar and .metadata, made once by the `first` step on file:// and SQLite
    (measured: its figures are returned the time it is made) and cached beside the wheels."""
    root = dataset.root.with_name(dataset.root.name + "-sidecars")
    if (root / "complete").exists():
        return root / "packages", None
    staging = root.with_name(root.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(dataset.packages), str(staging / "packages")], check=True)
    database, drop = new_database("sqlite", work)
    try:
        figures = reindex((staging / "packages").as_uri(), database, {}, work)
    finally:
        drop()
    (staging / "complete").write_text("made by the first step of bench/rebuild.py\n")
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
    return root / "packages", figures


def start_moto(tree: Path, work: Path) -> Any:
    """moto's server with the tree already under a fresh prefix of its bucket (bench/moto_filled.py);
    an Emulator of tests.support.emulators (its request log, stop())."""
    from tests.support.emulators import BUCKET, S3_CREDENTIALS, Emulator
    from tests.support.server import free_port

    port, prefix = free_port(), f"bench-{uuid.uuid4().hex[:8]}"
    log_path = work / "moto.log"
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, **S3_CREDENTIALS}
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, str(HERE / "moto_filled.py"), str(port), str(tree), BUCKET,
                                    prefix], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env={**os.environ, **env})  # fmt: skip
    emulator = Emulator("s3", port, process, log_path, env, {"endpoint_url": endpoint}, buckets={BUCKET})
    while True:
        if process.poll() is not None:
            raise SystemExit(f"moto exited:\n{emulator.log()[-3000:]}")
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=5).request("GET", "/")
            break
        except OSError:
            time.sleep(0.5)
    return emulator, f"s3://{BUCKET}/{prefix}"


class Moto:
    """The moto server's own figures: requests by kind (from its log), CPU seconds and peak RSS (/proc)."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.pid = emulator.process.pid

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_mib(self) -> float:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024

    def requests(self) -> list[str]:
        return self.emulator.requests()

    def kinds(self, lines: list[str]) -> Counter[str]:
        listing = re.compile(r"^GET /[^/?]+/?\?(?=.*(list-type=|prefix=))")
        return Counter("LIST" if listing.search(line) else line.split(" ", 1)[0] for line in lines)


class Uploads:
    """A live server over the same database and storage, and a new wheel uploaded every UPLOAD_EVERY s while
    a reindex runs: each upload's status, latency, and whether the rebuild's marker was there around it."""

    def __init__(self, work: Path, storage_url: str, database_url: str, env: dict[str, str]) -> None:
        from tests.conftest import ADMIN
        from tests.support import server
        from tests.support.server import LiveServer

        server.STARTUP_TIMEOUT = 900.0  # a file:// start walks the whole folder (the sweep of dead writers' spools)

        settings = {"storage_url": storage_url, "database_url": database_url, "secret_key": SECRET,
                    "admin_user": ADMIN[0], "admin_password": ADMIN[1], "log_level": "WARNING"}  # fmt: skip
        self.server = LiveServer(work / "server", settings, extra_env=env)
        self.database_url = database_url
        self.dists = work / "dists"
        self.results: list[tuple[int, float, bool]] = []

    def __enter__(self) -> Uploads:
        self.server.root.mkdir(parents=True, exist_ok=True)
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def run(self, proc: subprocess.Popen[bytes]) -> None:
        from tests.support.dists import make_wheel
        from tests.support.faults import upload

        n = 0
        while proc.poll() is None:
            wheel = make_wheel(self.dists, "during-reindex", f"1.{n}")
            before = rebuilding(self.database_url)
            started = time.monotonic()
            status = upload(self.server, wheel, timeout=120).status_code
            took = time.monotonic() - started
            self.results.append((status, took, before and rebuilding(self.database_url)))
            n += 1
            time.sleep(max(0.0, UPLOAD_EVERY - took))

    def summary(self) -> str:
        during = [took for _status, took, inside in self.results if inside]
        failed = sum(1 for status, _took, _inside in self.results if status != 200)
        if not during:
            return f"uploads during the reindex: {len(self.results)}, none while the rebuild ran, {failed} failed"
        return (
            f"uploads during the reindex: {len(self.results)} ({len(during)} while the rebuild ran), "
            f"{failed} failed; latency median {statistics.median(during):.3f} s, max {max(during):.3f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=7000, help="files in the data set (default 7,000)")
    parser.add_argument("--backend", choices=["file", "s3"], default="file")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated, in order (default all)")
    parser.add_argument("--no-uploads", action="store_true", help="no server and no uploads during `again`")
    args = parser.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    if not set(steps) <= set(STEPS) or steps != sorted(steps, key=STEPS.index):
        parser.error(f"--steps: some of {', '.join(STEPS)}, in that order")
    big = 2000 if args.files >= 7000 else args.files // 4  # issue 15's set: 5,000 projects + one of 2,000
    dataset = ensure_dataset(CACHE, args.files - big, big)
    work = Path(tempfile.mkdtemp(prefix="flaskpypi-bench-rebuild-"))
    env: dict[str, str] = {}
    emulator = moto = None
    try:
        tree = dataset.packages
        if steps[0] != "first":
            tree, made = sidecar_tree(dataset, work)
            if made:
                print(
                    f"(made the tree with sidecars: first step on file://, SQLite: {made['seconds']:.1f} s, "
                    f"{made['cpu']:.1f} s CPU, {made['peak_mib']:.0f} MiB peak, {made['files']} files)"
                )
        if args.backend == "file":
            link_tree(tree, work / "packages")
            url = (work / "packages").as_uri()
        else:
            emulator, url = start_moto(tree, work)
            moto = Moto(emulator)
            env = dict(emulator.env)
            filled = re.search(r"filled .*", emulator.log())
            print(f"(moto {filled[0] if filled else '?'}; {moto.peak_mib():.0f} MiB peak)", flush=True)
        print(
            f"rebuild of {dataset.file_count} files ({dataset.project_count} projects) on {args.backend}, "
            f"{args.database}; load average {'/'.join(f'{x:.1f}' for x in os.getloadavg())}",
            flush=True,
        )
        print(
            "| step | seconds | CPU s | ms CPU/file | peak MiB | requests/file | requests by kind | "
            "moto CPU s | moto peak MiB | load after |"
        )
        print("|---|---:|---:|---:|---:|---:|---|---:|---:|---|")
        database, drop = new_database(args.database, work)
        try:
            for name in steps:
                if name == "empty" and "first" in steps:
                    drop()
                    database, drop = new_database(args.database, work)
                before = len(moto.requests()) if moto else 0
                moto_cpu = moto.cpu() if moto else 0.0
                uploads = None
                if name == "again" and not args.no_uploads:
                    uploads = Uploads(work, url, database, env).__enter__()
                try:
                    figures = reindex(url, database, env, work, uploads.run if uploads else None)
                finally:
                    if uploads:
                        uploads.__exit__()
                per, kinds, mcpu, mpeak = "-", "-", "-", "-"
                if moto:
                    lines = moto.requests()[before:]
                    per = f"{len(lines) / figures['files']:.2f}"
                    kinds = ", ".join(f"{k} {v}" for k, v in sorted(moto.kinds(lines).items()))
                    mcpu, mpeak = f"{moto.cpu() - moto_cpu:.0f}", f"{moto.peak_mib():.0f}"
                print(f"| {name} | {figures['seconds']:.1f} | {figures['cpu']:.1f} | "
                      f"{1000 * figures['cpu'] / figures['files']:.2f} | {figures['peak_mib']:.0f} | {per} | "
                      f"{kinds} | {mcpu} | {mpeak} | {os.getloadavg()[0]:.1f} |", flush=True)  # fmt: skip
                if uploads:
                    print(uploads.summary(), flush=True)
        finally:
            drop()
    finally:
        if emulator is not None:
            emulator.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
