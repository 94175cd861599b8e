"""What share of a pip or uv install of the 30 packages is the server's time, and how close each server comes to
nginx serving the same pages and files as static files (the floor: no server on this machine answers faster).

Run `python bench/install_share.py [--runs 20]`; it writes bench/install_share.md. flaskpypi (as `flaskpypi
serve` runs it), devpi-server and nginx run at once; nginx serves flaskpypi's own pages and files for the 30
projects twice: as they are, and with the PEP 658 metadata attributes taken out of the pages (the client then
reads each wheel's metadata from the wheel, as from an index without PEP 658). Each run installs the 30 pinned
packages with one client from every source in a rotated order (bench/installs.py: no cache, a fresh folder), and
reads the CPU seconds of the server's process group and of the client around it. A ratio is the median over the
runs of the pair's ratio within one run (above 1: flaskpypi was faster), so load that comes and goes weighs on
both sides of each pair alike. A stall is a run more than 3 times that source's median.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from cached_install import DATA as INSTALL_DATA
from cached_install import download
from dataset import ensure_dataset
from installs import client_env, install
from packaging.utils import canonicalize_name, parse_wheel_filename
from procs import BenchError, publish
from servers import Devpi, FlaskPyPI, Paths, Server, group_cpu
from static import StaticServer, write_page

BENCH = Path(__file__).resolve().parent
CLIENTS = ("pip", "uv")
STALL = 3.0  # a run this many times its source's median is a stall
HREF = re.compile(r'href="([^"#]+)')
PEP_658 = re.compile(r' data-(?:core|dist-info)-metadata="[^"]*"')


@dataclass
class Runs:
    """One client's installs from one source: wall seconds, and CPU seconds of the server and of the client."""

    wall: list[float] = field(default_factory=list)
    by_run: dict[int, float] = field(default_factory=dict)  # run number -> wall seconds, for pairing
    server_cpu: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@dataclass
class Source:
    """Where the installs come from: a simple index URL and the process group serving it."""

    name: str
    index_url: str
    pgid: int


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(client: str, source: Source, pins: list[str], env: dict[str, str], runs: Runs, n: int) -> None:
    """One install; its wall time and the CPU seconds the server and the client (with its children) used."""
    server_before, client_before = group_cpu(source.pgid), _children_cpu()
    started = time.perf_counter()
    try:
        install(client, BENCH.parent, source.index_url, pins, env)
    except BenchError as error:
        runs.failures.append(str(error))
        return
    runs.wall.append(time.perf_counter() - started)
    runs.by_run[n] = runs.wall[-1]
    runs.server_cpu.append(group_cpu(source.pgid) - server_before)
    runs.client_cpu.append(_children_cpu() - client_before)


def mirror(base: str, projects: list[str], docs: Path) -> None:
    """Copy flaskpypi's pages (HTML) and files of `projects` into `docs` at the same paths, and each page once
    more under /nometa/ without its PEP 658 attributes (its links still point at the same files)."""
    for project in projects:
        with urlopen(Request(f"{base}/simple/{project}/", headers={"Accept": "text/html"})) as answer:
            page = answer.read()
        write_page(docs, f"/simple/{project}/", page)
        write_page(docs, f"/nometa/simple/{project}/", PEP_658.sub("", page.decode()).encode())
        for href in HREF.findall(page.decode()):
            path = html.unescape(href)
            for suffix in ("", ".metadata"):
                target = docs / (path + suffix).lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with urlopen(base + path + suffix) as answer:
                        target.write_bytes(answer.read())
                except HTTPError:
                    if not suffix:  # a file without PEP 658 metadata has no .metadata: nothing to copy
                        raise


def start(stack: ExitStack, server: Server) -> Source:
    print(f"{server.name}: preparing", flush=True)
    server.prepare()
    base = stack.enter_context(server.running())
    return Source(server.name, base + server.simple_path, server.pgid)


def table(results: dict[tuple[str, str], Runs], clients: list[str], sources: list[str]) -> list[str]:
    lines = [
        "| client | source | runs | wall s min / median / max | stalls | server CPU s (median) | server share "
        "| client CPU s (median) | flaskpypi against it (paired) |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for client in clients:
        ours = results[(client, "flaskpypi")].by_run
        for name in sources:
            runs = results[(client, name)]
            if not runs.wall:
                lines.append(f"| {client} | {name} | 0 | failed: {'; '.join(runs.failures[:1])} | | | | | |")
                continue
            med = statistics.median(runs.wall)
            stalls = sum(1 for w in runs.wall if w > STALL * med)
            server = statistics.median(runs.server_cpu)
            share = statistics.median(s / w for s, w in zip(runs.server_cpu, runs.wall, strict=True))
            paired = [runs.by_run[n] / ours[n] for n in ours if n in runs.by_run and name != "flaskpypi"]
            vs = f"{statistics.median(paired):.2f}x" if paired else "-"
            failed = f" ({len(runs.failures)} failed)" if runs.failures else ""
            lines.append(
                f"| {client} | {name} | {len(runs.wall)}{failed} | {min(runs.wall):.2f} / {med:.2f} / "
                f"{max(runs.wall):.2f} | {stalls} | {server:.3f} | {share:.0%} | "
                f"{statistics.median(runs.client_cpu):.2f} | {vs} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="installs per client and source")
    parser.add_argument("--projects", type=int, default=200, help="projects of the data set besides the 30")
    parser.add_argument("--big-files", type=int, default=100)
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated: pip, uv or both")
    parser.add_argument("--output", type=Path, default=BENCH / "install_share.md")
    args = parser.parse_args(argv)
    clients = [c for c in args.clients.split(",") if c in CLIENTS]
    paths = Paths(repo=BENCH.parent, data=BENCH / ".data", venvs=BENCH / ".venvs")
    paths.logs.mkdir(parents=True, exist_ok=True)
    wheels = download(INSTALL_DATA / "wheels")
    pins = [f"{parse_wheel_filename(w.name)[0]}=={parse_wheel_filename(w.name)[1]}" for w in wheels]
    projects = sorted({canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheels})
    dataset = ensure_dataset(paths.data, args.projects, args.big_files, tuple(wheels))
    results: dict[tuple[str, str], Runs] = {}
    with ExitStack() as stack:
        ours = FlaskPyPI(paths, dataset)
        ours.instance = paths.data / "install-share" / "flaskpypi"  # not run.py's: both may run at once
        flaskpypi = start(stack, ours)
        sources = [flaskpypi, start(stack, Devpi(paths, dataset))]
        docs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="install-share-")))
        mirror(flaskpypi.index_url.removesuffix("/simple/"), projects, docs)
        nginx = StaticServer(docs, paths.logs / "nginx-install-share.log")
        base = stack.enter_context(nginx.running(f"/simple/{projects[0]}/"))
        sources += [Source("nginx (static)", base + "/simple/", nginx.pgid),
                    Source("nginx (static, no PEP 658)", base + "/nometa/simple/", nginx.pgid)]  # fmt: skip
        env = client_env(paths.data / "clients-share")
        began = os.getloadavg()[0]
        for n in range(args.runs):
            for client in clients:
                for source in sources[n % len(sources) :] + sources[: n % len(sources)]:
                    timed(client, source, pins, env, results.setdefault((client, source.name), Runs()), n)
            print(f"run {n + 1} of {args.runs} (load {os.getloadavg()[0]:.2f}): " + ", ".join(
                f"{c} {s.name} {results[(c, s.name)].wall[-1]:.2f} s" for c in clients for s in sources
                if results[(c, s.name)].wall), flush=True)  # fmt: skip
        ended = os.getloadavg()[0]
    lines = [
        "## Installs of 30 packages: the server's share, and the static-file floor",
        "",
        f"{time.strftime('%Y-%m-%d')}; {len(pins)} pinned wheels; flaskpypi serve (2 workers x 4 threads), "
        "devpi-server (waitress), nginx (2 workers) serving flaskpypi's pages and files as static files; "
        f"{args.runs} runs per client, each run visiting every source in a rotated order. Server CPU: the server's "
        "process group during the install; share: server CPU / the install's wall time (median of runs); client "
        "CPU: the client and its children. Paired: median over runs of that source's time / flaskpypi's in the "
        f"same run (above 1x: flaskpypi faster). Load average {began:.2f} at the start, {ended:.2f} at the end.",
        "",
        *table(results, clients, [s.name for s in sources]),
    ]
    return publish(lines, args.output)


if __name__ == "__main__":
    sys.exit(main())
