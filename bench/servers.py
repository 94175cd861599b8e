"""The servers under test: how each is installed, filled with the data set, started and described."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from dataset import DataSet
from devpi_dump import write_dump
from procs import BenchError, dist_version, ensure_venv, free_port, process_group, run, wait_ready

WORKERS = 2
THREADS = 4  # gthread workers keep connections alive, as pip, uv and devpi's waitress do


@dataclass(frozen=True)
class Paths:
    """Where the benchmark keeps its data, virtualenvs and logs."""

    repo: Path
    data: Path
    venvs: Path

    @property
    def logs(self) -> Path:
        return self.data / "logs"


class Server(ABC):
    """One package index server: prepared once, then started for measuring."""

    name: ClassVar[str]
    distributions: ClassVar[tuple[str, ...]]  # whose versions the report shows
    simple_path: ClassVar[str] = "/simple/"
    health_path: ClassVar[str] = "/health"
    ready_timeout: ClassVar[float] = 120

    def __init__(self, paths: Paths, dataset: DataSet) -> None:
        self.paths = paths
        self.dataset = dataset
        self.bin = paths.venvs / self.name / "bin"
        self.setup_note = ""
        self.ready_seconds = 0.0

    @property
    def log(self) -> Path:
        return self.paths.logs / f"{self.name}.log"

    @abstractmethod
    def prepare(self) -> None:
        """Install the server and load the data set into it; raise BenchError if impossible."""

    @abstractmethod
    def command(self, port: int) -> list[str]:
        """The command line that serves the data set on 127.0.0.1:`port`."""

    def version(self) -> str:
        """The versions of the server and of what serves it."""
        python = self.bin / "python"
        return ", ".join(f"{dist} {dist_version(python, dist)}" for dist in self.distributions)

    @abstractmethod
    def served_by(self) -> str:
        """How the server runs: WSGI server, processes, threads, options that matter."""

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    @contextmanager
    def running(self) -> Iterator[str]:
        """Start the server on a free port, wait until it is healthy, yield its base URL, stop it."""
        port = free_port()
        started = time.perf_counter()
        with process_group(self.command(port), log=self.log, env=self.environment()) as proc:
            base_url = f"http://127.0.0.1:{port}"
            wait_ready(base_url + self.health_path, proc, self.log, self.ready_timeout)
            self.ready_seconds = time.perf_counter() - started
            yield base_url


class Peer(Server):
    """A server installed by the benchmark into its own virtualenv under bench/.venvs/."""

    requirements: ClassVar[list[str]]

    def prepare(self) -> None:
        ensure_venv(self.bin.parent, self.requirements, self.log)
        self.fill()

    @abstractmethod
    def fill(self) -> None:
        """Load the data set into the installed server, if it does not serve the folder as is."""


def gunicorn_command(bin_dir: Path, app: str, port: int) -> list[str]:
    """gunicorn with WORKERS gthread workers of THREADS threads on 127.0.0.1, no access log or control socket."""
    gunicorn = str(bin_dir / "gunicorn")
    command = [gunicorn, "-w", str(WORKERS), "-k", "gthread", "--threads", str(THREADS), "-b", f"127.0.0.1:{port}"]
    help_text = subprocess.run([gunicorn, "--help"], capture_output=True, text=True).stdout
    if "--no-control-socket" in help_text:
        command.append("--no-control-socket")
    return [*command, app]


class FlaskPyPI(Server):
    """flaskpypi from the project's own virtualenv, under gunicorn."""

    name = "flaskpypi"
    distributions = ("flaskpypi", "gunicorn")
    ready_timeout = 900  # an empty database is rebuilt from storage on start

    def __init__(self, paths: Paths, dataset: DataSet) -> None:
        super().__init__(paths, dataset)
        self.bin = paths.repo / ".venv" / "bin"
        self.instance = paths.data / "run" / "flaskpypi"

    def prepare(self) -> None:
        if not (self.bin / "gunicorn").exists():
            raise BenchError(f"no gunicorn in {self.bin}: create the project venv first")
        probe = [str(self.bin / "python"), "-c", "from flaskpypi import create_app"]
        result = subprocess.run(probe, capture_output=True, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or [""])[-1]
            raise BenchError(f"cannot import flaskpypi from .venv (`.venv/bin/pip install -e .`?): {last}")
        shutil.rmtree(self.instance, ignore_errors=True)
        self.instance.mkdir(parents=True)
        self.setup_note = "index built from the storage folder by the app itself on start"

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "FLASKPYPI_STORAGE_URL": self.dataset.packages.resolve().as_uri(),
            "FLASKPYPI_DATABASE_URL": f"sqlite:///{(self.instance / 'db.sqlite').resolve()}",
            "FLASKPYPI_INSTANCE_PATH": str(self.instance.resolve()),
            "FLASKPYPI_SECRET_KEY": "bench",
            "FLASKPYPI_FALLBACK": "none",
        }

    def command(self, port: int) -> list[str]:
        return gunicorn_command(self.bin, "flaskpypi:create_app()", port)

    def served_by(self) -> str:
        return f"gunicorn, {WORKERS} gthread workers x {THREADS} threads, SQLite index"


class PyPIServer(Peer):
    """pypiserver in its own virtualenv, its WSGI app under gunicorn."""

    name = "pypiserver"
    distributions = ("pypiserver", "gunicorn")
    requirements: ClassVar[list[str]] = ["pypiserver[cache]", "gunicorn"]

    def fill(self) -> None:
        self.setup_note = "serves the folder as is (no index to build)"

    def command(self, port: int) -> list[str]:
        root = str(self.dataset.packages.resolve())
        app = f"pypiserver:app(roots=[{root!r}], backend_arg='cached-dir', disable_fallback=True)"
        return gunicorn_command(self.bin, app, port)

    def served_by(self) -> str:
        workers = f"gunicorn, {WORKERS} gthread workers x {THREADS} threads"
        return f"{workers}, cached-dir backend (watchdog; what `auto` picks when installed)"


class Devpi(Peer):
    """devpi-server in its own virtualenv: one private index with no base, filled once by devpi-import."""

    name = "devpi"
    distributions = ("devpi-server", "waitress")
    stage = "bench/dev"
    simple_path = f"/{stage}/+simple/"
    health_path = "/+api"
    requirements: ClassVar[list[str]] = ["devpi-server"]

    def __init__(self, paths: Paths, dataset: DataSet) -> None:
        super().__init__(paths, dataset)
        self.serverdir = dataset.root / "devpi-server"  # fill() names it per devpi-server version
        self.logger_cfg = paths.data / "devpi-logging.json"

    def fill(self) -> None:
        server_version = dist_version(self.bin / "python", "devpi-server")
        self.serverdir = self.dataset.root / f"devpi-server-{server_version}"
        self.logger_cfg.write_text(json.dumps(_QUIET_LOGGING))
        marker = self.serverdir / "bench-complete"
        if not marker.exists():
            self._import(server_version, marker)
        took = float(marker.read_text())
        self.setup_note = f"`devpi-import` of {self.dataset.file_count:,} files: {took:.1f} s (once, then reused)"

    def _import(self, server_version: str, marker: Path) -> None:
        print(f"  importing {self.dataset.file_count:,} files into devpi (once, then reused) ...", flush=True)
        staging = self.serverdir.with_name(self.serverdir.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=self.dataset.root) as dump:
            started = time.perf_counter()
            write_dump(self.dataset, Path(dump), server_version, self.stage)
            devpi_import = [str(self.bin / "devpi-import"), "--serverdir", str(staging), "--no-root-pypi"]
            run([*devpi_import, "--hard-links", dump], log=self.log)
            took = time.perf_counter() - started
        (staging / marker.name).write_text(f"{took:.1f}\n")
        shutil.rmtree(self.serverdir, ignore_errors=True)
        staging.rename(self.serverdir)

    def command(self, port: int) -> list[str]:
        return [
            str(self.bin / "devpi-server"),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--serverdir", str(self.serverdir)),
            *("--logger-cfg", str(self.logger_cfg)),
            "--offline-mode",
        ]

    def served_by(self) -> str:
        return "waitress, 1 process with 50 threads (devpi-server runs one process per server dir), --offline-mode"


# Request logging off, as for the gunicorn servers (no access log).
_QUIET_LOGGING = {
    "version": 1,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
}

SERVERS: dict[str, type[Server]] = {cls.name: cls for cls in (FlaskPyPI, PyPIServer, Devpi)}
