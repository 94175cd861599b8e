"""Benchmark flaskpypi side by side with pypiserver, devpi-server and pypicloud on one generated data set.

All servers run at once and are measured in interleaved rounds (each round visits every endpoint of every
server, in a rotated order), so that the machine's other work weighs on all of them alike. Then pip and uv
install the same 30 packages from each, interleaved too; then the memory of each server is read.
Run `python bench/run.py --help`; see bench/README.md for what is measured and the caveats.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from cached_install import DATA as INSTALL_DATA
from cached_install import download
from dataset import BIG_FILE_PROJECT, BIG_PROJECT, DataSet, ensure_dataset
from installs import client_env, install
from loadgen import LoadGenerator, Measurement, pick
from packaging.utils import parse_wheel_filename
from procs import BenchError, answers_ok
from report import CLIENTS, REBUILDS, ServerRun, document
from servers import SERVERS, Paths, Server
from static import StaticServer
from targets import BIG_DOWNLOAD, ENDPOINTS, Target, discover

BENCH = Path(__file__).resolve().parent
PATHS = Paths(repo=BENCH.parent, data=BENCH / ".data", venvs=BENCH / ".venvs")

FULL = {"projects": 5000, "big_files": 2000, "seconds": 4, "warmup": 1, "rounds": 3, "installs": 20}
QUICK = {"projects": 200, "big_files": 100, "seconds": 1, "warmup": 1, "rounds": 1, "installs": 2}


@dataclass(frozen=True)
class Load:
    """How hard and how long each endpoint is loaded."""

    generator: LoadGenerator
    concurrency: int
    seconds: int
    warmup: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, help=f"one-file projects (default {FULL['projects']})")
    parser.add_argument("--big-files", type=int, help=f"files of {BIG_PROJECT} (default {FULL['big_files']})")
    parser.add_argument("--seconds", type=int, help=f"length of one measured run (default {FULL['seconds']})")
    parser.add_argument("--warmup", type=int, help=f"seconds of warm-up before each run (default {FULL['warmup']})")
    parser.add_argument("--rounds", type=int, help=f"interleaved rounds over all endpoints (default {FULL['rounds']})")
    parser.add_argument("--installs", type=int, help=f"pip and uv installs per server (default {FULL['installs']})")
    parser.add_argument("--install-budget", type=float, default=240,
                        help="seconds of installs per server, after which it gets no more (default 240)")  # fmt: skip
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


def measure(target: Target, load: Load, health_url: str) -> Measurement:
    """Warm up, then measure; let the server drain after each."""
    load.generator.measure(target, load.warmup, load.concurrency)
    drain(health_url)
    figures = load.generator.measure(target, load.seconds, load.concurrency)
    drain(health_url)
    return figures


def drain(health_url: str) -> None:
    """Wait for one answer: queued behind the requests the load generator left unanswered, it returns when
    they are done, so that slow leftovers do not weigh on the next run."""
    if not answers_ok(health_url, timeout=600):
        raise BenchError(f"{health_url} did not answer after a run")


def rotated(items: list, by: int) -> list:
    """The list started at another place each round, so no server always goes first or last."""
    by %= max(1, len(items))
    return items[by:] + items[:by]


class Bench:
    """The servers, started once and kept running, and what each gave."""

    def __init__(self, servers: list[Server], load: Load) -> None:
        self.servers = servers
        self.load = load
        self.runs = {server.name: ServerRun(server.name) for server in servers}
        self.urls: dict[str, str] = {}
        self.targets: dict[str, dict[str, Target | str]] = {}

    def live(self) -> list[Server]:
        return [server for server in self.servers if not self.runs[server.name].failed]

    def start(self, stack: ExitStack, dataset: DataSet) -> None:
        """Prepare each server, start it once to fill its index, then start it again (timed) and keep it."""
        for server in self.servers:
            result = self.runs[server.name]
            print(f"{server.name}: preparing", flush=True)
            try:
                server.prepare()
                result.version, result.served_by = server.version(), server.served_by()
                with server.running():
                    first = server.ready_seconds
                base_url = stack.enter_context(server.running())
                result.start_seconds = server.ready_seconds
                result.setup = f"{server.setup_note} ({first:.1f} s)"
                self.urls[server.name] = base_url
                self.targets[server.name] = discover(base_url + server.simple_path, dataset)
                print(f"  first answer {server.ready_seconds:.2f} s after a start on the populated index", flush=True)
            except BenchError as error:
                result.failed = str(error)
                print(f"  FAILED: {error}", flush=True)

    def endpoints(self, rounds: int) -> None:
        for round_ in range(rounds):
            print(f"round {round_ + 1} of {rounds} (load average {os.getloadavg()[0]:.2f})", flush=True)
            for endpoint in ENDPOINTS:
                for server in rotated(self.live(), round_):
                    self._measure(server, endpoint)

    def _measure(self, server: Server, endpoint: str) -> None:
        result, target = self.runs[server.name], self.targets[server.name][endpoint]
        if isinstance(target, str):
            result.cells[endpoint] = target
            return
        try:
            figures = measure(target, self.load, self.urls[server.name] + server.simple_path)
        except BenchError as error:
            result.failed = str(error)
            return
        cell = result.cells.setdefault(endpoint, [])
        assert isinstance(cell, list)
        cell.append(figures)
        print(f"  {server.name:<10} {endpoint}: {figures.rps:,.1f} req/s, p50 {figures.p50_ms:.1f} ms", flush=True)

    def installs(self, count: int, pins: list[str], scratch: Path, budget: float) -> None:
        """`count` installs with each client from each server, interleaved; a server whose installs took more
        than `budget` seconds in all gets no more (a slow peer would hold the run up for an hour)."""
        env = client_env(scratch)
        spent = {server.name: 0.0 for server in self.servers}
        for n in range(count):
            for client in CLIENTS:
                for server in rotated([s for s in self.live() if spent[s.name] < budget], n):
                    record = self.runs[server.name].installs[client]
                    try:
                        took = install(client, PATHS.repo, self.urls[server.name] + server.simple_path, pins, env)
                    except BenchError as error:
                        record.failures.append(str(error))
                        spent[server.name] += budget / 4  # failures (timeouts) count heavily
                        continue
                    record.seconds.append(took)
                    spent[server.name] += took
            print(f"install {n + 1} of {count}: " + ", ".join(
                f"{s.name} pip {self.runs[s.name].installs['pip'].last()} uv {self.runs[s.name].installs['uv'].last()}"
                for s in self.live()), flush=True)  # fmt: skip

    def memory(self) -> None:
        for server in self.live():
            self.runs[server.name].memory_mb = server.memory_mb()

    def rebuilds(self, rounds: int) -> None:
        """Each server's rebuild of its index from storage into an empty database, a fresh process each time,
        from its own storage and from the bare wheels, in interleaved rounds (servers without an index to
        rebuild are passed over). A failed rebuild is a note, not a failed server."""
        for round_ in range(rounds):
            for kind in REBUILDS:
                for server in rotated(self.live(), round_):
                    try:
                        took = server.rebuild(bare=kind == "bare")
                    except BenchError as error:
                        self.runs[server.name].rebuild_failures.append(f"rebuild ({kind}): {error}")
                        continue
                    if took is not None:
                        self.runs[server.name].rebuilds.setdefault(kind, []).append((took.seconds, took.cpu))
                        print(f"  {server.name:<10} rebuild ({kind}): {took.seconds:.1f} s, {took.cpu:.1f} s CPU "
                              f"(load average {os.getloadavg()[0]:.2f})", flush=True)  # fmt: skip


def static_ceiling(bench: Bench, dataset: DataSet, rounds: int) -> str:
    """A line on the ceiling of the 20 MB row: nginx serving the same wheel as a static file (sendfile), measured
    under the same load in rounds alternating with flaskpypi's download of it. No server answers faster here."""
    ours = bench.targets.get("flaskpypi", {}).get(BIG_DOWNLOAD)
    if not isinstance(ours, Target) or bench.runs["flaskpypi"].failed:
        return ""
    path = f"/{BIG_FILE_PROJECT}/{ours.url.rsplit('/', 1)[-1]}"
    rates: dict[str, list[float]] = {"nginx": [], "flaskpypi": []}
    try:
        with StaticServer(dataset.packages, PATHS.logs / "nginx-ceiling.log").running(path) as base:
            sides = {"nginx": Target(base + path, ours.headers), "flaskpypi": ours}
            for round_ in range(rounds):
                for side in rotated(list(sides), round_):
                    rates[side].append(measure(sides[side], bench.load, sides[side].url).rps)
    except BenchError as error:
        return f"Ceiling of the {BIG_DOWNLOAD} row: not measured ({error})."
    nginx, flaskpypi = (sorted(rates[side])[(rounds - 1) // 2] for side in ("nginx", "flaskpypi"))
    print(f"ceiling: nginx {nginx:,.1f} req/s, flaskpypi {flaskpypi:,.1f} req/s on the 20 MB wheel", flush=True)
    return (
        f"Ceiling of the {BIG_DOWNLOAD} row: nginx serving the same file as a static file (sendfile, 2 workers) "
        f"gives {nginx:,.1f} req/s on this machine, flaskpypi {flaskpypi:,.1f} req/s ({flaskpypi / nginx:.0%} of "
        f"it) in {rounds} rounds alternating with it under the same load; no server here goes above nginx's rate, "
        f"so a peer above {nginx / 3:,.1f} req/s cannot be beaten 3x in this row."
    )


def context(dataset: DataSet, load: Load, args: argparse.Namespace, loads: tuple[float, float]) -> list[str]:
    """The lines that say on what, with what and how fairly the figures were taken."""
    return [
        f"{time.strftime('%Y-%m-%d')}, {_cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}.",
        f"Data set: {dataset.projects:,} projects with one wheel each, `{BIG_PROJECT}` with {dataset.big_files:,} "
        f"wheels, one 20 MB wheel and the {len(dataset.extras)} real wheels of the install set "
        f"({dataset.file_count:,} files, {dataset.project_count:,} projects).",
        f"Load: {load.generator.describe(load.concurrency)}; {args.rounds} interleaved rounds, each a {load.warmup} s "
        f"warm-up and a {load.seconds} s run per endpoint and server; the figure is the round with the median rate. "
        f"Installs: {args.installs} of each client per server, interleaved.",
        "All servers run at once (idle but the one measured), with 2 workers each where the server has workers. "
        "The load generator and the servers share this machine's cores, which other work shares too: "
        f"load average {loads[0]:.2f} when the run began, {loads[1]:.2f} when it ended. Compare ratios.",
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
    load = Load(pick(args.loadgen), args.concurrency, args.seconds, args.warmup)
    wheels = download(INSTALL_DATA / "wheels")
    pins = [f"{parse_wheel_filename(w.name)[0]}=={parse_wheel_filename(w.name)[1]}" for w in wheels]
    print(f"data set: {args.projects:,} projects + {BIG_PROJECT} with {args.big_files:,} files ...", flush=True)
    dataset = ensure_dataset(PATHS.data, args.projects, args.big_files, tuple(wheels))
    shutil.rmtree(PATHS.logs, ignore_errors=True)
    PATHS.logs.mkdir(parents=True)
    bench = Bench([SERVERS[name](PATHS, dataset) for name in args.only.split(",")], load)
    with ExitStack() as stack:
        bench.start(stack, dataset)
        began = os.getloadavg()[0]
        bench.endpoints(args.rounds)
        ceiling = static_ceiling(bench, dataset, args.rounds)
        bench.installs(args.installs, pins, PATHS.data / "clients", args.install_budget)
        bench.memory()
        bench.rebuilds(args.rounds)
        ended = os.getloadavg()[0]
    runs = list(bench.runs.values())
    text = document(context(dataset, load, args, (began, ended)) + ([ceiling] if ceiling else []), runs)
    print("\n" + text)
    args.output.write_text(text)
    print(f"written to {args.output}")
    return 1 if any(run.failed for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
