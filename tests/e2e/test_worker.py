"""flaskpypi's gunicorn worker under `flaskpypi serve`: silent new connections hold no thread, and a burst of
connections is spread over the workers (flaskpypi/worker.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.support.serve import serving, workers_of
from tests.support.server import free_port

pytestmark = pytest.mark.e2e
FLASKPYPI = Path(sys.executable).parent / "flaskpypi"


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def _until_every_worker_served(port: int, master: int, count: int) -> None:
    """/health on new connections until `count` workers run and each has answered one (its thread pool then
    exists): a worker not yet forked, or still starting, takes no connection, rightly, and would make the
    burst land on the other. The master builds the app, so /health answers as soon as the first is forked."""
    deadline = time.monotonic() + 60
    while len(workers := workers_of(master)) < count or not all(_threads(pid) > 1 for pid in workers):
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
    with serving(tmp_path, workers=1, threads="2") as (port, _proc, _log), ExitStack() as stack:
        for _ in range(4):
            stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        response = requests.get(f"http://127.0.0.1:{port}/simple/", timeout=4)
        assert response.status_code == 200


def test_a_burst_of_connections_is_spread_over_theworkers_of(tmp_path: Path) -> None:
    """Eight kept-alive connections opened at once, one request each: every worker holds some of them."""
    with serving(tmp_path, workers=2, threads="4") as (port, proc, _log), ExitStack() as stack:
        _until_every_worker_served(port, proc.pid, 2)
        conns = [stack.enter_context(socket.create_connection(("127.0.0.1", port))) for _ in range(8)]
        for conn in conns:  # all connected before the first request, as a client's pool or a load test does
            conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        for conn in conns:
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        held = {pid: _client_sockets(pid) for pid in workers_of(proc.pid)}
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
