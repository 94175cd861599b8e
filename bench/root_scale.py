"""`/simple/` at 5,000 and at 50,000 projects: flaskpypi's root rate at the larger index against the smaller.

Run `python bench/root_scale.py [--large 50000] [--rounds 3]`; it writes bench/root_scale.md. Both indexes are
served at once by `flaskpypi serve` and loaded in interleaved rounds with wrk, with Accept-Encoding: gzip as pip
and uv send it, and without. The same pages served by nginx as static files (bench/static.py) are measured in the
same rounds: their ratio is what the page's size alone costs, the ceiling for any server on this machine. The first
run generates the larger data set and lets flaskpypi build its index from it (minutes); later runs reuse both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.request import Request, urlopen

from dataset import DataSet, ensure_dataset
from loadgen import pick
from procs import BenchError, publish
from servers import FlaskPyPI, Paths
from static import WORKERS as static_workers
from static import StaticServer, write_page
from static import nginx as nginx_binary
from targets import Target

BENCH = Path(__file__).resolve().parent
GZIP = {"Accept-Encoding": "gzip, deflate"}
LABELS = {"baseline": "flaskpypi, code of {baseline}", "nginx": "nginx (static files: the ceiling)"}
ENCODINGS = (("gzip", GZIP), ("identity", {"Accept-Encoding": "identity"}))


class KeptFlaskPyPI(FlaskPyPI):
    """flaskpypi whose instance (and so its index) is kept between runs of this script."""

    def __init__(self, paths: Paths, dataset: DataSet, name: str) -> None:
        super().__init__(paths, dataset)
        self.instance = paths.data / "root-scale" / name

    def prepare(self) -> None:
        if not (self.instance / "db.sqlite").exists():
            super().prepare()
        self.setup_note = "kept"


class BaselineFlaskPyPI(KeptFlaskPyPI):
    """flaskpypi from the code in another folder (say `git archive main | tar -x -C DIR`), with this checkout's
    venv, on a copy of the kept index: the same rounds then measure the code before a change and after it."""

    def __init__(self, kept: KeptFlaskPyPI, source: Path) -> None:
        super().__init__(kept.paths, kept.dataset, kept.instance.name + "-baseline")
        self.kept, self.source = kept, source

    def prepare(self) -> None:
        if not (self.instance / "db.sqlite").exists():
            shutil.rmtree(self.instance, ignore_errors=True)
            self.instance.mkdir(parents=True)
            subprocess.run(["cp", "-al", str(self.kept.instance / "packages"), str(self.instance)], check=True)
            with (
                sqlite3.connect(self.kept.instance / "db.sqlite") as src,
                sqlite3.connect(self.instance / "db.sqlite") as dst,
            ):
                src.backup(dst)
        self.setup_note = f"code of {self.source}"

    def command(self, port: int) -> list[str]:
        # the venv's editable install maps `flaskpypi` to this checkout ahead of sys.path: drop its finder
        launch = (
            "import sys; sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, '__module__', '')"
            f".startswith('__editable___flaskpypi_0')]; sys.path.insert(0, {str(self.source.resolve())!r}); "
            "from flaskpypi.cli import main; sys.argv[0] = 'flaskpypi'; sys.exit(main())"
        )
        return [str(self.bin / "python"), "-c", launch, *super().command(port)[1:]]


def complete(url: str, projects: int, timeout: float = 3600) -> None:
    """Wait until the root lists every project: a first start answers while it still builds its index, and a
    page whose serial moves on every request is not the page measured here."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urlopen(Request(url, headers={"Accept-Encoding": "identity"})) as page:
            if page.read().count(b"<a ") >= projects:
                return
        time.sleep(5)
    raise BenchError(f"{url} did not list {projects:,} projects after {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--output", type=Path, default=BENCH / "root_scale.md")
    parser.add_argument("--baseline", type=Path, help="also measure flaskpypi's code in this folder (A/B)")
    args = parser.parse_args(argv)
    paths = Paths(repo=BENCH.parent, data=BENCH / ".data", venvs=BENCH / ".venvs")
    paths.logs.mkdir(parents=True, exist_ok=True)
    generator = pick("auto")
    sizes = (args.small, args.large)
    servers: dict[tuple[str, int], KeptFlaskPyPI] = {}
    for n in sizes:
        servers[("flaskpypi", n)] = KeptFlaskPyPI(paths, ensure_dataset(paths.data, n, 1), f"p{n}")
        if args.baseline:
            servers[("baseline", n)] = BaselineFlaskPyPI(servers[("flaskpypi", n)], args.baseline)
    measured = ("flaskpypi", "baseline") if args.baseline else ("flaskpypi",)
    try:
        nginx_binary()
        measured += ("nginx",)
    except BenchError as error:
        print(f"no static-file ceiling: {error}", flush=True)
    rates: dict[tuple[str, int, str], list[float]] = {}
    began = os.getloadavg()[0]
    with ExitStack() as stack:
        urls = {}
        for (who, n), server in servers.items():
            print(f"{who} with {n:,} projects: starting (the first time builds its index) ...", flush=True)
            server.prepare()
            urls[(who, n)] = stack.enter_context(server.running()) + "/simple/"
            complete(urls[(who, n)], server.dataset.project_count)
        docs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="root-scale-")))
        for n in sizes:  # the very page flaskpypi sends, as a file
            with urlopen(Request(urls[("flaskpypi", n)], headers={"Accept-Encoding": "identity"})) as page:
                write_page(docs, f"/p{n}/simple/", page.read())
        if "nginx" in measured:
            nginx = StaticServer(docs, paths.logs / "nginx-root-scale.log")
            static = stack.enter_context(nginx.running(f"/p{args.small}/simple/"))
            for n in sizes:
                urls[("nginx", n)] = f"{static}/p{n}/simple/"
        for round_ in range(args.rounds):
            for n in sizes if round_ % 2 == 0 else reversed(sizes):
                for who in measured:
                    for encoding, headers in ENCODINGS:
                        figures = generator.measure(Target(urls[(who, n)], headers), args.seconds, 4)
                        rates.setdefault((who, n, encoding), []).append(figures.rps)
                        print(f"  {who} {n:>6,} projects, {encoding}: {figures.rps:,.0f} req/s", flush=True)
    ended = os.getloadavg()[0]
    lines = [
        "## `/simple/` at two index sizes",
        "",
        f"{time.strftime('%Y-%m-%d')}; flaskpypi serve (2 workers) for each size, both running, and nginx "
        f"({static_workers} workers) serving the same pages as static files (gzip: a copy compressed once); "
        f"{args.rounds} interleaved rounds of {args.seconds} s with {generator.describe(4)}; medians. Load "
        f"average {began:.2f} at the start, {ended:.2f} at the end.",
        "",
        f"| server | Accept-Encoding | {args.small:,} projects req/s | {args.large:,} projects req/s "
        "| ratio (goal: 0.5 or more) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for who in measured:
        for encoding, _ in ENCODINGS:
            small, large = (statistics.median(rates[(who, n, encoding)]) for n in sizes)
            label = LABELS.get(who, who).format(baseline=args.baseline)
            lines.append(f"| {label} | {encoding} | {small:,.0f} | {large:,.0f} | {large / small:.2f} |")
    return publish(lines, args.output)


if __name__ == "__main__":
    sys.exit(main())
