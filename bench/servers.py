"""The servers under test: how each is installed, filled with the data set, started and described."""

from __future__ import annotations

import email.parser
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from dataset import DataSet
from devpi_dump import write_dump
from procs import BenchError, Timed, dist_version, ensure_venv, free_port, process_group, run, timed, wait_ready

WORKERS = 2
THREADS = 4  # flaskpypi's threads per worker
# The gunicorn peers run sync workers: gunicorn's own gthread worker hands each new connection to a thread that
# waits up to 5 s for its first bytes, and uv, which opens connections ahead of use, then stalls or times out
# (seen with pypiserver here). flaskpypi's worker (flaskpypi/worker.py) is gthread without that wait.
PEER_WORKER = "sync"


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
        self.pgid = 0

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
        """Start the server on a free port, wait for the first answer of its simple root, yield its base URL,
        stop it. `ready_seconds` is the time from the command to that answer."""
        port = free_port()
        started = time.perf_counter()
        with process_group(self.command(port), log=self.log, env=self.environment()) as proc:
            base_url = f"http://127.0.0.1:{port}"
            wait_ready(base_url + self.simple_path, proc, self.log, self.ready_timeout)
            self.ready_seconds = time.perf_counter() - started
            self.pgid = proc.pid
            yield base_url

    def memory_mb(self) -> float:
        """Proportional set size (shared pages split among sharers) of every process of the running server, MB."""
        return group_pss(self.pgid) / 2**20

    def rebuild(self, bare: bool) -> Timed | None:
        """Rebuild the server's index from its storage into an empty database in a fresh process, timed; from
        the storage as the server keeps it (`bare` False) or from the bare wheels. None: it has no index to
        rebuild."""
        return None


class Peer(Server):
    """A server installed by the benchmark into its own virtualenv under bench/.venvs/."""

    requirements: ClassVar[list[str]]
    python: ClassVar[str | None] = None  # the interpreter of its venv (None: the one running the bench)

    def prepare(self) -> None:
        ensure_venv(self.bin.parent, self.requirements, self.log, self.python)
        self.fill()

    @abstractmethod
    def fill(self) -> None:
        """Load the data set into the installed server, if it does not serve the folder as is."""


def gunicorn_command(bin_dir: Path, app: str, port: int) -> list[str]:
    """gunicorn with WORKERS sync workers on 127.0.0.1, no access log or control socket.

    The timeout is 300 s, not gunicorn's 30: pypiserver's first page of a project hashes its files and sets up
    its watchdog over the whole folder, which on a loaded machine outlasted 30 s, and gunicorn then killed the
    worker mid-request (a 500), leaving the peer unmeasured."""
    gunicorn = str(bin_dir / "gunicorn")
    command = [gunicorn, "-c", os.devnull,  # not the checkout's gunicorn.conf.py, which is flaskpypi's
               "-w", str(WORKERS), "-k", PEER_WORKER, "-b", f"127.0.0.1:{port}", "--timeout", "300"]  # fmt: skip
    help_text = subprocess.run([gunicorn, "--help"], capture_output=True, text=True).stdout
    if "--no-control-socket" in help_text:
        command.append("--no-control-socket")
    return [*command, app]


class FlaskPyPI(Server):
    """flaskpypi from the project's own virtualenv, as `flaskpypi serve` runs it (the production defaults of
    flaskpypi/serving.py: its gunicorn worker, keep-alive), on a hard-linked copy of the data set (its index
    writes sidecars beside the files, which the peers must not see)."""

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
        # bytecode, as pip and the Dockerfile's install leave it (the peers' venvs are pip's): the checkout's
        # venv comes from uv, which compiles none, and PYTHONDONTWRITEBYTECODE would keep it that way
        run([str(self.bin / "python"), "-m", "compileall", "-q", "-j", "0", str(self.paths.repo / "flaskpypi"),
             *site_packages(self.bin / "python")], log=self.log)  # fmt: skip
        shutil.rmtree(self.instance, ignore_errors=True)
        self.instance.mkdir(parents=True)
        run(["cp", "-al", str(self.dataset.packages), str(self.instance / "packages")])
        self.setup_note = "index built from the storage folder by the app itself on its first start"

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "FLASKPYPI_BIND": "127.0.0.1:0",  # replaced by command()
            "FLASKPYPI_WORKERS": str(WORKERS),
            "FLASKPYPI_THREADS": str(THREADS),
            "FLASKPYPI_STORAGE_URL": (self.instance / "packages").resolve().as_uri(),
            "FLASKPYPI_DATABASE_URL": f"sqlite:///{(self.instance / 'db.sqlite').resolve()}",
            "FLASKPYPI_INSTANCE_PATH": str(self.instance.resolve()),
            "FLASKPYPI_SECRET_KEY": "bench",
            "FLASKPYPI_FALLBACK": "none",
        }

    def command(self, port: int) -> list[str]:
        return [str(self.bin / "flaskpypi"), "serve", "--bind", f"127.0.0.1:{port}"]

    def served_by(self) -> str:
        return f"`flaskpypi serve`: gunicorn, {WORKERS} workers (flaskpypi.worker, gthread) x {THREADS} threads, SQLite"

    def rebuild(self, bare: bool) -> Timed | None:
        """`flaskpypi reindex` over a hard-linked copy of the storage (its sidecars, written by the first start)
        or of the bare wheels (it reads each, writes its sidecar and .metadata), into an empty SQLite database:
        the app's start rebuilds it (start-up included)."""
        source = self.dataset.packages if bare else self.instance / "packages"
        with tempfile.TemporaryDirectory(prefix="rebuild-", dir=self.instance.parent) as tmp:
            folder = Path(tmp).resolve()
            run(["cp", "-al", str(source), str(folder / "packages")])
            env = {**self.environment(), "FLASKPYPI_STORAGE_URL": (folder / "packages").as_uri(),
                   "FLASKPYPI_DATABASE_URL": f"sqlite:///{folder / 'db.sqlite'}",
                   "FLASKPYPI_INSTANCE_PATH": str(folder), "FLASKPYPI_LOG_LEVEL": "WARNING"}  # fmt: skip
            return timed([str(self.bin / "flaskpypi"), "reindex"], env=env, log=self.log)


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
        workers = f"gunicorn, {WORKERS} {PEER_WORKER} workers"
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


class PyPICloud(Peer):
    """pypicloud (Pyramid) on Python 3.10 (it needs one: its last release predates 3.11 support), file storage
    on the data set's folder, its SQL cache in SQLite, under gunicorn like pypiserver (same workers)."""

    name = "pypicloud"
    distributions = ("pypicloud", "gunicorn")
    requirements: ClassVar[list[str]] = ["pypicloud", "sqlalchemy<1.4", "gunicorn", "pastedeploy", "setuptools<70"]
    ready_timeout = 900  # the first start loads every file of the folder into its cache

    def __init__(self, paths: Paths, dataset: DataSet) -> None:
        super().__init__(paths, dataset)
        self.config = paths.data / "run" / "pypicloud" / "server.ini"

    def prepare(self) -> None:
        self.python = _python310()
        super().prepare()

    def fill(self) -> None:
        folder = self.config.parent
        shutil.rmtree(folder, ignore_errors=True)
        packages = folder / "packages"  # its file storage's layout: <name>/<version>/<filename>, hard links
        for name, version, path in self.dataset.files():
            (packages / name / version).mkdir(parents=True, exist_ok=True)
            os.link(path, packages / name / version / path.name)
        write_meta_tree(self.dataset, folder / "packages-meta")
        self.config.write_text(PYPICLOUD_INI.format(packages=packages.resolve(),
                                                    db=(folder / "cache.sqlite").resolve()))  # fmt: skip
        self.setup_note = "its cache (SQLite) filled from its storage folder on its first start"

    def command(self, port: int) -> list[str]:
        command = gunicorn_command(self.bin, "unused", port)[:-1]
        if not (self.config.parent / "cache.sqlite").exists():
            # the first start fills the cache in one worker: two workers filling one SQLite file at once fail
            # on its lock ("database is locked") on a busy machine, and gunicorn then stops
            command[command.index("-w") + 1] = "1"
        return [*command, "--paste", str(self.config)]

    def served_by(self) -> str:
        return f"gunicorn --paste, {WORKERS} {PEER_WORKER} workers, file storage, SQLite cache"

    def rebuild(self, bare: bool) -> Timed | None:
        """Its own rebuild: the app made (`get_app`) over an empty SQLite cache in a fresh process, which fills
        the cache from storage (its first start's work), from the tree with its `.meta` files (what its uploads
        write: summary, hashes, uploader) or from the bare wheels. It reads no file's content either way."""
        tree = self.config.parent / ("packages" if bare else "packages-meta")
        with tempfile.TemporaryDirectory(prefix="rebuild-", dir=self.config.parent) as tmp:
            ini = Path(tmp).resolve() / "rebuild.ini"
            ini.write_text(PYPICLOUD_INI.format(packages=tree.resolve(), db=ini.parent / "cache.sqlite"))
            code = "import sys; from pyramid.paster import get_app; get_app(sys.argv[1])"
            return timed([str(self.bin / "python"), "-c", code, str(ini)], log=self.log)


def write_meta_tree(dataset: DataSet, root: Path) -> None:
    """The data set in pypicloud's layout (hard links) with the `.meta` file its upload writes beside each
    file: summary (from the wheel's METADATA), sha256, md5, uploader."""
    for name, version, path in dataset.files():
        folder = root / name / version
        folder.mkdir(parents=True, exist_ok=True)
        os.link(path, folder / path.name)
        sha256, md5 = hashlib.sha256(), hashlib.md5()
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                sha256.update(chunk)
                md5.update(chunk)
        meta = {"summary": wheel_summary(path), "hash_sha256": sha256.hexdigest(), "hash_md5": md5.hexdigest(),
                "uploader": "bench"}  # fmt: skip
        (folder / f"{path.name}.meta").write_text(json.dumps(meta))


def wheel_summary(path: Path) -> str:
    """The Summary of a wheel's core metadata ('' if none)."""
    with zipfile.ZipFile(path) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
        if name is None:
            return ""
        headers = email.parser.BytesHeaderParser().parsebytes(archive.read(name))
    return str(headers.get("Summary", ""))


def site_packages(python: Path) -> list[str]:
    """The folders of installed packages of an interpreter's environment."""
    code = "import site, sys; print('\\n'.join(p for p in site.getsitepackages() if p.startswith(sys.prefix)))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.split()


def _python310() -> str:
    """A Python 3.10 for pypicloud: on PATH, or pyenv's."""
    for candidate in (
        shutil.which("python3.10"),
        *sorted(Path("~/.pyenv/versions").expanduser().glob("3.10*/bin/python3.10")),
    ):
        if candidate and subprocess.run([str(candidate), "-c", "pass"], capture_output=True).returncode == 0:
            return str(candidate)
    raise BenchError("pypicloud needs Python 3.10 (python3.10 on PATH or in ~/.pyenv/versions), none found")


PYPICLOUD_INI = """[app:main]
use = egg:pypicloud
pyramid.reload_templates = false
pypi.default_read = everyone
pypi.fallback = none
pypi.storage = file
storage.dir = {packages}
pypi.db = sql
db.url = sqlite:///{db}
session.encrypt_key = 0000000000000000000000000000000000000000000=
session.validate_key = bench

[loggers]
keys = root

[handlers]
keys = stderr

[formatters]
keys =

[logger_root]
level = WARNING
handlers = stderr

[handler_stderr]
class = StreamHandler
args = (sys.stderr,)
"""


def group_pss(pgid: int) -> int:
    """Bytes of proportional set size of the processes in a process group (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            for line in (stat.parent / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return total


def group_cpu(pgid: int) -> float:
    """Seconds of CPU (user + system) the processes of a process group have used, with their reaped children
    (Linux /proc); the difference of two readings is what the group spent in between."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


SERVERS: dict[str, type[Server]] = {cls.name: cls for cls in (FlaskPyPI, PyPIServer, Devpi, PyPICloud)}
