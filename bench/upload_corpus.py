"""Uploading the real corpus: files/s and MB/s of flaskpypi, pypiserver and devpi-server taking every file of
tests/corpus/corpus.txt (hundreds of real files of popular projects) through the legacy upload API.

Run `python bench/upload_corpus.py [--rounds N] [--only flaskpypi,pypiserver,devpi]`; it prints a Markdown
table and writes bench/upload_corpus.md. Each round starts every server afresh on an empty store and uploads
the whole corpus from one client, one file after the other as twine does (the form twine sends, built in
tests/support/corpus.py, so files twine refuses on the client side are sent too); the servers take turns
within each round (interleaved), and the table gives the median of the rounds and flaskpypi's figure
divided by each peer's. A file a server refuses is counted and named, not timed out of the figures.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from procs import BenchError, dist_version, ensure_venv, free_port, process_group, wait_ready  # noqa: E402
from servers import PEER_WORKER, THREADS, WORKERS, gunicorn_command  # noqa: E402

from tests.support.corpus import CorpusFile, corpus_files, legacy_upload_form  # noqa: E402

REPO = BENCH.parent
VENVS = BENCH / ".venvs"
LOGS = BENCH / ".data" / "logs"
USER = ("bench", "bench-Upload-1")


@dataclass
class Round:
    """One server's upload of the corpus."""

    seconds: float
    accepted: int
    megabytes: float
    refused: list[str] = field(default_factory=list)


class Uploader:
    """A server under test, started on an empty store; `url` takes the legacy upload POST."""

    name = ""
    distributions: tuple[str, ...] = ()
    bin = REPO / ".venv" / "bin"

    def prepare(self) -> None:
        """Install what the server needs."""

    @contextmanager
    def running(self, root: Path) -> Iterator[str]:
        """Start the server with its store under root; yield the upload URL."""
        raise NotImplementedError

    def version(self) -> str:
        return ", ".join(f"{d} {dist_version(self.bin / 'python', d)}" for d in self.distributions)


class FlaskPyPI(Uploader):
    name = "flaskpypi"
    distributions = ("flaskpypi", "gunicorn")
    served_by = (
        f"`flaskpypi serve`: gunicorn, {WORKERS} workers (flaskpypi.worker) x {THREADS} threads, file storage, SQLite"
    )

    @contextmanager
    def running(self, root: Path) -> Iterator[str]:
        port = free_port()
        settings = {"STORAGE_URL": (root / "packages").as_uri(), "DATABASE_URL": f"sqlite:///{root / 'db.sqlite'}",
                    "INSTANCE_PATH": str(root / "instance"), "SECRET_KEY": "bench", "FALLBACK": "none",
                    "ADMIN_USER": USER[0], "ADMIN_PASSWORD": USER[1], "WORKERS": str(WORKERS),
                    "THREADS": str(THREADS)}  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLASKPYPI_")}
        env.update({f"FLASKPYPI_{key}": value for key, value in settings.items()})
        command = [str(self.bin / "flaskpypi"), "serve", "--bind", f"127.0.0.1:{port}"]
        with process_group(command, log=LOGS / "upload-flaskpypi.log", env=env) as proc:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/health", proc, LOGS / "upload-flaskpypi.log", 120)
            yield base + "/legacy/"


class PyPIServer(Uploader):
    name = "pypiserver"
    distributions = ("pypiserver", "gunicorn")
    bin = VENVS / "pypiserver" / "bin"
    served_by = f"gunicorn, {WORKERS} {PEER_WORKER} workers, a packages folder, uploads without auth"

    def prepare(self) -> None:
        ensure_venv(self.bin.parent, ["pypiserver[cache]", "gunicorn"], LOGS / "pypiserver.log")

    @contextmanager
    def running(self, root: Path) -> Iterator[str]:
        port = free_port()
        packages = root / "packages"
        packages.mkdir(parents=True)
        app = f"pypiserver:app(roots=[{str(packages)!r}], authenticate=[], password_file='.', disable_fallback=True)"
        with process_group(gunicorn_command(self.bin, app, port), log=LOGS / "upload-pypiserver.log") as proc:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/simple/", proc, LOGS / "upload-pypiserver.log", 120)
            yield base + "/"


class Devpi(Uploader):
    name = "devpi"
    distributions = ("devpi-server", "waitress")
    bin = VENVS / "devpi" / "bin"
    served_by = "waitress, 1 process with 50 threads, a user index without bases, --offline-mode"

    def prepare(self) -> None:
        ensure_venv(self.bin.parent, ["devpi-server"], LOGS / "devpi.log")

    @contextmanager
    def running(self, root: Path) -> Iterator[str]:
        from procs import run

        port = free_port()
        serverdir = root / "devpi"
        run([str(self.bin / "devpi-init"), "--serverdir", str(serverdir), "--no-root-pypi"], log=LOGS / "devpi.log")
        command = [str(self.bin / "devpi-server"), "--host", "127.0.0.1", "--port", str(port), "--serverdir",
                   str(serverdir), "--offline-mode"]  # fmt: skip
        with process_group(command, log=LOGS / "upload-devpi.log") as proc:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/+api", proc, LOGS / "upload-devpi.log", 120)
            self._make_index(base)
            yield f"{base}/{USER[0]}/dev/"

    @staticmethod
    def _make_index(base: str) -> None:
        """A user and an index without bases, by devpi's JSON API (as `devpi user -c` and `devpi index -c` do)."""
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        user = requests.put(f"{base}/{USER[0]}", data=json.dumps({"password": USER[1]}), headers=headers, timeout=30)
        login = requests.post(f"{base}/+login", data=json.dumps({"user": USER[0], "password": USER[1]}),
                              headers=headers, timeout=30)  # fmt: skip
        if user.status_code != 201 or login.status_code != 200:
            raise BenchError(f"devpi: user {user.status_code}, login {login.status_code}: {login.text[:200]}")
        token = login.json()["result"]["password"]
        auth = base64.b64encode(f"{USER[0]}:{token}".encode()).decode()
        index = requests.put(f"{base}/{USER[0]}/dev", data=json.dumps({"bases": []}),
                             headers={**headers, "X-Devpi-Auth": auth}, timeout=30)  # fmt: skip
        if index.status_code not in (200, 201):
            raise BenchError(f"devpi: creating the index answered {index.status_code}: {index.text[:200]}")


UPLOADERS = {cls.name: cls for cls in (FlaskPyPI, PyPIServer, Devpi)}


def upload_all(url: str, files: list[CorpusFile]) -> Round:
    """POST every file once, in order, on one keep-alive session (as twine does); time the whole run."""
    forms = [(f, legacy_upload_form(f), f.path.read_bytes()) for f in files]  # prepared before the clock
    refused = []
    with requests.Session() as session:
        session.auth = USER
        started = time.perf_counter()
        for f, form, data in forms:
            response = session.post(url, data=form, files={"content": (f.filename, data)}, timeout=300)
            if response.status_code != 200:
                refused.append(f"{f.filename}: {response.status_code} {response.reason}")
        seconds = time.perf_counter() - started
    accepted = len(files) - len(refused)
    return Round(seconds, accepted, sum(f.entry.size for f in files) / 1e6, refused)


def table(files: list[CorpusFile], results: dict[str, list[Round]], notes: list[str]) -> str:
    mb = sum(f.entry.size for f in files) / 1e6
    lines = [f"# Uploading the real corpus: {len(files)} files, {len({f.name for f in files})} projects, {mb:.1f} MB",
             "", f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
             f"load average {os.getloadavg()[0]:.1f} at the end; rounds: {max(map(len, results.values()), default=0)}",
             "", "| server | files/s | MB/s | seconds (median) | accepted | flaskpypi files/s ÷ this |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    ours = (
        statistics.median(len(files) / r.seconds for r in results.get("flaskpypi", [])) if "flaskpypi" in results else 0
    )
    for name, rounds in results.items():
        rate = statistics.median(len(files) / r.seconds for r in rounds)
        mbs = statistics.median(r.megabytes / r.seconds for r in rounds)
        seconds = statistics.median(r.seconds for r in rounds)
        ratio = f"{ours / rate:.2f}" if ours and rate else "-"
        lines.append(f"| {name} | {rate:.1f} | {mbs:.2f} | {seconds:.1f} | {rounds[-1].accepted} | {ratio} |")
        for refusal in rounds[-1].refused[:10]:
            notes.append(f"{name} refused {refusal}")
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--only", default=",".join(UPLOADERS), help="comma-separated subset of servers")
    parser.add_argument("--output", type=Path, default=BENCH / "upload_corpus.md")
    args = parser.parse_args(argv)
    LOGS.mkdir(parents=True, exist_ok=True)
    files = corpus_files()
    servers, notes = [], []
    for name in args.only.split(","):
        server = UPLOADERS[name]()
        try:
            server.prepare()
        except BenchError as exc:
            notes.append(f"{name} not measured: {exc}")
            continue
        servers.append(server)
    results: dict[str, list[Round]] = {}
    for number in range(1, args.rounds + 1):
        for server in list(servers):
            with tempfile.TemporaryDirectory(prefix=f"upload-{server.name}-", dir=BENCH / ".data") as root:
                try:
                    with server.running(Path(root)) as url:
                        result = upload_all(url, files)
                except BenchError as exc:
                    notes.append(f"{server.name} not measured: {exc}")
                    servers.remove(server)
                    continue
            results.setdefault(server.name, []).append(result)
            print(f"round {number}: {server.name} {len(files) / result.seconds:.1f} files/s "
                  f"({result.accepted} accepted) in {result.seconds:.1f}s", flush=True)  # fmt: skip
    notes += [f"{s.name}: {s.version()}; {s.served_by}" for s in servers]
    report = table(files, results, notes)
    print(report)
    args.output.write_text(report)
    return 0 if results.get("flaskpypi") else 1


if __name__ == "__main__":
    sys.exit(main())
