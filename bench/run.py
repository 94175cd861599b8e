"""Benchmark flaskpypi side by side with pypiserver and devpi-server on one generated data set.

Run `python bench/run.py --help`; see bench/README.md for what is measured and the caveats.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dataset import BIG_PROJECT, DataSet, ensure_dataset
from loadgen import LoadGenerator, Measurement, pick
from procs import BenchError, answers_ok
from report import ServerRun, document
from servers import SERVERS, Paths, Server
from targets import Target, discover

BENCH = Path(__file__).resolve().parent
PATHS = Paths(repo=BENCH.parent, data=BENCH / ".data", venvs=BENCH / ".venvs")

FULL = {"projects": 5000, "big_files": 2000, "requests": 2000, "max_seconds": 20, "warmup": 2}
QUICK = {"projects": 200, "big_files": 100, "requests": 200, "max_seconds": 1, "warmup": 1}


@dataclass(frozen=True)
class Load:
    """How hard and how long each endpoint is loaded."""

    generator: LoadGenerator
    concurrency: int
    requests: int
    max_seconds: int
    warmup: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, help=f"one-file projects (default {FULL['projects']})")
    parser.add_argument("--big-files", type=int, help=f"files of {BIG_PROJECT} (default {FULL['big_files']})")
    parser.add_argument(
        "--requests", type=int, help=f"aim for about N requests per measured run (default {FULL['requests']})"
    )
    parser.add_argument(
        "--max-seconds", type=int, help=f"upper bound of one measured run (default {FULL['max_seconds']})"
    )
    parser.add_argument("--warmup", type=int, help=f"seconds of warm-up per endpoint (default {FULL['warmup']})")
    parser.add_argument("--concurrency", type=int, default=4, help="connections kept busy (default 4)")
    parser.add_argument("--only", default=",".join(SERVERS), help="comma-separated servers (default: all)")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--quick", action="store_true", help="small data set and short runs: a smoke test")
    parser.add_argument("--output", type=Path, default=BENCH / "results.md", help="where to write the table")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    unknown = set(args.only.split(",")) - set(SERVERS)
    if unknown:
        parser.error(f"unknown server(s) {', '.join(sorted(unknown))}; choose from {', '.join(SERVERS)}")
    return args


def run_seconds(warm: Measurement, load: Load) -> int:
    """Length of the measured run: long enough for about `load.requests` requests, within bounds."""
    if warm.rps <= 0:
        return load.max_seconds
    return max(1, min(load.max_seconds, math.ceil(load.requests / warm.rps)))


def measure(target: Target, load: Load, health_url: str) -> Measurement:
    """Warm up, then measure for a time sized from the warm-up's rate; let the server drain after each."""
    warm = load.generator.measure(target, load.warmup, load.concurrency)
    drain(health_url)
    figures = load.generator.measure(target, run_seconds(warm, load), load.concurrency)
    drain(health_url)
    return figures


def drain(health_url: str) -> None:
    """Wait for one health check: queued behind the requests the load generator left unanswered, it
    returns when they are done, so that slow leftovers do not weigh on the next run."""
    if not answers_ok(health_url, timeout=600):
        raise BenchError(f"{health_url} did not answer after a run")


def bench_server(server: Server, dataset: DataSet, load: Load) -> ServerRun:
    """Prepare, start, verify and load one server; a failure is recorded, not raised."""
    result = ServerRun(server.name)
    print(f"{server.name}:", flush=True)
    try:
        server.prepare()
        result.version, result.served_by = server.version(), server.served_by()
        with server.running() as base_url:
            result.setup = f"{server.setup_note}; healthy {server.ready_seconds:.1f} s after start"
            health_url = base_url + server.health_path
            for endpoint, target in discover(base_url + server.simple_path, dataset).items():
                result.cells[endpoint] = target if isinstance(target, str) else measure(target, load, health_url)
                print(f"  {endpoint}: {_progress(result.cells[endpoint])}", flush=True)
    except BenchError as error:
        result.failed = str(error)
        print(f"  FAILED: {error}", flush=True)
    return result


def _progress(cell: Measurement | str) -> str:
    if isinstance(cell, str):
        return f"n/a ({cell})"
    return (
        f"{cell.rps:,.1f} req/s, p50 {cell.p50_ms:.1f} ms, p99 {cell.p99_ms:.1f} ms "
        f"({cell.requests:,} requests in {cell.seconds:.1f} s, {cell.errors} errors)"
    )


def context(dataset: DataSet, load: Load, runs: list[ServerRun], load_average: float) -> list[str]:
    """The lines that say on what, with what and how fairly the figures were taken."""
    cpu_share = max(
        (cell.loadgen_cpu for run in runs for cell in run.cells.values() if isinstance(cell, Measurement)),
        default=0.0,
    )
    return [
        f"{time.strftime('%Y-%m-%d')}, {_cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}.",
        f"Data set: {dataset.projects:,} projects with one wheel each, plus `{BIG_PROJECT}` with "
        f"{dataset.big_files:,} wheels ({dataset.file_count:,} files).",
        f"Load: {load.generator.describe(load.concurrency)}; per endpoint a {load.warmup} s warm-up, "
        f"then a run sized for about {load.requests:,} requests (1 to {load.max_seconds} s). "
        "Latencies in milliseconds; the ratios are flaskpypi's requests/s divided by the peer's.",
        "Fairness: the load generator and the server share this machine's cores, so every figure is lower "
        "than on separate machines; one server runs at a time, and every server gets the same generator, "
        f"concurrency and run length. The load generator used at most {cpu_share:.0%} of one core. "
        f"Load average when the run began: {load_average:.2f} (other work on the machine lowers every figure).",
    ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that every started server is stopped by its finally block."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _stop_on_sigterm()
    load_average = os.getloadavg()[0]
    load = Load(pick(args.loadgen), args.concurrency, args.requests, args.max_seconds, args.warmup)
    print(f"data set: {args.projects:,} projects + {BIG_PROJECT} with {args.big_files:,} files ...", flush=True)
    dataset = ensure_dataset(PATHS.data, args.projects, args.big_files)
    shutil.rmtree(PATHS.logs, ignore_errors=True)
    PATHS.logs.mkdir(parents=True)
    runs = [bench_server(SERVERS[name](PATHS, dataset), dataset, load) for name in args.only.split(",")]
    text = document(context(dataset, load, runs, load_average), runs)
    print("\n" + text)
    args.output.write_text(text)
    print(f"written to {args.output}")
    return 1 if any(run.failed for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
