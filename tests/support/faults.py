"""Fault scenarios against a real server (gunicorn processes, kill -9, a concurrent `flaskpypi reindex`).

Shared by tests/e2e/test_faults.py (which asserts on the figures) and bench/hardening.py (which prints
them). Every loop is bounded in count and in time; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from tests.helpers import twine_fields
from tests.support.dists import make_wheel
from tests.support.postgres import fresh_database
from tests.support.server import LiveServer

ADMIN = ("admin", "s3cret-Admin")
JSON_ACCEPT = {"Accept": "application/vnd.pypi.simple.v1+json"}
FLASKPYPI = str(Path(sys.executable).parent / "flaskpypi")
REQUEST_TIMEOUT = 60.0
WRITES_PER_REBUILD = 60
GTHREAD = {"GUNICORN_CMD_ARGS": "--worker-class gthread --threads 4"}


@dataclass
class Figures:
    """What one scenario measured; bench/hardening.py prints these as a row."""

    scenario: str
    database: str = "sqlite"
    kills: int = 0  # kill -9s that hit a process mid-work
    retries: int = 0  # uploads retried after a kill
    retries_ok: int = 0  # of which the first retry answered 200
    temp_before: int = 0  # temporary files under the storage root before the restart (what kills left)
    temp_left: int = 0  # temporary files under the storage root after a restart
    pending_left: int = 0  # claim rows left pending after a restart
    listed: int = 0  # files listed by the index at the end
    broken: int = 0  # listed files that do not download with their sha256
    missing: int = 0  # files answered 200 (or stored before) but not listed in their project
    misfiled: int = 0  # files listed under a project they do not belong to
    concurrent_ok: int = 0  # identical concurrent uploads answered 200
    concurrent_total: int = 0
    records: int = 0  # index records of the file uploaded concurrently
    answers: dict[str, int] = field(default_factory=dict)  # other answers seen, by "status reason"

    def note(self, answer: str) -> None:
        """Count an answer that is not a plain 200."""
        self.answers[answer] = self.answers.get(answer, 0) + 1


# -- servers and databases -----------------------------------------------------------------------


def base_settings(root: Path, database_url: str | None = None) -> dict[str, Any]:
    """Settings of a throwaway index under root (SQLite unless a database URL is given)."""
    return {
        "storage_url": (root / "packages").as_uri(),
        "database_url": database_url or f"sqlite:///{root / 'index.sqlite'}",
        "secret_key": "test-secret",
        "admin_user": ADMIN[0],
        "admin_password": ADMIN[1],
    }


def start_server(root: Path, database_url: str | None = None, workers: int = 2, threads: bool = False,
                 **settings: Any) -> LiveServer:  # fmt: skip
    """A started gunicorn server (sync workers, or gthread ones with `threads`)."""
    root.mkdir(parents=True, exist_ok=True)
    server = LiveServer(root, {**base_settings(root, database_url), **settings}, workers=workers,
                        extra_env=dict(GTHREAD) if threads else None)  # fmt: skip
    return server.start()


fresh_postgres = fresh_database  # the bench's name for it


def sql_scalar(server: LiveServer, query: str, *params: Any) -> Any:
    """One value from the server's database (SQLite file or PostgreSQL), read from outside the server;
    `?` marks a parameter."""
    url = server.settings["database_url"]
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///") :], timeout=30) as conn:
            return conn.execute(query, params).fetchone()[0]
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5) as conn:
        return conn.execute(query.replace("?", "%s"), params).fetchone()[0]  # type: ignore[index]


def temp_files(server: LiveServer) -> list[Path]:
    """Partial files (`.tmp-*`) under the server's storage root."""
    return sorted((server.root / "packages").rglob(".tmp-*"))


# -- uploads -------------------------------------------------------------------------------------


def big_wheel(dest: Path, name: str, version: str, size: int, seed: int = 0) -> Path:
    """A real wheel with `size` bytes of incompressible payload."""
    payload = random.Random(seed).randbytes(size)
    return make_wheel(dest, name, version, extra_files={f"{name.replace('-', '_')}/payload.bin": payload})


def upload_form(path: Path) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """The form fields and file twine sends, for requests."""
    body = path.read_bytes()
    return twine_fields(path.name, body), {"content": (path.name, body, "application/octet-stream")}


def upload(server: LiveServer, path: Path, timeout: float = REQUEST_TIMEOUT) -> requests.Response:
    """POST the file like twine does."""
    fields, files = upload_form(path)
    return requests.post(server.index_url, data=fields, files=files, auth=ADMIN, timeout=timeout)


def answer(response: requests.Response) -> str:
    """`status reason`, as twine shows it."""
    return f"{response.status_code} {response.reason}"


class RawUpload(threading.Thread):
    """An upload on a connection whose client port is known, so the worker serving it can be found."""

    def __init__(self, server: LiveServer, path: Path) -> None:
        super().__init__(daemon=True)
        fields, files = upload_form(path)
        prepared = requests.Request("POST", server.index_url, data=fields, files=files, auth=ADMIN).prepare()
        self.body, self.headers = prepared.body, dict(prepared.headers)
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=REQUEST_TIMEOUT)
        self.conn.connect()
        self.client_port: int = self.conn.sock.getsockname()[1]
        self.status: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.conn.request("POST", "/simple/", body=self.body, headers=self.headers)
            response = self.conn.getresponse()
            response.read()
            self.status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.error = exc
        finally:
            self.conn.close()


# -- processes -----------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes whose parent is pid (gunicorn's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _socket_inode(server_port: int, client_port: int) -> str | None:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote = parts[1], parts[2]
            if int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                return parts[9]
    return None


def serving_worker(server: LiveServer, client_port: int, timeout: float = 5.0) -> int | None:
    """The worker process that accepted the connection from client_port (polled until it does)."""
    assert server.process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inode = _socket_inode(server.port, client_port)
        if inode is not None and inode != "0":
            target = f"socket:[{inode}]"
            for pid in children(server.process.pid):
                try:
                    fds = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    continue
                for fd in fds:
                    try:
                        if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                            return pid
                    except OSError:
                        continue
        time.sleep(0.005)
    return None


def kill9(pid: int) -> bool:
    """SIGKILL; False when the process had already gone."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


# -- what the index lists --------------------------------------------------------------------------


@dataclass
class Listing:
    """Every file the index lists, by project, with what downloading each gave."""

    files: dict[str, dict[str, dict[str, Any]]]  # project -> filename -> simple-JSON file entry
    broken: list[str]
    misfiled: list[str]

    def has(self, filename: str) -> bool:
        """Whether the file is listed under its own project."""
        return filename in self.files.get(project_of(filename), {})

    @property
    def count(self) -> int:
        return sum(len(f) for f in self.files.values())


def project_of(filename: str) -> str:
    """The canonical project a distribution filename belongs to."""
    if filename.endswith(".whl"):
        return canonicalize_name(parse_wheel_filename(filename)[0])
    return canonicalize_name(parse_sdist_filename(filename)[0])


def listing(server: LiveServer, download: bool = True) -> Listing:
    """Read /simple/ and every project page; download each file and check its sha256."""
    index = requests.get(server.index_url, headers=JSON_ACCEPT, auth=ADMIN, timeout=REQUEST_TIMEOUT)
    index.raise_for_status()
    result = Listing({}, [], [])
    for project in index.json()["projects"]:
        name = project["name"]
        page = requests.get(f"{server.index_url}{name}/", headers=JSON_ACCEPT, auth=ADMIN, timeout=REQUEST_TIMEOUT)
        page.raise_for_status()
        files = {f["filename"]: f for f in page.json()["files"]}
        result.files[canonicalize_name(name)] = files
        for filename, entry in files.items():
            if project_of(filename) != canonicalize_name(name):
                result.misfiled.append(f"{name}/{filename}")
            if not download:
                continue
            got = requests.get(urljoin(page.url, entry["url"]), auth=ADMIN, timeout=REQUEST_TIMEOUT)
            if got.status_code != 200 or hashlib.sha256(got.content).hexdigest() != entry["hashes"].get("sha256"):
                result.broken.append(f"{name}/{filename}")
    return result


def settle(figures: Figures, server: LiveServer, expected: dict[str, str]) -> Listing:
    """Fill the end-of-scenario figures: what is listed, broken, missing, misfiled, left behind."""
    seen = listing(server)
    figures.listed = seen.count
    figures.broken = len(seen.broken)
    figures.misfiled = len(seen.misfiled)
    figures.missing = sum(
        1
        for filename, sha in expected.items()
        if not seen.has(filename) or seen.files[project_of(filename)][filename]["hashes"].get("sha256") != sha
    )
    figures.temp_left = len(temp_files(server))
    figures.pending_left = int(sql_scalar(server, "SELECT count(*) FROM files WHERE state = 'pending'"))
    return seen


# -- scenarios -------------------------------------------------------------------------------------


def kill_during_uploads(root: Path, rounds: int = 50, kill_share: float = 1.0, size: int = 3 * 1024**2,
                        database_url: str | None = None, seed: int = 10) -> Figures:  # fmt: skip
    """kill -9 the worker serving an upload of a large file at a random instant, then retry the upload.

    Each round uploads a new file; `kill_share` of the rounds (drawn at random) get a kill, which falls
    anywhere from the request's start to a little after the time an undisturbed upload takes, so it hits
    reading, checking, claiming, storing and indexing. Each kill costs a worker boot (seconds of CPU), the
    reason the test kills in a share of its rounds. After the rounds the server restarts (which sweeps),
    and everything listed must download intact.
    """
    rng = random.Random(seed)
    figures = Figures("kill -9 during uploads", "postgresql" if database_url else "sqlite")
    server = start_server(root / "server", database_url, workers=3)
    dists = root / "dists"
    expected: dict[str, str] = {}
    try:
        durations = []
        for i in range(3):  # undisturbed uploads give the window the kills fall in
            path = big_wheel(dists, "bigfault", f"0.{i}", size, seed)
            started = time.monotonic()
            response = upload(server, path)
            assert response.status_code == 200, answer(response)
            durations.append(time.monotonic() - started)
            expected[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        window = max(durations) * 1.5
        for i in range(rounds):
            path = big_wheel(dists, "bigfault", f"1.{i}", size, seed)
            expected[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
            request = RawUpload(server, path)
            request.start()
            if rng.random() < kill_share:
                worker = serving_worker(server, request.client_port)
                time.sleep(rng.uniform(0, window))  # the random instant of the fault, not a readiness wait
                if worker is not None and kill9(worker):
                    figures.kills += 1
            request.join(REQUEST_TIMEOUT)
            if request.status == 200:
                continue  # the kill came after the answer was sent
            figures.retries += 1
            retry = upload(server, path)
            if retry.status_code == 200:
                figures.retries_ok += 1
            else:
                figures.note(answer(retry))
                for _attempt in range(3):  # the file must still land, even if the retry was refused
                    if upload(server, path).status_code == 200:
                        break
        figures.temp_before = len(temp_files(server))
        server.restart()
        settle(figures, server, expected)
    finally:
        server.stop()
    return figures


def run_reindex(server: LiveServer, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`flaskpypi reindex` on the server's settings, in the background, its output (unbuffered) in `log`."""
    out = (log or server.root / "reindex.log").open("ab")
    env = {**server.env(), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([FLASKPYPI, "reindex"], env=env, cwd=server.root, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def populate(server: LiveServer, dists: Path, projects: int, prefix: str = "base") -> dict[str, str]:
    """One small wheel in each of `projects` projects; returns filename -> sha256."""
    expected = {}
    with ThreadPoolExecutor(4) as pool:
        paths = [make_wheel(dists, f"{prefix}-{i:03d}", "1.0") for i in range(projects)]
        for path, response in zip(paths, pool.map(lambda p: upload(server, p), paths), strict=True):
            assert response.status_code == 200, answer(response)
            expected[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return expected


def kill_during_reindex(root: Path, kills: int = 3, projects: int = 40, database_url: str | None = None,
                        seed: int = 11) -> Figures:  # fmt: skip
    """kill -9 `flaskpypi reindex` mid-rebuild (after the database was lost), then restart: a full index."""
    rng = random.Random(seed)
    figures = Figures("kill -9 during reindex", "postgresql" if database_url else "sqlite")
    server = start_server(root / "server", database_url, auto_reindex=True)
    try:
        expected = populate(server, root / "dists", projects)
        server.stop()
        forget_index(server)
        for _round in range(kills):
            proc = run_reindex(server)
            running = wait_for(lambda p=proc: rebuild_running(server) or p.poll() is not None, 60)
            if running and proc.poll() is None:
                time.sleep(rng.uniform(0, 0.5))  # the random instant of the fault
                if kill9(proc.pid):
                    figures.kills += 1
            proc.wait(60)
        server.start()
        settle(figures, server, expected)
    finally:
        server.stop()
    return figures


def forget_index(server: LiveServer) -> None:
    """Lose the index (the database), as a restore or a new database server would; storage stays."""
    url = server.settings["database_url"]
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url[len("sqlite:///") :] + suffix).unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def rebuild_running(server: LiveServer) -> bool:
    """Whether a rebuild has started and not finished (its marker row)."""
    try:
        return bool(sql_scalar(server, "SELECT count(*) FROM counters WHERE name = 'rebuild-running'"))
    except Exception:  # the schema may not exist yet
        return False


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll until condition() or the timeout; returns the last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def uploads_during_reindex(root: Path, reindexes: int = 3, projects: int = 80, database_url: str | None = None,
                           seed: int = 12, writers: int = 4) -> Figures:  # fmt: skip
    """Upload (new and existing projects), yank and delete while `flaskpypi reindex` runs against the live server.

    The writes start once the command says it is rebuilding and go on, from `writers` threads, until it
    ends. Every upload answered 200 must be listed in its own project and download intact; yanks and
    deletes made during the rebuild must survive it.
    """
    rng = random.Random(seed)
    figures = Figures("uploads during reindex", "postgresql" if database_url else "sqlite")
    server = start_server(root / "server", database_url, threads=True)
    dists = root / "dists"
    lock = threading.Lock()
    try:
        expected = populate(server, dists, projects)
        yanked: set[str] = set()
        deleted: set[str] = set()
        names = [f"base-{i:03d}" for i in range(projects)]
        counter = 0

        def write(proc: subprocess.Popen[bytes]) -> None:
            nonlocal counter
            while proc.poll() is None:
                with lock:
                    if counter >= WRITES_PER_REBUILD * reindexes:
                        return
                    counter += 1
                    which, version = rng.random(), f"2.{counter}"
                    if which < 0.45:  # a new project, named so that creation order is not name order
                        names.append(f"during-{rng.getrandbits(32):08x}")
                        project = names[-1]
                    else:  # an existing project; those created meanwhile are where ids would move
                        project = rng.choice(names[projects:] if len(names) > projects and which < 0.7 else names)
                if which < 0.9:
                    path = make_wheel(dists, project, version)
                    response = upload(server, path)
                    with lock:
                        if response.status_code == 200:
                            expected[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
                        else:
                            figures.note(answer(response))
                    continue
                victim = f"base-{rng.randrange(projects):03d}"
                name = f"{victim.replace('-', '_')}-1.0-py3-none-any.whl"
                with lock:
                    if name in yanked or name in deleted:
                        continue
                    (yanked if which < 0.95 else deleted).add(name)
                if name in yanked:
                    r = requests.post(f"{server.url}api/projects/{victim}/yank", json={"filename": name},
                                      auth=ADMIN, timeout=REQUEST_TIMEOUT)  # fmt: skip
                else:
                    r = requests.delete(f"{server.url}api/projects/{victim}/files/{name}", auth=ADMIN,
                                        timeout=REQUEST_TIMEOUT)  # fmt: skip
                if r.status_code != 200:
                    figures.note(answer(r))

        for round_ in range(reindexes):
            log = server.root / f"reindex-{round_}.log"
            proc = run_reindex(server, log)
            wait_for(
                lambda p=proc, f=log: p.poll() is not None or "Rebuilding the index" in f.read_text("utf-8", "replace"),
                60,
            )
            with ThreadPoolExecutor(writers) as pool:
                for future in [pool.submit(write, proc) for _ in range(writers)]:
                    future.result(timeout=180)
            if proc.wait(120) != 0:
                figures.note(f"reindex exited {proc.returncode}")
        for name in deleted:
            expected.pop(name, None)
        seen = settle(figures, server, expected)
        figures.missing += sum(1 for name in deleted if seen.has(name))  # a delete the rebuild undid
        figures.missing += sum(
            1 for name in yanked if seen.has(name) and not seen.files[project_of(name)][name].get("yanked")
        )
        figures.note(f"{counter} writes during {reindexes} rebuilds")
    finally:
        server.stop()
    return figures


def identical_concurrent_uploads(root: Path, clients: int = 20, database_url: str | None = None) -> Figures:
    """`clients` uploads of the same bytes at once (CI runners publishing one artefact): all 200, one record."""
    figures = Figures("identical concurrent uploads", "postgresql" if database_url else "sqlite")
    server = start_server(root / "server", database_url, threads=True)
    try:
        path = big_wheel(root / "dists", "sameart", "1.0", 1024**2)
        barrier = threading.Barrier(clients)

        def one(_: int) -> requests.Response:
            barrier.wait(REQUEST_TIMEOUT)
            return upload(server, path)

        with ThreadPoolExecutor(clients) as pool:
            responses = list(pool.map(one, range(clients)))
        figures.concurrent_total = clients
        figures.concurrent_ok = sum(1 for r in responses if r.status_code == 200)
        for r in responses:
            if r.status_code != 200:
                figures.note(answer(r))
        figures.records = int(sql_scalar(server, "SELECT count(*) FROM files WHERE filename = ?", path.name))
        settle(figures, server, {path.name: hashlib.sha256(path.read_bytes()).hexdigest()})
    finally:
        server.stop()
    return figures
