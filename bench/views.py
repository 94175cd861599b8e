"""A view of three members against a single index, over HTTP on the real server (issue 14's benchmark row).

    .venv/bin/python bench/views.py [--rounds 3] [--seconds 4] [--files 100]

`flaskpypi serve` (as bench/run.py runs it) with the built-in hosted index holding `local` (FILES wheels) and two
upstream indexes, each a static PEP 503 index on loopback (tests/support/static_index.py): `a` holds `other`,
`b` holds `remote` (FILES wheels). The view `three` = default + a + b. Loaded with wrk (or the Python load
generator) in interleaved rounds, medians:

- `/simple/local/`: the single index (today's page);
- `/three/simple/local/`: the view, the project held by its first member (the goal: within 1.5x of the above);
- `/three/simple/remote/`: the view, the project from its last member (upstream pages kept for their TTL);
- `/default/simple/local/`: the index at its own name.

Prints the table and the ratios; writes bench/views.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from procs import publish

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from dataset import DataSet  # noqa: E402
from loadgen import pick  # noqa: E402
from servers import FlaskPyPI, Paths  # noqa: E402
from targets import Target  # noqa: E402

from tests.support.dists import make_wheel  # noqa: E402
from tests.support.static_index import serve_directory, write_simple_index  # noqa: E402

PATHS = ("/simple/local/", "/three/simple/local/", "/three/simple/remote/", "/default/simple/local/")
HEADERS = {"Accept": "application/vnd.pypi.simple.v1+json", "Accept-Encoding": "gzip, deflate"}  # what uv sends


class ViewsFlaskPyPI(FlaskPyPI):
    """flaskpypi serving the built-in index and two upstream indexes (`upstreams`: name -> simple URL)."""

    def __init__(self, paths: Paths, dataset: DataSet, upstreams: dict[str, str]) -> None:
        super().__init__(paths, dataset)
        self.instance = dataset.root / "instance"
        self.upstreams = upstreams

    def prepare(self) -> None:
        super().prepare()
        tables = [f'[indexes.{name}]\ntype = "upstream"\nurl = "{url}"\nmode = "redirect"\nttl = "1h"\n'
                  for name, url in self.upstreams.items()]  # fmt: skip
        members = ", ".join(f'"{m}"' for m in ("default", *self.upstreams))
        tables.append(f"[views.three]\nmembers = [{members}]\n")
        (self.instance / "flaskpypi.toml").write_text("\n".join(tables))
        self.setup_note = "index built from the storage folder on start; views from flaskpypi.toml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--files", type=int, default=100, help="wheels of `local` and of `remote` (default 100)")
    parser.add_argument("--output", type=Path, default=BENCH / "views.md")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-views-"))
    code = run(root, args)  # a failure keeps the folder (and the server's log) to look at
    shutil.rmtree(root, ignore_errors=True)
    return code


def run(root: Path, args: argparse.Namespace) -> int:
    paths = Paths(repo=BENCH.parent, data=root / "data", venvs=BENCH / ".venvs")
    paths.logs.mkdir(parents=True, exist_ok=True)
    dataset = DataSet(0, 0, root / "hosted")
    for v in range(args.files):
        make_wheel(dataset.packages / "local", "local", f"1.{v}")
    wheels = {"a": [make_wheel(root / "made-a", "other", "1.0")],
              "b": [make_wheel(root / "made-b", "remote", f"1.{v}") for v in range(args.files)]}  # fmt: skip
    generator = pick("auto")
    rates: dict[str, list[float]] = {}
    began = os.getloadavg()[0]
    with ExitStack() as stack:
        upstreams = {}
        for name, files in wheels.items():
            base = stack.enter_context(serve_directory(write_simple_index(root / f"up-{name}", files)))
            upstreams[name] = base.rstrip("/") + "/simple/"
        server = ViewsFlaskPyPI(paths, dataset, upstreams)
        server.prepare()
        url = stack.enter_context(server.running())
        for round_ in range(args.rounds):
            order = PATHS if round_ % 2 == 0 else tuple(reversed(PATHS))
            for path in order:
                figures = generator.measure(Target(url + path, HEADERS), args.seconds, 4)
                if figures.errors:
                    raise SystemExit(f"{path}: {figures.errors} errors (see {server.log})")
                rates.setdefault(path, []).append(figures.rps)
                print(f"  round {round_ + 1} {path}: {figures.rps:,.0f} req/s", flush=True)
    ended = os.getloadavg()[0]
    single = statistics.median(rates[PATHS[0]])
    lines = [
        "## A view of three members against a single index",
        "",
        f"{time.strftime('%Y-%m-%d')}; `flaskpypi serve` (its production defaults), the built-in index + two "
        f"upstream indexes (static PEP 503 indexes on loopback, pages kept 1 h); {args.files} files per page; "
        f"PEP 691 JSON with gzip, as uv asks; {args.rounds} interleaved rounds of {args.seconds} s with "
        f"{generator.describe(4)}; medians. Load average {began:.2f} at the start, {ended:.2f} at the end.",
        "",
        "| page | req/s | time per page vs `/simple/local/` (goal for the view: 1.5x or less) |",
        "| --- | ---: | ---: |",
    ]
    for path in PATHS:
        rate = statistics.median(rates[path])
        lines.append(f"| `{path}` | {rate:,.0f} | {single / rate:.2f}x |")
    return publish(lines, args.output)


if __name__ == "__main__":
    sys.exit(main())
