"""flaskpypi's gunicorn worker under `flaskpypi serve`: silent new connections hold no thread, and a burst of
connections is spread over the workers (flaskpypi/worker.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from tests.support.server import free_port

pytestmark = pytest.mark.e2e
FLASKPYPI = Path(sys.executable).parent / "flaskpypi"


@contextmanager
def serving(tmp_path: Path, workers: int, threads: int) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`flaskpypi serve` on a free port until /health answers; stopped afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASKPYPI_", "GUNICORN_"))}
    env.pop("WEB_CONCURRENCY", None)
    env.update(FLASKPYPI_INSTANCE_PATH=str(tmp_path / "instance"), FLASKPYPI_BIND=f"127.0.0.1:{port}",
               FLASKPYPI_WORKERS=str(workers), FLASKPYPI_THREADS=str(threads))  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([str(FLASKPYPI), "serve"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not _healthy(port):
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "flaskpypi serve did not answer /health"
            time.sleep(0.1)
        yield port, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=5).ok
    except requests.RequestException:
        return False


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def _until_every_worker_served(port: int, master: int, count: int) -> None:
    """/health on new connections until `count` workers run and each has answered one (its thread pool then
    exists): a worker not yet forked, or still starting, takes no connection, rightly, and would make the
    burst land on the other. The master builds the app, so /health answers as soon as the first is forked."""
    deadline = time.monotonic() + 60
    while len(workers := _workers(master)) < count or not all(_threads(pid) > 1 for pid in workers):
        assert time.monotonic() < deadline, "a worker never answered"
        requests.get(f"http://127.0.0.1:{port}/health", headers={"Connection": "close"}, timeout=10)


def _client_sockets(pid: int) -> int:
    """Open TCP sockets of a worker, less its listening one."""
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:")) - 1


def test_connections_that_send_nothing_hold_no_thread(tmp_path: Path) -> None:
    """One worker of two threads, four connections open and silent (a client's pool opened ahead of use):
    a request on a fifth connection is answered while they stay open. Stock gthread gives each silent
    connection a thread for up to 5 s first, so the request waits behind them past this client's timeout."""
    with serving(tmp_path, workers=1, threads=2) as (port, _proc), ExitStack() as stack:
        for _ in range(4):
            stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        response = requests.get(f"http://127.0.0.1:{port}/simple/", timeout=4)
        assert response.status_code == 200


def test_a_burst_of_connections_is_spread_over_the_workers(tmp_path: Path) -> None:
    """Eight kept-alive connections opened at once, one request each: every worker holds some of them."""
    with serving(tmp_path, workers=2, threads=4) as (port, proc), ExitStack() as stack:
        _until_every_worker_served(port, proc.pid, 2)
        conns = [stack.enter_context(socket.create_connection(("127.0.0.1", port))) for _ in range(8)]
        for conn in conns:  # all connected before the first request, as a client's pool or a load test does
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        for conn in conns:
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        held = {pid: _client_sockets(pid) for pid in _workers(proc.pid)}
        assert len(held) == 2 and sum(held.values()) == 8, held
        assert min(held.values()) >= 2, f"connections per worker: {held}"


SLOW_APP = """
import time
time.sleep(6)  # a first start rebuilding a large index: longer than the worker timeout


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"loaded"]
"""


def test_a_worker_that_loads_longer_than_the_timeout_is_not_killed(tmp_path: Path) -> None:
    """gunicorn kills a worker silent for `timeout` s; a first start that rebuilds a large index loads for
    minutes, so the load must not count (gunicorn 27: a new worker's heartbeat file starts at wall-clock time,
    compared with the monotonic clock). Guards that for gunicorn upgrades."""
    (tmp_path / "slowapp.py").write_text(SLOW_APP)
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen([str(gunicorn), "-k", "flaskpypi.worker.Worker", "--timeout", "2", "-w", "1",
                             "-b", f"127.0.0.1:{port}", "slowapp:app"], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 40
        answer = None
        while answer is None and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/", timeout=10).text
            except requests.RequestException:
                time.sleep(0.2)
        text = (tmp_path / "gunicorn.log").read_text()
        assert answer == "loaded", text
        assert "WORKER TIMEOUT" not in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()
