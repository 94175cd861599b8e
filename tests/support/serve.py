"""`flaskpypi serve` (gunicorn with flaskpypi's worker and hooks) as a real process, for the tests that watch its
master and workers: started on a free port until /health answers, stopped with its process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.server import free_port

FLASKPYPI = Path(sys.executable).parent / "flaskpypi"


@contextmanager
def serving(tmp_path: Path, workers: int, **settings: str) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """`flaskpypi serve` on a free port with its instance in tmp_path, until /health answers (90 s at most);
    yields (port, master process, log file). `settings`: more FLASKPYPI_<NAME> variables (threads="2")."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASKPYPI_", "GUNICORN_"))}
    env.pop("WEB_CONCURRENCY", None)
    env.update(FLASKPYPI_INSTANCE_PATH=str(tmp_path / "instance"), FLASKPYPI_BIND=f"127.0.0.1:{port}",
               FLASKPYPI_WORKERS=str(workers))  # fmt: skip
    env.update({f"FLASKPYPI_{name.upper()}": value for name, value in settings.items()})
    log_path = tmp_path / "serve.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen([str(FLASKPYPI), "serve"], env=env, cwd=tmp_path, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not healthy(port):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "flaskpypi serve did not answer /health"
            time.sleep(0.1)
        yield port, proc, log_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def healthy(port: int) -> bool:
    """Whether /health answers 200 on 127.0.0.1:port (False while nothing listens or answers)."""
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=5).ok
    except requests.RequestException:
        return False


def workers_of(master: int) -> list[int]:
    """The pids of the master's children (its workers), from /proc."""
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
