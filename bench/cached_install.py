"""Warm cached install: pip installs a 30-package set through flaskpypi in cache mode (every file already
cached, the upstream stopped) against the same install from a static index directory, the physical floor.

Run `python bench/cached_install.py [--rounds N]`; it writes bench/cached_install.md. The wheels are real
ones, downloaded once by pip from the registry into bench/.data/cached-install/wheels.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from packaging.utils import parse_wheel_filename  # noqa: E402

from tests.support.clients import Venv, check, clean_env, pip_install  # noqa: E402
from tests.support.server import LiveServer  # noqa: E402
from tests.support.static_index import serve_directory, write_simple_index  # noqa: E402

DATA = BENCH / ".data" / "cached-install"
# Resolves to 30 wheels (with their dependencies) on CPython 3.11 / Linux.
REQUIREMENTS = ("flask", "requests", "rich", "httpx", "pyyaml", "attrs", "python-dateutil", "packaging",
                "jsonschema")  # fmt: skip
TARGET = 1.2


def download(dest: Path) -> list[Path]:
    """The wheels of REQUIREMENTS and their dependencies, fetched by pip once."""
    marker = dest / "requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if not (marker.exists() and marker.read_text() == wanted):
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.glob("*.whl"):
            old.unlink()
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--dest", str(dest), *REQUIREMENTS]
        subprocess.run(cmd, check=True)
        marker.write_text(wanted)
    return sorted(dest.glob("*.whl"))


def timed_install(venv_dir: Path, index_url: str, pins: list[str]) -> float:
    """Seconds pip takes to install the pinned set into a fresh venv (the venv is made before the clock)."""
    venv = Venv.create(venv_dir, pip=True)
    started = time.monotonic()
    check(pip_install(venv, index_url, *pins, env=clean_env()))
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured installs of each kind (default 5)")
    parser.add_argument("--output", type=Path, default=BENCH / "cached_install.md")
    args = parser.parse_args(argv)
    wheels = download(DATA / "wheels")
    pins = [f"{parse_wheel_filename(w.name)[0]}=={parse_wheel_filename(w.name)[1]}" for w in wheels]
    floor_url = (write_simple_index(DATA / "static", wheels) / "simple").as_uri() + "/"
    runs = DATA / "runs"
    subprocess.run(["rm", "-rf", str(runs)], check=True)
    settings = {"storage_url": (runs / "server" / "packages").as_uri(),
                "database_url": f"sqlite:///{runs / 'server' / 'index.sqlite'}", "secret_key": "bench",
                "fallback": "cache", "cache_update": "everyone", "upstream_ttl": "1d"}  # fmt: skip
    (runs / "server").mkdir(parents=True)
    with serve_directory(DATA / "static") as base:
        upstream_url = base + "simple/"
        server = LiveServer(runs / "server", {**settings, "upstream_url": upstream_url}).start()
        try:
            cold = timed_install(runs / "cold", server.index_url, pins)
            print(f"cold install through flaskpypi (fetching {len(wheels)} files): {cold:.2f} s", flush=True)
        except BaseException:
            server.stop()
            raise
    try:  # the upstream is gone from here on: every page and file must come from the cache
        floor, http, index = [], [], []
        with serve_directory(DATA / "static") as base:
            http_url = base + "simple/"
            for n in range(args.rounds):
                floor.append(timed_install(runs / f"floor{n}", floor_url, pins))
                http.append(timed_install(runs / f"http{n}", http_url, pins))
                index.append(timed_install(runs / f"index{n}", server.index_url, pins))
                print(f"round {n + 1}: static directory {floor[-1]:.2f} s, over HTTP {http[-1]:.2f} s, "
                      f"flaskpypi {index[-1]:.2f} s", flush=True)  # fmt: skip
    finally:
        server.stop()
    text = report(len(wheels), cold, floor, http, index)
    print("\n" + text)
    args.output.write_text(text)
    return 0


def report(count: int, cold: float, floor: list[float], http: list[float], index: list[float]) -> str:
    """The result as a markdown table row with its context."""
    f, h, i = statistics.median(floor), statistics.median(http), statistics.median(index)
    verdict = "within" if i / f <= TARGET else "outside"
    return (
        "## Warm cached install\n\n"
        f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"pip into a fresh venv, `--no-cache-dir`, {len(floor)} rounds of each kind interleaved, medians.\n"
        "flaskpypi: gunicorn (2 workers), SQLite, file storage, `fallback = cache`, every file already cached "
        "and the upstream stopped. Floor: the same wheels as a static PEP 503 directory, read by pip as a "
        "`file://` index; and the same directory served over HTTP by Python's http.server (no PEP 658 "
        "metadata there, so pip makes 30 fewer requests than against flaskpypi).\n\n"
        "| Install | Packages | Static directory (floor) s | Same over HTTP s | flaskpypi s | Ratio to floor | "
        "Ratio to HTTP | Target |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
        f"| warm cached install | {count} | {f:.2f} | {h:.2f} | {i:.2f} | {i / f:.2f}x | {i / h:.2f}x | "
        f"<= {TARGET}x of the floor ({verdict}) |\n\n"
        f"Cold install through flaskpypi (each file fetched from a local upstream once): {cold:.2f} s.\n"
    )


if __name__ == "__main__":
    sys.exit(main())
